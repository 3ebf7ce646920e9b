import { EventEmitter } from 'node:events';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import type { BackupEventMap } from '../../main/engine/backup/backup-service.js';
import type { WalStatus } from '../../main/engine/backup/wal-archiver.js';
import type { RestorePointRecord } from '../../main/engine/catalog/records.js';
import type { ClusterEventMap } from '../../main/engine/cluster/cluster-manager.js';
import type { Job } from '../../main/engine/jobs/job-types.js';
import { watchEngineNotifications } from '../../main/engine/notify/engine-notifications.js';
import { NotificationRules } from '../../main/engine/notify/notification-rules.js';
import { logNotifier, type Notification } from '../../main/engine/notify/notifier.js';
import type { WalStreamsEvents } from '../../main/engine/schedule/scheduled-tasks.js';

const minute = 60_000;

function clock(start = 0) {
  let now = start;
  return { now: () => now, advance: (ms: number) => void (now += ms) };
}

function wal(state: WalStatus['state'], extra: Partial<WalStatus> = {}): WalStatus {
  return {
    clusterId: 'prod',
    nodeId: 'n2',
    node: '10.0.0.2:5432',
    slot: 'tidemark_prod_n2',
    state,
    timeline: 1,
    receivedLsn: null,
    storedLsn: null,
    lagBytes: 0,
    lastStoredAt: null,
    backlogBytes: null,
    lastError: state === 'streaming' ? null : { code: 'connection_failed', message: 'Cannot connect to 10.0.0.2:5432: connection refused.', retryable: true },
    ...extra,
  };
}

function point(status: RestorePointRecord['status'], name = 'tm_20240601T120000Z'): RestorePointRecord {
  return {
    clusterId: 'prod',
    name,
    label: null,
    createdAt: '2024-06-01T12:00:00.000Z',
    status,
    coordinatorLsn: status === 'failed' ? null : '0/3000028',
    nodeLsns: {},
    nodeTimelines: {},
    error: status === 'failed' ? 'Worker n3 (10.0.0.3:5432) cannot be reached: connection refused.' : null,
  };
}

function job(kind: string, state: Job['state'], subject = 'prod', message = 'Node n2 could not be backed up: disk full.'): Job {
  return {
    id: `${kind}-${state}-${Math.random()}`,
    kind,
    title: `${kind} of ${subject}`,
    subject,
    state,
    phase: state,
    progress: null,
    parts: {},
    createdAt: '2024-06-01T02:00:00.000Z',
    startedAt: '2024-06-01T02:00:00.000Z',
    endedAt: '2024-06-01T02:10:00.000Z',
    error: state === 'failed' ? { code: 'disk_full', message, retryable: false } : null,
    seq: 1,
  };
}

const titles = (notifications: Notification[]) => notifications.map((n) => `${n.severity}: ${n.title}`);

