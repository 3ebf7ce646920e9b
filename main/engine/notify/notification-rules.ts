import type { WalStatus } from '../backup/wal-archiver.js';
import type { RestorePointRecord } from '../catalog/records.js';
import type { ErrorInfo } from '../errors.js';
import type { Job } from '../jobs/job-types.js';
import type { Notification } from './notifier.js';

/** What the engine reports, reduced to what decides a notification. */
export type WatchedEvent =
  | { type: 'walStatus'; status: WalStatus }
  | { type: 'walGap'; clusterId: string; nodeId: string; message: string }
  | { type: 'walBacklog'; clusterId: string; nodeId: string; message: string }
  | { type: 'walStartFailed'; clusterId: string; error: ErrorInfo }
  | { type: 'restorePoint'; record: RestorePointRecord }
  | { type: 'jobEnded'; job: Job }
  /** zone id → objects it missed that no repair has copied yet, for one repository */
  | { type: 'zones'; repositoryId: string; missed: Record<string, number> };

export interface NotificationRulesOptions {
  now?: () => number;
  /** a stream reconnecting for less than this is a blip, not worth a notification (default 60 s) */
  walGraceMs?: number;
  /** a failure that goes on is announced again after this long (default 6 h) */
  repeatMs?: number;
}

interface Episode {
  since: number;
  notifiedAt: number | null;
}

/** What each job kind's failure is about, and the key its episode shares with related events. */
const jobSubjects: Record<string, { key: (subject: string) => string; what: (subject: string) => string; fix: string }> = {
  backup: { key: (s) => `backup:${s}`, what: (s) => `The base backup of cluster ${s}`, fix: 'Its completed node backups stay; the next scheduled backup tries again.' },
  'schedule.baseBackup': { key: (s) => `backup:${s}`, what: (s) => `The scheduled base backup of cluster ${s}`, fix: 'The next scheduled backup tries again.' },
  'schedule.restorePoint': { key: (s) => `restorePoint:${s}`, what: (s) => `The scheduled restore point of cluster ${s}`, fix: 'The next one is tried at its interval.' },
  'schedule.retention': { key: (s) => `retention:${s}`, what: (s) => `Retention for cluster ${s}`, fix: 'Nothing past the window was deleted in this run; it runs again at its next slot.' },
  'schedule.verify': { key: (s) => `verify:${s}`, what: (s) => `The scheduled verify of cluster ${s}'s repository`, fix: 'See the job in Tidemark for the report.' },
  'repositories.verify': { key: (s) => `verify-repo:${s}`, what: (s) => `Verifying repository ${s}`, fix: 'See the job in Tidemark for the report.' },
};

/**
 * Decides which engine events become notifications. A failure that goes on (a stream that
 * keeps reconnecting, restore points failing every 5 minutes) is one episode: announced once,
 * again only after `repeatMs`, and its end is announced when its start was. Related events
 * share an episode (the scheduled backup job and the backup job it ran fail together: one
 * notification).
 */
export class NotificationRules {
  private readonly episodes = new Map<string, Episode>();
  private readonly zoneMisses = new Map<string, Record<string, number>>();
  private readonly now: () => number;
  private readonly walGraceMs: number;
  private readonly repeatMs: number;

  constructor(options: NotificationRulesOptions = {}) {
    this.now = options.now ?? Date.now;
    this.walGraceMs = options.walGraceMs ?? 60_000;
    this.repeatMs = options.repeatMs ?? 6 * 3_600_000;
  }

  decide(event: WatchedEvent): Notification[] {
    switch (event.type) {
      case 'walStatus':
        return this.walStatus(event.status);
      case 'walGap':
        return [{ severity: 'error', title: `WAL lost on cluster ${event.clusterId}`, body: event.message }];
      case 'walBacklog':
        return [{ severity: 'warning', title: `WAL piling up on cluster ${event.clusterId}`, body: event.message }];
      case 'walStartFailed':
        return this.fail(`walStart:${event.clusterId}`, {
          severity: 'error',
          title: `WAL streaming of cluster ${event.clusterId} could not start`,
          body: `${event.error.message} Tidemark tries again before the next restore point.`,
        });
      case 'restorePoint':
        return this.restorePoint(event.record);
      case 'jobEnded':
        return this.jobEnded(event.job);
      case 'zones':
        return this.zones(event.repositoryId, event.missed);
    }
  }

