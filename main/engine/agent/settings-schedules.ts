import type { Engine } from '../engine.js';
import { toErrorInfo } from '../errors.js';
import { watchEngineNotifications } from '../notify/engine-notifications.js';
import type { Notifier } from '../notify/notifier.js';
import type { SchedulerClock } from '../schedule/clock.js';
import { taskKinds, type TaskKind } from '../schedule/schedule-config.js';
import { scheduledTaskHandlers, WalStreams, type ScheduledTaskHandler } from '../schedule/scheduled-tasks.js';
import type { Scheduler, StopOptions, StopResult } from '../schedule/scheduler.js';
import { createTaskScheduler, settingsLookup } from './task-scheduler.js';

export interface SettingsSchedulesOptions {
  engine: Engine;
  /** where failures are announced (desktop notifications in the app) */
  notifier: Notifier;
  /** schedule state and run locks (default: the engine's data folder) */
  dataDir?: string;
  clock?: SchedulerClock;
  /** length of one restore-point-interval minute (tests only) */
  minuteMs?: number;
}

export interface RunningSchedules {
  readonly scheduler: Scheduler;
  /** Schedules a cluster again after its schedules changed in the settings. */
  reschedule(clusterId: string): Promise<void>;
  /** Stops scheduling, lets running tasks end (see `Scheduler.stop`), then flushes the WAL streams. */
  stop(options?: StopOptions): Promise<StopResult>;
}

/**
 * The schedules of every cluster in the settings, as the desktop app runs them while it is
 * open (and in the tray): the same scheduler, run locks, jobs and tasks as the agent, plus the
 * WAL streams and notifications. Clusters added or removed while it runs are followed.
 */
export async function startSettingsSchedules(options: SettingsSchedulesOptions): Promise<RunningSchedules> {
  const { engine } = options;
  const logger = engine.logger.child({ component: 'schedules' });
  const walStreams = new WalStreams(engine);
  const tasks = scheduledTaskHandlers(engine, walStreams);
  const handlers = new Map<TaskKind, ScheduledTaskHandler>(taskKinds.map((kind) => [kind, tasks[kind]]));
  const lookup = settingsLookup(engine);
  const scheduler = createTaskScheduler({
    engine,
    dataDir: options.dataDir ?? engine.paths.data,
    handlers,
    lookup,
    logger,
    ...(options.clock ? { clock: options.clock } : {}),
    ...(options.minuteMs === undefined ? {} : { minuteMs: options.minuteMs }),
  });
  const notifications = watchEngineNotifications(engine, options.notifier, { walStreams });
  const { clusters } = await engine.settings.get();
  await scheduler.start(clusters.map((c) => ({ id: c.id, schedules: c.schedules })));

  const reschedule = async (clusterId: string) => {
    const { cluster } = await lookup(clusterId);
    await scheduler.setCluster(cluster.id, cluster.schedules);
  };
  const onAdded = ({ clusterId }: { clusterId: string }) => {
    reschedule(clusterId).catch((err: unknown) => logger.warn({ clusterId, code: toErrorInfo(err).code }, 'added cluster not scheduled'));
  };
  const onRemoved = ({ clusterId }: { clusterId: string }) => scheduler.removeCluster(clusterId);
  engine.clusters.on('clusterAdded', onAdded);
  engine.clusters.on('clusterRemoved', onRemoved);
  const unfollow = walStreams.follow(async (clusterId) => (await lookup(clusterId)).cluster);
  await Promise.all(clusters.map((cluster) => walStreams.ensure(cluster)));
  logger.info({ clusters: clusters.map((c) => c.id) }, 'schedules started');

  return {
    scheduler,
    reschedule,
    async stop(stopOptions) {
      engine.clusters.off('clusterAdded', onAdded);
      engine.clusters.off('clusterRemoved', onRemoved);
      unfollow();
      const result = await scheduler.stop(stopOptions);
      await walStreams.stopAll();
      notifications.stop();
      logger.info({ abandoned: result.abandoned }, 'schedules stopped');
      return result;
    },
  };
}