describe('notification rules', () => {
  it('announces a stream that gave up at once, one that keeps reconnecting only after the grace time, and its return', () => {
    const time = clock();
    const rules = new NotificationRules({ now: time.now, walGraceMs: minute });
    expect(rules.decide({ type: 'walStatus', status: wal('starting') })).toEqual([]);
    expect(rules.decide({ type: 'walStatus', status: wal('streaming') })).toEqual([]);
    // A blip: reconnecting for 20 s, then streaming again; nobody is bothered.
    expect(rules.decide({ type: 'walStatus', status: wal('reconnecting') })).toEqual([]);
    time.advance(20_000);
    expect(rules.decide({ type: 'walStatus', status: wal('reconnecting') })).toEqual([]);
    expect(rules.decide({ type: 'walStatus', status: wal('streaming') })).toEqual([]);
    // An outage: announced once past the grace time, not on every retry, and its end too.
    expect(rules.decide({ type: 'walStatus', status: wal('reconnecting') })).toEqual([]);
    time.advance(61_000);
    const interrupted = rules.decide({ type: 'walStatus', status: wal('reconnecting') });
    expect(interrupted).toEqual([
      {
        severity: 'warning',
        title: 'WAL stream of cluster prod interrupted',
        body: 'n2 (10.0.0.2:5432) has not streamed for 61 s. Cannot connect to 10.0.0.2:5432: connection refused. Tidemark keeps reconnecting; meanwhile the node keeps its WAL in the replication slot.',
      },
    ]);
    time.advance(30_000);
    expect(rules.decide({ type: 'walStatus', status: wal('reconnecting') })).toEqual([]);
    expect(titles(rules.decide({ type: 'walStatus', status: wal('streaming') }))).toEqual(['info: WAL stream of cluster prod resumed']);
    // Giving up is an error right away.
    const failed = rules.decide({ type: 'walStatus', status: wal('failed', { lastError: { code: 'conflict', message: 'Slot tidemark_prod_n2 is in use by pid 4242 on backup-01.', retryable: false } }) });
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({ severity: 'error', title: 'WAL streaming of cluster prod stopped' });
    expect(failed[0]!.body).toContain('Slot tidemark_prod_n2 is in use by pid 4242 on backup-01.');
    // A deliberate stop ends an episode without a word, and without a later "resumed".
    expect(rules.decide({ type: 'walStatus', status: wal('stopped') })).toEqual([]);
    expect(rules.decide({ type: 'walStatus', status: wal('streaming') })).toEqual([]);
  });

  it('announces restore points failing once per episode, reminds after the repeat time, and says when they work again', () => {
    const time = clock();
    const rules = new NotificationRules({ now: time.now, repeatMs: 6 * 60 * minute });
    expect(rules.decide({ type: 'restorePoint', record: point('created') })).toEqual([]);
    const first = rules.decide({ type: 'restorePoint', record: point('failed') });
    expect(first).toEqual([
      {
        severity: 'error',
        title: 'Restore point of cluster prod failed',
        body: 'Worker n3 (10.0.0.3:5432) cannot be reached: connection refused. The attempt is recorded on the timeline; the next one is tried at its interval.',
      },
    ]);
    // The scheduled run's job fails with it: the same episode, no second notification.
    expect(rules.decide({ type: 'jobEnded', job: job('schedule.restorePoint', 'failed') })).toEqual([]);
    for (let i = 0; i < 10; i++) {
      time.advance(5 * minute);
      expect(rules.decide({ type: 'restorePoint', record: point('failed') })).toEqual([]);
    }
    time.advance(6 * 60 * minute);
    expect(titles(rules.decide({ type: 'restorePoint', record: point('failed') }))).toEqual(['error: Restore point of cluster prod failed']);
    expect(rules.decide({ type: 'restorePoint', record: point('created', 'tm_20240601T190000Z') })).toEqual([
      { severity: 'info', title: 'Restore points of cluster prod work again', body: 'Restore point tm_20240601T190000Z was created.' },
    ]);
    expect(rules.decide({ type: 'jobEnded', job: job('schedule.restorePoint', 'succeeded') })).toEqual([]);
  });

  it('announces a failed backup once although the backup job and the scheduled run both fail, and every later failure', () => {
    const time = clock();
    const rules = new NotificationRules({ now: time.now });
    const failed = rules.decide({ type: 'jobEnded', job: job('backup', 'failed') });
    expect(failed).toEqual([
      {
        severity: 'error',
        title: 'The base backup of cluster prod failed',
        body: 'Node n2 could not be backed up: disk full. Its completed node backups stay; the next scheduled backup tries again.',
      },
    ]);
    expect(rules.decide({ type: 'jobEnded', job: job('schedule.baseBackup', 'failed') })).toEqual([]);
    // The next night's failure is news again.
    time.advance(24 * 60 * minute);
    expect(titles(rules.decide({ type: 'jobEnded', job: job('schedule.baseBackup', 'failed') }))).toEqual(['error: The scheduled base backup of cluster prod failed']);
    expect(titles(rules.decide({ type: 'jobEnded', job: job('backup', 'succeeded') }))).toEqual(['info: The base backup of cluster prod succeeded again']);
    // Cancelled runs, unrelated job kinds and other clusters are not backup failures.
    expect(rules.decide({ type: 'jobEnded', job: job('backup', 'cancelled') })).toEqual([]);
    expect(rules.decide({ type: 'jobEnded', job: job('restore', 'failed') })).toEqual([]);
    expect(titles(rules.decide({ type: 'jobEnded', job: job('backup', 'failed', 'staging') }))).toEqual(['error: The base backup of cluster staging failed']);
    expect(titles(rules.decide({ type: 'jobEnded', job: job('schedule.verify', 'failed', 'prod', 'Verifying repository "Main" found 2 problems.') }))).toEqual([
      "error: The scheduled verify of cluster prod's repository failed",
    ]);
    expect(titles(rules.decide({ type: 'jobEnded', job: job('schedule.retention', 'failed') }))).toEqual(['error: Retention for cluster prod failed']);
  });

  it('announces a zone as degraded when it starts missing writes, and complete again once repaired', () => {
    const rules = new NotificationRules();
    expect(rules.decide({ type: 'zones', repositoryId: 'main', missed: {} })).toEqual([]);
    const degraded = rules.decide({ type: 'zones', repositoryId: 'main', missed: { nas: 0, minio: 3 } });
    expect(degraded).toEqual([
      {
        severity: 'warning',
        title: 'Zone minio of repository main is degraded',
        body: '3 objects did not reach zone minio (unreachable, or it refused the writes); the other zones have them. Once the zone is back, run "tidemark repo repair main" (or Repair in Tidemark) to copy them.',
      },
    ]);
    // Still degraded, with more missed objects: no news.
    expect(rules.decide({ type: 'zones', repositoryId: 'main', missed: { minio: 40 } })).toEqual([]);
    // Another repository's zone of the same name is its own.
    expect(titles(rules.decide({ type: 'zones', repositoryId: 'other', missed: { minio: 1 } }))).toEqual(['warning: Zone minio of repository other is degraded']);
    expect(titles(rules.decide({ type: 'zones', repositoryId: 'main', missed: {} }))).toEqual(['info: Zone minio of repository main is complete again']);
  });

  it('always announces lost WAL and WAL piling up, and a failed stream start once', () => {
    const rules = new NotificationRules();
    const gap = { type: 'walGap', clusterId: 'prod', nodeId: 'n2', message: 'WAL 0/5000000–0/7000000 of n2 was removed by the server before it was archived.' } as const;
    expect(rules.decide(gap)).toEqual([{ severity: 'error', title: 'WAL lost on cluster prod', body: gap.message }]);
    expect(rules.decide(gap)).toHaveLength(1);
    expect(titles(rules.decide({ type: 'walBacklog', clusterId: 'prod', nodeId: 'n2', message: 'The slot retains 2 GiB.' }))).toEqual(['warning: WAL piling up on cluster prod']);
    const startFailed = { type: 'walStartFailed', clusterId: 'prod', error: { code: 'connection_failed', message: 'Cannot connect to the coordinator db1:5432.', retryable: true } } as const;
    expect(rules.decide(startFailed)).toEqual([
      { severity: 'error', title: 'WAL streaming of cluster prod could not start', body: 'Cannot connect to the coordinator db1:5432. Tidemark tries again before the next restore point.' },
    ]);
    expect(rules.decide(startFailed)).toEqual([]);
    expect(titles(rules.decide({ type: 'walStatus', status: wal('streaming') }))).toEqual(['info: WAL streaming of cluster prod started']);
  });
});

