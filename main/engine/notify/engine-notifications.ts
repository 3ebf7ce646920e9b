import type { EventEmitter } from 'node:events';
import type { BackupEventMap } from '../backup/backup-service.js';
import type { ClusterEventMap } from '../cluster/cluster-manager.js';
import { toErrorInfo } from '../errors.js';
import { terminalJobStates, type Job } from '../jobs/job-types.js';
import type { Logger } from '../log/logger.js';
import type { WalStreamsEvents } from '../schedule/scheduled-tasks.js';
import { NotificationRules, type WatchedEvent } from './notification-rules.js';
import type { Notifier } from './notifier.js';

/** The engine services whose events can become notifications. */
export interface NotificationSources {
  backups: Pick<EventEmitter<BackupEventMap>, 'on' | 'off'>;
  clusters: Pick<EventEmitter<ClusterEventMap>, 'on' | 'off'>;
  jobs: Pick<EventEmitter<{ changed: [Job] }>, 'on' | 'off'>;
  repositories: {
    list(): Promise<{ id: string }[]>;
    open(id: string): Promise<{ repository: { zones: { missedWrites(): Record<string, readonly unknown[]> } } }>;
  };
  logger: Logger;
}

export interface WatchOptions {
  rules?: NotificationRules;
  /** the scheduled WAL streams, whose failures to start are announced too */
  walStreams?: Pick<EventEmitter<WalStreamsEvents>, 'on' | 'off'>;
  /** how often the zones of the repositories are checked besides after each job (default 5 min) */
  zoneCheckMs?: number;
  /** the repositories whose zones are watched (default: every configured one) */
  repositoryIds?: () => Promise<readonly string[]>;
}

export interface NotificationWatch {
  /** Checks every configured repository's zones now (also done after each job and periodically). */
  checkZones(): Promise<void>;
  stop(): void;
}

/** Job kinds after which the zones of their repository may have changed. */
const writingJobs = /^(backup|schedule\.|repositories\.(repair|prune))/;

/**
 * Turns what the engine reports into notifications: failed backups, restore points and WAL
 * streams, WAL lost or piling up, and zones that missed writes. The rules decide; this only
 * listens and passes each notification on.
 */
export function watchEngineNotifications(sources: NotificationSources, notifier: Notifier, options: WatchOptions = {}): NotificationWatch {
  const rules = options.rules ?? new NotificationRules();
  const logger = sources.logger.child({ component: 'notifications' });
  const decide = (event: WatchedEvent) => {
    for (const notification of rules.decide(event)) {
      try {
        notifier.notify(notification);
      } catch (err) {
        logger.warn({ code: toErrorInfo(err).code, title: notification.title }, 'a notification could not be shown');
      }
    }
  };
  let zoneCheck: Promise<void> | null = null;
  const checkZones = (): Promise<void> => {
    zoneCheck ??= (async () => {
      const ids = options.repositoryIds ? await options.repositoryIds() : (await sources.repositories.list()).map((r) => r.id);
      for (const id of ids) {
        try {
          const { repository } = await sources.repositories.open(id);
          const missed = Object.fromEntries(Object.entries(repository.zones.missedWrites()).map(([zone, keys]) => [zone, keys.length]));
          decide({ type: 'zones', repositoryId: id, missed });
        } catch (err) {
          // a repository that cannot be opened fails its own tasks, which are announced
          logger.debug({ repositoryId: id, code: toErrorInfo(err).code }, 'zones not checked');
        }
      }
    })().finally(() => {
      zoneCheck = null;
    });
    return zoneCheck;
  };

  const listeners = {
    walStatus: (status: WalStatusArg) => decide({ type: 'walStatus', status }),
    walGap: (e: { clusterId: string; nodeId: string; message: string }) => decide({ type: 'walGap', ...pick(e) }),
    walBacklog: (e: { clusterId: string; nodeId: string; message: string }) => decide({ type: 'walBacklog', ...pick(e) }),
    backupCompleted: (e: { degradedZones: string[] }) => {
      if (e.degradedZones.length > 0) void checkZones();
    },
    restorePointCreated: (record: RestorePointArg) => decide({ type: 'restorePoint', record }),
    jobChanged: (job: Job) => {
      if (!terminalJobStates.includes(job.state) || seenJobs.has(job.id)) return;
      seenJobs.add(job.id);
      if (seenJobs.size > 1000) seenJobs.delete(seenJobs.values().next().value as string);
      decide({ type: 'jobEnded', job });
      if (writingJobs.test(job.kind)) void checkZones();
    },
    walStartFailed: (e: { clusterId: string; error: WatchedStartError }) => decide({ type: 'walStartFailed', clusterId: e.clusterId, error: e.error }),
  };
  const seenJobs = new Set<string>();
  sources.backups.on('walStatus', listeners.walStatus);
  sources.backups.on('walGap', listeners.walGap);
  sources.backups.on('walBacklog', listeners.walBacklog);
  sources.backups.on('backupCompleted', listeners.backupCompleted);
  sources.clusters.on('restorePointCreated', listeners.restorePointCreated);
  sources.jobs.on('changed', listeners.jobChanged);
  options.walStreams?.on('startFailed', listeners.walStartFailed);
  const timer = setInterval(() => void checkZones(), options.zoneCheckMs ?? 300_000);
  timer.unref();

  return {
    checkZones,
    stop() {
      clearInterval(timer);
      sources.backups.off('walStatus', listeners.walStatus);
      sources.backups.off('walGap', listeners.walGap);
      sources.backups.off('walBacklog', listeners.walBacklog);
      sources.backups.off('backupCompleted', listeners.backupCompleted);
      sources.clusters.off('restorePointCreated', listeners.restorePointCreated);
      sources.jobs.off('changed', listeners.jobChanged);
      options.walStreams?.off('startFailed', listeners.walStartFailed);
    },
  };
}

type WalStatusArg = Extract<WatchedEvent, { type: 'walStatus' }>['status'];
type RestorePointArg = Extract<WatchedEvent, { type: 'restorePoint' }>['record'];
type WatchedStartError = Extract<WatchedEvent, { type: 'walStartFailed' }>['error'];

function pick(e: { clusterId: string; nodeId: string; message: string }) {
  return { clusterId: e.clusterId, nodeId: e.nodeId, message: e.message };
}