  private walStatus(status: WalStatus): Notification[] {
    const key = `wal:${status.clusterId}/${status.nodeId}`;
    const where = `${status.nodeId} (${status.node})`;
    const reason = status.lastError ? ` ${status.lastError.message}` : '';
    switch (status.state) {
      case 'failed':
        return this.fail(key, {
          severity: 'error',
          title: `WAL streaming of cluster ${status.clusterId} stopped`,
          body: `The WAL stream of ${where} gave up.${reason} Restore points after its last stored WAL cannot become restorable until it streams again; fix the cause, Tidemark starts the stream again before the next restore point.`,
        });
      case 'reconnecting': {
        const episode = this.open(key);
        const seconds = Math.round((this.now() - episode.since) / 1000);
        return this.fail(
          key,
          {
            severity: 'warning',
            title: `WAL stream of cluster ${status.clusterId} interrupted`,
            body: `${where} has not streamed for ${seconds} s.${reason} Tidemark keeps reconnecting; meanwhile the node keeps its WAL in the replication slot.`,
          },
          this.walGraceMs,
        );
      }
      case 'streaming':
        return [
          ...this.recover(key, { severity: 'info', title: `WAL stream of cluster ${status.clusterId} resumed`, body: `${where} streams again.` }),
          ...this.recover(`walStart:${status.clusterId}`, { severity: 'info', title: `WAL streaming of cluster ${status.clusterId} started`, body: `${where} streams.` }),
        ];
      case 'stopped':
        // stopped on purpose (shutdown, cluster removed): the episode ends without a word
        this.episodes.delete(key);
        return [];
      case 'starting':
        return [];
    }
  }

  private restorePoint(record: RestorePointRecord): Notification[] {
    const key = `restorePoint:${record.clusterId}`;
    if (record.status === 'failed') {
      return this.fail(key, {
        severity: 'error',
        title: `Restore point of cluster ${record.clusterId} failed`,
        body: `${record.error ?? 'The restore point could not be created.'} The attempt is recorded on the timeline; the next one is tried at its interval.`,
      });
    }
    return this.recover(key, { severity: 'info', title: `Restore points of cluster ${record.clusterId} work again`, body: `Restore point ${record.name} was created.` });
  }

  private jobEnded(job: Job): Notification[] {
    const subject = jobSubjects[job.kind];
    if (!subject || job.subject === undefined) return [];
    const key = subject.key(job.subject);
    if (job.state === 'failed') {
      return this.fail(key, {
        severity: 'error',
        title: `${subject.what(job.subject)} failed`,
        body: `${job.error?.message ?? 'It failed.'} ${subject.fix}`,
      });
    }
    if (job.state === 'succeeded') {
      return this.recover(key, { severity: 'info', title: `${subject.what(job.subject)} succeeded again`, body: job.title });
    }
    return [];
  }

  private zones(repositoryId: string, missed: Record<string, number>): Notification[] {
    const before = this.zoneMisses.get(repositoryId) ?? {};
    this.zoneMisses.set(repositoryId, { ...missed });
    const out: Notification[] = [];
    for (const [zone, count] of Object.entries(missed)) {
      if (count > 0 && !(before[zone] && before[zone] > 0)) {
        out.push({
          severity: 'warning',
          title: `Zone ${zone} of repository ${repositoryId} is degraded`,
          body: `${count} object${count === 1 ? '' : 's'} did not reach zone ${zone} (unreachable, or it refused the writes); the other zones have them. Once the zone is back, run "tidemark repo repair ${repositoryId}" (or Repair in Tidemark) to copy them.`,
        });
      }
    }
    for (const [zone, count] of Object.entries(before)) {
      if (count > 0 && !(missed[zone] && missed[zone] > 0)) {
        out.push({ severity: 'info', title: `Zone ${zone} of repository ${repositoryId} is complete again`, body: `Every object missing from zone ${zone} has been copied to it.` });
      }
    }
    return out;
  }

  private open(key: string): Episode {
    let episode = this.episodes.get(key);
    if (!episode) {
      episode = { since: this.now(), notifiedAt: null };
      this.episodes.set(key, episode);
    }
    return episode;
  }

  /** The failure's notification when its episode is new (past `graceMs`) or due a reminder. */
  private fail(key: string, notification: Notification, graceMs = 0): Notification[] {
    const episode = this.open(key);
    const now = this.now();
    if (episode.notifiedAt === null ? now - episode.since < graceMs : now - episode.notifiedAt < this.repeatMs) return [];
    episode.notifiedAt = now;
    return [notification];
  }

  /** Ends the episode; its end is worth a word only when its start was announced. */
  private recover(key: string, notification: Notification): Notification[] {
    const episode = this.episodes.get(key);
    this.episodes.delete(key);
    return episode?.notifiedAt != null ? [notification] : [];
  }
}