describe('engine notifications', () => {
  it('passes what the services report through the rules to the notifier, and stops listening', async () => {
    const backups = new EventEmitter<BackupEventMap>();
    const clusters = new EventEmitter<ClusterEventMap>();
    const jobs = new EventEmitter<{ changed: [Job] }>();
    const walStreams = new EventEmitter<WalStreamsEvents>();
    let missed: Record<string, string[]> = {};
    const shown: Notification[] = [];
    const watch = watchEngineNotifications(
      {
        backups,
        clusters,
        jobs,
        repositories: { list: async () => [{ id: 'main' }], open: async () => ({ repository: { zones: { missedWrites: () => missed } } }) },
        logger: pino({ enabled: false }),
      },
      { notify: (n) => void shown.push(n) },
      { walStreams },
    );
    clusters.emit('restorePointCreated', point('failed'));
    const failedJob = job('backup', 'failed');
    jobs.emit('changed', { ...failedJob, state: 'running', error: null });
    jobs.emit('changed', failedJob);
    jobs.emit('changed', failedJob);
    walStreams.emit('startFailed', { clusterId: 'staging', error: { code: 'connection_failed', message: 'Cannot connect.', retryable: true } });
    backups.emit('walGap', { clusterId: 'prod', nodeId: 'n1', gap: {} as never, message: 'WAL lost.' });
    // A backup that missed a zone triggers a zone check.
    missed = { minio: ['a', 'b'] };
    backups.emit('backupCompleted', { clusterId: 'prod', nodeId: 'n1', backupId: 'b1', endLsn: '0/1', degradedZones: ['minio'] });
    await watch.checkZones();
    expect(titles(shown)).toEqual([
      'error: Restore point of cluster prod failed',
      'error: The base backup of cluster prod failed',
      'error: WAL streaming of cluster staging could not start',
      'error: WAL lost on cluster prod',
      'warning: Zone minio of repository main is degraded',
    ]);
    watch.stop();
    clusters.emit('restorePointCreated', point('failed', 'later'));
    backups.emit('walGap', { clusterId: 'prod', nodeId: 'n1', gap: {} as never, message: 'WAL lost again.' });
    expect(shown).toHaveLength(5);
    expect(backups.listenerCount('walStatus') + clusters.listenerCount('restorePointCreated') + jobs.listenerCount('changed') + walStreams.listenerCount('startFailed')).toBe(0);
  });

  it('keeps going when the notifier throws, and the agent logs each notification as a warning line', () => {
    const lines: { level: number; msg: string; severity?: string; notification?: boolean }[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
    const backups = new EventEmitter<BackupEventMap>();
    const notifier = logNotifier(logger);
    let calls = 0;
    const watch = watchEngineNotifications(
      {
        backups,
        clusters: new EventEmitter<ClusterEventMap>(),
        jobs: new EventEmitter<{ changed: [Job] }>(),
        repositories: { list: async () => [], open: async () => Promise.reject(new Error('unused')) },
        logger,
      },
      {
        notify: (n) => {
          calls += 1;
          if (calls === 1) throw new Error('no notification daemon');
          notifier.notify(n);
        },
      },
    );
    backups.emit('walGap', { clusterId: 'prod', nodeId: 'n1', gap: {} as never, message: 'first' });
    backups.emit('walGap', { clusterId: 'prod', nodeId: 'n1', gap: {} as never, message: 'second' });
    watch.stop();
    expect(lines.find((l) => l.msg === 'a notification could not be shown')).toMatchObject({ level: 40 });
    expect(lines.find((l) => l.notification)).toMatchObject({ level: 40, severity: 'error', msg: 'WAL lost on cluster prod: second' });
  });
});
