import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TidemarkError } from '../../main/engine/errors.js';
import { ManualClock } from '../../main/engine/schedule/clock.js';
import { acquireClusterRunLock } from '../../main/engine/schedule/run-lock.js';
import { schedulesSchema, type SchedulesInput, type TaskKind } from '../../main/engine/schedule/schedule-config.js';
import { Scheduler, type RunContext, type RunRecord } from '../../main/engine/schedule/scheduler.js';
import { tempDir } from '../support/temp-dir.js';

interface Call {
  clusterId: string;
  kind: TaskKind;
  scheduledFor: string;
  catchUp: boolean;
  at: string;
}

const utc = (input: SchedulesInput = {}) =>
  schedulesSchema.parse({
    baseBackup: { cron: '0 2 * * *', timezone: 'UTC' },
    retention: { cron: '0 4 * * *', timezone: 'UTC' },
    verify: { cron: '0 5 * * 0', timezone: 'UTC' },
    ...input,
  });

let dir: { path: string; cleanup: () => Promise<void> };
beforeEach(async () => {
  dir = await tempDir('tidemark-schedule-');
});
afterEach(async () => {
  await dir.cleanup();
});

function makeScheduler(clock: ManualClock, runTask: (clusterId: string, kind: TaskKind, scheduledFor: Date, ctx: RunContext) => Promise<void>, busyRetryMs?: number) {
  const finished: RunRecord[] = [];
  const dataDir = dir.path;
  const scheduler = new Scheduler({
    clock,
    statePath: join(dataDir, 'schedule-state.json'),
    runTask,
    acquireLock: (clusterId, purpose) => acquireClusterRunLock({ dataDir, clusterId, purpose }),
    ...(busyRetryMs === undefined ? {} : { busyRetryMs }),
  });
  scheduler.on('run-finished', (r) => finished.push(r));
  return { scheduler, finished };
}

function recorder(clock: ManualClock) {
  const calls: Call[] = [];
  const runTask = async (clusterId: string, kind: TaskKind, scheduledFor: Date, ctx: RunContext) => {
    calls.push({ clusterId, kind, scheduledFor: scheduledFor.toISOString(), catchUp: ctx.catchUp, at: clock.now().toISOString() });
  };
  return { calls, runTask };
}

