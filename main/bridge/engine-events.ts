import type { EventName, EventPayload } from '../api/contract/index.js';
import type { Engine } from '../engine/engine.js';

/** One contract event with its payload. */
export type ContractEvent = { [E in EventName]: { event: E; payload: EventPayload<E> } }[EventName];

/** Where a transport gets the events it pushes to its UI. */
export interface EngineEventSource {
  /** Calls `listener` for every event until the returned function is called. */
  subscribe(listener: (event: ContractEvent) => void): () => void;
}

/** The engine's events as contract events: a job change is `job.updated`. */
export function engineEventSource(
  engine: Pick<Engine, 'jobs'> & Partial<Pick<Engine, 'clusters' | 'backups'>>,
): EngineEventSource {
  return {
    subscribe(listener) {
      const onJob = (job: EventPayload<'job.updated'>) =>
        listener({ event: 'job.updated', payload: job });
      const onTopology = (payload: EventPayload<'cluster.topologyChanged'>) =>
        listener({ event: 'cluster.topologyChanged', payload });
      const onPoint = (payload: EventPayload<'restorePoint.created'>) =>
        listener({ event: 'restorePoint.created', payload });
      const onWalGap = (payload: EventPayload<'wal.gap'>) => listener({ event: 'wal.gap', payload });
      const onWalBacklog = (payload: EventPayload<'wal.backlog'>) => listener({ event: 'wal.backlog', payload });
      const onWalStatus = (payload: EventPayload<'wal.status'>) => listener({ event: 'wal.status', payload });
      const onBackup = (payload: EventPayload<'backup.completed'>) => listener({ event: 'backup.completed', payload });
      engine.jobs.on('changed', onJob);
      engine.clusters?.on('topologyChanged', onTopology);
      engine.clusters?.on('restorePointCreated', onPoint);
      engine.backups?.on('walGap', onWalGap);
      engine.backups?.on('walBacklog', onWalBacklog);
      engine.backups?.on('walStatus', onWalStatus);
      engine.backups?.on('backupCompleted', onBackup);
      return () => {
        engine.backups?.off('walGap', onWalGap);
        engine.backups?.off('walBacklog', onWalBacklog);
        engine.backups?.off('walStatus', onWalStatus);
        engine.backups?.off('backupCompleted', onBackup);
        engine.jobs.off('changed', onJob);
        engine.clusters?.off('topologyChanged', onTopology);
        engine.clusters?.off('restorePointCreated', onPoint);
      };
    },
  };
}
