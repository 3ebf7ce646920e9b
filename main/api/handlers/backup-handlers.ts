import type { Engine } from '../../engine/engine.js';
import type { HandlerGroup } from './index.js';

type BackupMethod = 'backups.start' | 'backups.list' | 'wal.status' | 'wal.overview' | 'wal.start' | 'wal.stop';

export function backupHandlers(engine: Pick<Engine, 'backups'>): HandlerGroup<BackupMethod> {
  const { backups } = engine;
  return {
    'backups.start': async ({ clusterId, compression, maxRateKbPerSec }) =>
      backups.backupCluster(clusterId, {
        ...(compression === undefined ? {} : { compression }),
        ...(maxRateKbPerSec === undefined ? {} : { maxRateKbPerSec }),
      }),
    'backups.list': ({ clusterId }) => backups.listBackups(clusterId),
    'wal.status': async ({ clusterId }) => backups.walStatus(clusterId),
    'wal.overview': ({ clusterId }) => backups.walOverview(clusterId),
    'wal.start': ({ clusterId }) => backups.startWalStreams(clusterId),
    'wal.stop': ({ clusterId }) => backups.stopWalStreams(clusterId),
  };
}