/** Polls until `check` holds: runs touch real files, so a fixed number of event-loop turns is not enough. */
async function waitFor(check: () => boolean, what: string): Promise<void> {
  const until = Date.now() + 5_000;
  while (!check()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

describe('Scheduler', () => {
  it('catches up a downtime with exactly one run per task kind, then runs the regular slots', async () => {
    // Monday 2024-01-01 00:00 UTC: first start ever.
    const clock = new ManualClock('2024-01-01T00:00:00Z');
    const first = recorder(clock);
    const a = makeScheduler(clock, first.runTask);
    await a.scheduler.start([{ id: 'prod', schedules: utc({ restorePoints: { intervalMinutes: 60 } }) }]);
    await a.scheduler.idle();
    // Only the restore point runs at once; cron tasks wait for their first slot.
    expect(first.calls).toEqual([{ clusterId: 'prod', kind: 'restorePoint', scheduledFor: '2024-01-01T00:00:00.000Z', catchUp: true, at: '2024-01-01T00:00:00.000Z' }]);
    await clock.advanceTo('2024-01-01T04:30:00Z', { settle: () => a.scheduler.idle() });
    expect(first.calls.filter((c) => c.kind === 'baseBackup').map((c) => c.scheduledFor)).toEqual(['2024-01-01T02:00:00.000Z']);
    expect(first.calls.filter((c) => c.kind === 'retention').map((c) => c.scheduledFor)).toEqual(['2024-01-01T04:00:00.000Z']);
    expect(first.calls.filter((c) => c.kind === 'restorePoint')).toHaveLength(5);
    await a.scheduler.stop();

    // Down from Monday 04:30 to Tuesday of the next week 10:20: eight base backup and retention
    // slots, one Sunday verify and ~200 restore-point slots were missed.
    await clock.advanceTo('2024-01-09T10:20:00Z');
    const second = recorder(clock);
    const b = makeScheduler(clock, second.runTask);
    await b.scheduler.start([{ id: 'prod', schedules: utc({ restorePoints: { intervalMinutes: 60 } }) }]);
    await b.scheduler.idle();
    expect(second.calls.map(({ kind, scheduledFor, catchUp }) => ({ kind, scheduledFor, catchUp }))).toEqual([
      { kind: 'baseBackup', scheduledFor: '2024-01-09T02:00:00.000Z', catchUp: true },
      { kind: 'restorePoint', scheduledFor: '2024-01-09T10:00:00.000Z', catchUp: true },
      { kind: 'retention', scheduledFor: '2024-01-09T04:00:00.000Z', catchUp: true },
      { kind: 'verify', scheduledFor: '2024-01-07T05:00:00.000Z', catchUp: true },
    ]);
    expect(second.calls.every((c) => c.at === '2024-01-09T10:20:00.000Z')).toBe(true);

    // Then the regular slots, each once, none flagged as catch-up.
    second.calls.length = 0;
    await clock.advanceTo('2024-01-10T04:00:00Z', { settle: () => b.scheduler.idle() });
    expect(second.calls.filter((c) => c.kind !== 'restorePoint').map((c) => `${c.kind}@${c.scheduledFor}`)).toEqual([
      'baseBackup@2024-01-10T02:00:00.000Z',
      'retention@2024-01-10T04:00:00.000Z',
    ]);
    const points = second.calls.filter((c) => c.kind === 'restorePoint').map((c) => c.scheduledFor);
    expect(points[0]).toBe('2024-01-09T11:00:00.000Z');
    expect(points).toHaveLength(18); // 11:00 … 04:00 hourly
    expect(second.calls.some((c) => c.catchUp)).toBe(false);
    expect(b.finished.every((r) => r.outcome === 'succeeded')).toBe(true);
    await b.scheduler.stop();

    const state = JSON.parse(await readFile(join(dir.path, 'schedule-state.json'), 'utf8'));
    expect(state.clusters.prod.baseBackup).toMatchObject({ lastScheduledFor: '2024-01-10T02:00:00.000Z', lastOutcome: 'succeeded' });
    expect(state.clusters.prod.baseBackup.running).toBeUndefined();
  });

  it('fires cron slots in the schedule time zone', async () => {
    const clock = new ManualClock('2024-01-15T00:00:00Z');
    const { calls, runTask } = recorder(clock);
    const { scheduler } = makeScheduler(clock, runTask);
    await scheduler.start([
      { id: 'ny', schedules: schedulesSchema.parse({ baseBackup: { cron: '0 2 * * *', timezone: 'America/New_York' }, restorePoints: { enabled: false }, retention: { enabled: false }, verify: { enabled: false } }) },
    ]);
    expect(scheduler.status()).toEqual([{ clusterId: 'ny', kind: 'baseBackup', nextAt: '2024-01-15T07:00:00.000Z', state: 'idle', last: { since: '2024-01-15T00:00:00.000Z' } }]);
    await clock.advanceTo('2024-01-15T06:59:59Z', { settle: () => scheduler.idle() });
    expect(calls).toEqual([]);
    await clock.advanceTo('2024-01-15T07:00:00Z', { settle: () => scheduler.idle() });
    expect(calls.map((c) => c.at)).toEqual(['2024-01-15T07:00:00.000Z']);
    await scheduler.stop();
  });

  it('never runs two tasks of one cluster at once, while different clusters run side by side', async () => {
    const clock = new ManualClock('2024-01-01T01:59:00Z');
    const running = new Map<string, number>();
    let maxPerCluster = 0;
    let maxOverall = 0;
    const gates: { key: string; gate: ReturnType<typeof deferred> }[] = [];
    const order: string[] = [];
    const runTask = async (clusterId: string, kind: TaskKind) => {
      running.set(clusterId, (running.get(clusterId) ?? 0) + 1);
      maxPerCluster = Math.max(maxPerCluster, ...running.values());
      maxOverall = Math.max(maxOverall, [...running.values()].reduce((a, b) => a + b, 0));
      order.push(`${clusterId}:${kind}`);
      const gate = deferred();
      gates.push({ key: `${clusterId}:${kind}`, gate });
      await gate.promise;
      running.set(clusterId, (running.get(clusterId) ?? 1) - 1);
    };
    const { scheduler, finished } = makeScheduler(clock, runTask);
    const schedules = utc({ baseBackup: { cron: '0 2 * * *', timezone: 'UTC' }, retention: { cron: '0 2 * * *', timezone: 'UTC' }, restorePoints: { intervalMinutes: 1 } });
    await scheduler.start([
      { id: 'a', schedules },
      { id: 'b', schedules },
    ]);
    // Restore points of a and b run at once; at 02:00 a base backup, a retention run and
    // restore points pile up behind them.
    await clock.advanceTo('2024-01-01T02:03:00Z');
    await waitFor(() => order.length === 2, 'both restore points to start');
    expect(order).toEqual(['a:restorePoint', 'b:restorePoint']);
    expect(scheduler.status().filter((s) => s.clusterId === 'a').map((s) => [s.kind, s.state])).toEqual([
      ['baseBackup', 'queued'],
      ['restorePoint', 'running'],
      ['retention', 'queued'],
      ['verify', 'idle'],
    ]);
    while (finished.length < 8) {
      const open = gates.shift();
      if (open) open.gate.resolve();
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(maxPerCluster).toBe(1);
    expect(maxOverall).toBe(2);
    // Per cluster: the first restore point, then the queue in arrival order (the 02:00 slots);
    // the restore points of 02:01–02:03 joined the one already waiting.
    expect(order.filter((o) => o.startsWith('a:'))).toEqual(['a:restorePoint', 'a:baseBackup', 'a:restorePoint', 'a:retention']);
    expect(finished.filter((r) => r.clusterId === 'a' && r.kind === 'restorePoint').map((r) => r.scheduledFor)).toEqual([
      '2024-01-01T01:59:00.000Z',
      '2024-01-01T02:03:00.000Z',
    ]);
    await scheduler.stop();
  });

  it('stop() lets a running task finish within the grace time', async () => {
    const clock = new ManualClock('2024-01-01T00:00:00Z');
    const gate = deferred();
    let ended = false;
    const { scheduler, finished } = makeScheduler(clock, async () => {
      await gate.promise;
      ended = true;
    });
    await scheduler.start([{ id: 'prod', schedules: utc() }]);
    await waitFor(() => scheduler.status().some((s) => s.state === 'running'), 'the restore point to start');
    const stopping = scheduler.stop({ graceMs: 5_000, timeoutMs: 10_000 });
    setTimeout(() => gate.resolve(), 50);
    const result = await stopping;
    expect(ended).toBe(true);
    expect(result.abandoned).toEqual([]);
    expect(finished.map((r) => r.outcome)).toEqual(['succeeded']);
    // No timer is left behind.
    expect(clock.pendingTimers()).toBe(0);
  });

  it('stop() while a run waits for its cluster lock: the task never starts, and the next start catches its slot up', async () => {
    const clock = new ManualClock('2024-01-01T00:00:00Z');
    const lockGate = deferred();
    let lockAsked = false;
    const first = recorder(clock);
    const started: RunRecord[] = [];
    const scheduler = new Scheduler({
      clock,
      statePath: join(dir.path, 'schedule-state.json'),
      runTask: first.runTask,
      acquireLock: async (clusterId, purpose) => {
        lockAsked = true;
        await lockGate.promise;
        return acquireClusterRunLock({ dataDir: dir.path, clusterId, purpose });
      },
    });
    scheduler.on('run-started', (r) => started.push(r));
    await scheduler.start([{ id: 'prod', schedules: utc() }]);
    await waitFor(() => lockAsked, 'the restore point to ask for the lock');
    const stopping = scheduler.stop({ graceMs: 5_000, timeoutMs: 10_000 });
    lockGate.resolve();
    expect((await stopping).abandoned).toEqual([]);
    expect(first.calls).toEqual([]);
    expect(started).toEqual([]);

    const again = recorder(clock);
    const next = makeScheduler(clock, again.runTask);
    await next.scheduler.start([{ id: 'prod', schedules: utc() }]);
    await next.scheduler.idle();
    expect(again.calls).toEqual([expect.objectContaining({ kind: 'restorePoint', catchUp: true })]);
    await next.scheduler.stop();
  });

  it('stop() cancels a task that outlives the grace time, and the next start catches its slot up', async () => {
    const clock = new ManualClock('2024-01-01T00:00:00Z');
    const { scheduler, finished } = makeScheduler(clock, (_c, _k, _s, ctx) => new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason))));
    await scheduler.start([{ id: 'prod', schedules: utc() }]);
    await waitFor(() => scheduler.status().some((s) => s.state === 'running'), 'the restore point to start');
    const t0 = Date.now();
    const result = await scheduler.stop({ graceMs: 100, timeoutMs: 5_000 });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(90);
    expect(result.abandoned).toEqual([]);
    expect(finished).toEqual([expect.objectContaining({ kind: 'restorePoint', outcome: 'cancelled', error: { code: 'cancelled', message: 'Cancelled because Tidemark is stopping.' } })]);

    const again = recorder(clock);
    const next = makeScheduler(clock, again.runTask);
    await next.scheduler.start([{ id: 'prod', schedules: utc() }]);
    await next.scheduler.idle();
    expect(again.calls).toEqual([expect.objectContaining({ kind: 'restorePoint', catchUp: true })]);
    await next.scheduler.stop();
  });

  it('stop() gives up on a task that ignores cancellation after the timeout', async () => {
    const clock = new ManualClock('2024-01-01T00:00:00Z');
    const { scheduler } = makeScheduler(clock, () => new Promise(() => undefined));
    await scheduler.start([{ id: 'prod', schedules: utc() }]);
    await waitFor(() => scheduler.status().some((s) => s.state === 'running'), 'the restore point to start');
    const result = await scheduler.stop({ graceMs: 50, timeoutMs: 150 });
    expect(result.abandoned).toEqual([{ clusterId: 'prod', kind: 'restorePoint' }]);
  });

  it('records a failed run with its error and goes on with the schedule', async () => {
    const clock = new ManualClock('2024-01-01T00:00:00Z');
    let calls = 0;
    const { scheduler, finished } = makeScheduler(clock, async () => {
      calls++;
      if (calls === 1) throw new TidemarkError('connection_failed', 'Could not connect to the coordinator db1:5432; check that it runs.');
    });
    await scheduler.start([{ id: 'prod', schedules: utc({ restorePoints: { intervalMinutes: 5 } }) }]);
    await clock.advanceTo('2024-01-01T00:05:00Z', { settle: () => scheduler.idle() });
    expect(finished.map((r) => [r.outcome, r.error?.code])).toEqual([
      ['failed', 'connection_failed'],
      ['succeeded', undefined],
    ]);
    expect(scheduler.status().find((s) => s.kind === 'restorePoint')?.last).toMatchObject({ lastOutcome: 'succeeded', lastScheduledFor: '2024-01-01T00:05:00.000Z' });
    await scheduler.stop();
  });

  it('defers a run while another process holds the cluster lock, then runs it', async () => {
    const clock = new ManualClock('2024-01-01T00:00:00Z');
    const other = await acquireClusterRunLock({ dataDir: dir.path, clusterId: 'prod', purpose: 'manual base backup' });
    const { calls, runTask } = recorder(clock);
    const { scheduler } = makeScheduler(clock, runTask, 60_000);
    const deferrals: string[] = [];
    scheduler.on('run-deferred', (d) => deferrals.push(d.reason));
    await scheduler.start([{ id: 'prod', schedules: utc() }]);
    await waitFor(() => deferrals.length === 1, 'the run to be deferred');
    expect(calls).toEqual([]);
    expect(deferrals).toEqual([expect.stringMatching(/^Cluster prod is busy: manual base backup started at .* by process \d+ on /)]);
    await clock.advanceBy(30_000);
    expect(calls).toEqual([]);
    await other.release();
    await clock.advanceBy(30_000);
    await scheduler.idle();
    expect(calls).toEqual([expect.objectContaining({ kind: 'restorePoint', at: '2024-01-01T00:01:00.000Z' })]);
    await scheduler.stop();
  });

  it('catches up a slot whose run was cut short by a crash', async () => {
    const clock = new ManualClock('2024-01-02T03:00:00Z');
    await writeFile(
      join(dir.path, 'schedule-state.json'),
      JSON.stringify({
        version: 1,
        clusters: {
          prod: {
            baseBackup: {
              since: '2024-01-01T00:00:00.000Z',
              lastScheduledFor: '2024-01-01T02:00:00.000Z',
              running: { scheduledFor: '2024-01-02T02:00:00.000Z', startedAt: '2024-01-02T02:00:00.000Z', pid: 999_999_999 },
            },
          },
        },
      }),
    );
    const { calls, runTask } = recorder(clock);
    const { scheduler } = makeScheduler(clock, runTask);
    await scheduler.start([{ id: 'prod', schedules: utc({ restorePoints: { enabled: false }, retention: { enabled: false }, verify: { enabled: false } }) }]);
    await scheduler.idle();
    expect(calls.map((c) => [c.kind, c.scheduledFor, c.catchUp])).toEqual([['baseBackup', '2024-01-02T02:00:00.000Z', true]]);
    await scheduler.stop();
  });
});
