/**
 * Runs a WAL archiver (mode `stream`) or a node backup (mode `backup`, which starts the archiver
 * too) against a test server and repository, printing what happens as lines so a test can
 * SIGKILL this process at a chosen moment:
 *   `streaming`, `stored <timeline> <lsn>`, `progress <bytes>`, `done <backupId>`, `error <code> <message>`.
 * Usage: npx tsx test/support/backup-child.ts '<json>' with
 *   { mode, repoDir, folderZones?, host, port, user, password, clusterId, nodeId?, flushIntervalMs?, maxRateKbPerSec? }
 */
import { backupNode } from '../../main/engine/backup/base-backup-job.js';
import type { NodeEndpoint } from '../../main/engine/backup/node-endpoint.js';
import { WalArchiver } from '../../main/engine/backup/wal-archiver.js';
import { formatLsn } from '../../main/engine/replication/lsn.js';
import { openTestRepository } from './backup-fixtures.js';

interface ChildConfig {
  mode: 'stream' | 'backup';
  repoDir: string;
  folderZones?: number;
  host: string;
  port: number;
  user: string;
  password: string;
  clusterId: string;
  nodeId?: string;
  flushIntervalMs?: number;
  maxRateKbPerSec?: number;
}

const config = JSON.parse(process.argv[2] ?? '{}') as ChildConfig;
const say = (line: string): void => void process.stdout.write(`${line}\n`);

const endpoint: NodeEndpoint = {
  clusterId: config.clusterId,
  nodeId: config.nodeId ?? 'n1',
  role: 'coordinator',
  distNodeId: 1,
  groupId: 0,
  name: config.host,
  port: config.port,
  address: { host: config.host, port: config.port },
  user: config.user,
  password: config.password,
  database: 'postgres',
  tls: { mode: 'disable' },
};

try {
  const repo = await openTestRepository(config.repoDir, config.folderZones === undefined ? {} : { folderZones: config.folderZones });
  const archiver = new WalArchiver({
    endpoint,
    repository: repo.repository,
    catalog: repo.catalog,
    flushIntervalMs: config.flushIntervalMs ?? 500,
    reconnectInitialMs: 200,
    onEvent: (event) => {
      if (event.type === 'wal.stored') say(`stored ${event.stored.timeline} ${formatLsn(event.stored.storedLsn)}`);
      if (event.type === 'wal.status' && event.status.state === 'streaming') say('streaming');
      if (event.type === 'wal.gap') say(`gap ${event.gap.fromLsn} ${event.gap.toLsn}`);
    },
  });
  if (config.mode === 'stream') {
    archiver.start();
    await new Promise<void>((resolve) => process.once('SIGTERM', resolve));
    await archiver.stop();
    await repo.close();
    say('stopped');
  } else {
    const record = await backupNode(
      { endpoint, repository: repo.repository, catalog: repo.catalog, archiver, onProgress: (p) => p.bytesDone !== undefined && say(`progress ${p.bytesDone}`) },
      { compression: 'none', ...(config.maxRateKbPerSec === undefined ? {} : { maxRateKbPerSec: config.maxRateKbPerSec }) },
    );
    say(`done ${record.backupId}`);
    await archiver.stop();
    await repo.close();
  }
} catch (err) {
  say(`error ${(err as { code?: string }).code ?? 'unknown'} ${(err as Error).message}`);
  process.exitCode = 1;
}
