import { join } from 'node:path';
import type { ClusterConfig } from '../cluster/cluster-config.js';
import type { Engine } from '../engine.js';
import { TidemarkError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { RepositoryConfig } from '../repository/repository-config.js';
import { systemClock, type SchedulerClock } from '../schedule/clock.js';
import { acquireClusterRunLock } from '../schedule/run-lock.js';
import { taskKindLabels, taskKinds, type TaskKind } from '../schedule/schedule-config.js';
import { endedJobError, type ScheduledTaskHandler } from '../schedule/scheduled-tasks.js';
import { Scheduler, type RunTaskPort } from '../schedule/scheduler.js';

/** The cluster and repository a run works on, as they are when it starts. */
export type ClusterLookup = (clusterId: string) => Promise<{ cluster: ClusterConfig; repository: RepositoryConfig }>;

/** Looks the cluster and its repository up in the engine's settings. */
export function settingsLookup(engine: Pick<Engine, 'clusters' | 'repositories'>): ClusterLookup {
  return async (clusterId) => {
    const cluster = await engine.clusters.get(clusterId);
    return { cluster, repository: await engine.repositories.get(cluster.repositoryId) };
  };
}

/** Looks the cluster and its repository up in fixed lists (the agent's, resolved at start). */
export function listLookup(clusters: readonly ClusterConfig[], repositories: readonly RepositoryConfig[]): ClusterLookup {
  return async (clusterId) => {
    const cluster = clusters.find((c) => c.id === clusterId);
    const repository = repositories.find((r) => r.id === cluster?.repositoryId);
    if (!cluster || !repository) throw new TidemarkError('internal', `Cluster ${clusterId} is not one the agent was started with.`);
    return { cluster, repository };
  };
}

export interface TaskSchedulerOptions {
  engine: Engine;
  /** where the schedule state and the run locks are kept */
  dataDir: string;
  handlers: ReadonlyMap<TaskKind, ScheduledTaskHandler>;
  lookup: ClusterLookup;
  logger: Logger;
  clock?: SchedulerClock;
  /** length of one restore-point-interval minute (tests only) */
  minuteMs?: number;
}

/**
 * The scheduler as Tidemark runs it, in the agent and in the desktop app: the schedule state
 * in the data folder, the cluster run locks shared with every process using that folder, and
 * every run a job that does the task's work.
 */
export function createTaskScheduler(options: TaskSchedulerOptions): Scheduler {
  const { engine, dataDir, handlers, lookup, logger } = options;
  return new Scheduler({
    clock: options.clock ?? systemClock,
    statePath: join(dataDir, 'schedule-state.json'),
    runTask: jobRunner(engine, lookup, handlers, logger),
    acquireLock: (clusterId, purpose) => acquireClusterRunLock({ dataDir, clusterId, purpose, logger }),
    logger: engine.logger.child({ component: 'scheduler' }),
    kinds: taskKinds.filter((k) => handlers.has(k)),
    ...(options.minuteMs === undefined ? {} : { minuteMs: options.minuteMs }),
  });
}

/** Runs each scheduled task as a job, so it has progress, cancellation and a history entry. */
export function jobRunner(engine: Engine, lookup: ClusterLookup, handlers: ReadonlyMap<TaskKind, ScheduledTaskHandler>, logger: Logger): RunTaskPort {
  return async (clusterId, kind, scheduledFor, { signal, catchUp }) => {
    const handler = handlers.get(kind);
    if (!handler) throw new TidemarkError('internal', `No ${taskKindLabels[kind]} task for cluster ${clusterId}.`);
    const { cluster, repository } = await lookup(clusterId);
    const job = engine.jobs.start(
      { kind: `schedule.${kind}`, title: `Scheduled ${taskKindLabels[kind]} of ${cluster.name}${catchUp ? ' (catch-up)' : ''}`, subject: clusterId },
      async (ctx) => {
        try {
          return await handler({ cluster, repository, kind, scheduledFor, catchUp }, ctx);
        } catch (err) {
          // The job keeps only a user-safe summary of unknown errors: keep the details here.
          if (!(err instanceof TidemarkError) && !ctx.signal.aborted) logger.error({ err, clusterId, kind }, `${taskKindLabels[kind]} task error`);
          throw err;
        }
      },
    );
    const cancel = () => engine.jobs.cancel(job.id);
    signal.addEventListener('abort', cancel, { once: true });
    try {
      const ended = await engine.jobs.wait(job.id);
      if (ended.state !== 'succeeded') throw endedJobError(ended, signal, `The ${taskKindLabels[kind]} job`);
    } finally {
      signal.removeEventListener('abort', cancel);
    }
  };
}
