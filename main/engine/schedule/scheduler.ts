import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { isAbortError, TidemarkError, toErrorInfo } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { CancelTimer, SchedulerClock } from './clock.js';
import { taskKindLabels, type Schedules, type TaskKind } from './schedule-config.js';
import { ScheduleStateFile, type RunOutcome, type TaskState } from './schedule-state.js';
import { planStart, timingsOf, type TaskTiming } from './task-timing.js';

export interface RunContext {
  /** aborted when the scheduler stops and the run did not finish within the grace time */
  signal: AbortSignal;
  /** true for the one run that stands for slots missed while Tidemark was not running */
  catchUp: boolean;
}

/** Runs one scheduled task to its end; throws when it failed. */
export type RunTaskPort = (clusterId: string, kind: TaskKind, scheduledFor: Date, context: RunContext) => Promise<void>;

/** Takes the cluster's run lock (shared with every other process using the same data folder). */
export type RunLockPort = (clusterId: string, purpose: string) => Promise<{ release(): Promise<void> }>;

export interface RunRecord {
  clusterId: string;
  kind: TaskKind;
  scheduledFor: string;
  catchUp: boolean;
  startedAt: string;
  endedAt?: string;
  outcome?: RunOutcome;
  error?: { code: string; message: string };
}

export interface DeferredRun {
  clusterId: string;
  kind: TaskKind;
  scheduledFor: string;
  retryAt: string;
  reason: string;
}

export interface SchedulerEvents {
  'run-started': [RunRecord];
  'run-finished': [RunRecord];
  /** the run lock was held by another process; the run is retried later */
  'run-deferred': [DeferredRun];
}

export interface ClusterSchedule {
  id: string;
  schedules: Schedules;
}

export interface SchedulerOptions {
  clock: SchedulerClock;
  /** the state file (last run per cluster and task kind) */
  statePath: string;
  runTask: RunTaskPort;
  acquireLock: RunLockPort;
  logger?: Logger;
  /** length of one minute of the restore-point interval; only tests change it */
  minuteMs?: number;
  /** the task kinds to schedule (those a task exists for); all when omitted */
  kinds?: readonly TaskKind[];
  /** how long to wait before retrying a run whose cluster lock another process holds */
  busyRetryMs?: number;
}

export interface StopOptions {
  /** how long running tasks may go on before they are cancelled */
  graceMs?: number;
  /** how long to wait in all, cancellation included */
  timeoutMs?: number;
}

export interface StopResult {
  /** runs that had not ended when the timeout passed (they ignored cancellation) */
  abandoned: { clusterId: string; kind: TaskKind }[];
}

export interface TaskStatus {
  clusterId: string;
  kind: TaskKind;
  nextAt: string | null;
  state: 'idle' | 'queued' | 'running';
  last?: TaskState;
}

interface QueuedRun {
  kind: TaskKind;
  scheduledFor: Date;
  catchUp: boolean;
}

interface ActiveRun extends QueuedRun {
  controller: AbortController;
  done: Promise<void>;
}

interface ClusterEntry {
  id: string;
  timings: Map<TaskKind, TaskTiming>;
  timers: Map<TaskKind, CancelTimer>;
  nextAt: Map<TaskKind, Date>;
  queue: QueuedRun[];
  active: ActiveRun | null;
  retry: CancelTimer | null;
}

/**
 * Runs every cluster's scheduled tasks: computes each next slot from its cron expression
 * or interval, catches up missed slots at start (one run per task kind, however many slots
 * were missed), runs at most one task per cluster at a time (a queue here, the cluster's
 * run lock across processes), and remembers the last run of each task in a state file.
 */
export class Scheduler extends EventEmitter<SchedulerEvents> {
  private readonly state: ScheduleStateFile;
  private readonly clusters = new Map<string, ClusterEntry>();
  private readonly idleWaiters: (() => void)[] = [];
  private loaded = false;
  private stopping = false;
  private readonly instance = randomUUID();

  constructor(private readonly options: SchedulerOptions) {
    super();
    this.state = new ScheduleStateFile(options.statePath);
  }

  /** Loads the state file and schedules the given clusters (catching up what they missed). */
  async start(clusters: readonly ClusterSchedule[]): Promise<void> {
    if (!this.loaded) {
      await this.state.load();
      this.loaded = true;
    }
    for (const cluster of clusters) await this.setCluster(cluster.id, cluster.schedules);
  }

  /** Schedules a cluster, or reschedules it after its schedules changed. */
  async setCluster(clusterId: string, schedules: Schedules): Promise<void> {
    if (this.stopping) throw new TidemarkError('conflict', 'The scheduler is stopping; no cluster can be scheduled now.');
    if (!this.loaded) throw new TidemarkError('internal', 'Scheduler.setCluster called before start().');
    const entry = this.entryFor(clusterId);
    this.cancelTimers(entry);
    entry.timings = new Map(
      timingsOf(schedules, {
        ...(this.options.minuteMs === undefined ? {} : { minuteMs: this.options.minuteMs }),
        ...(this.options.kinds === undefined ? {} : { kinds: this.options.kinds }),
      }).map((t) => [t.kind, t]),
    );
    entry.queue = entry.queue.filter((q) => entry.timings.has(q.kind));
    const now = this.options.clock.now();
    for (const timing of entry.timings.values()) {
      let task = this.state.get(clusterId, timing.kind);
      let anchor: Date | null = null;
      if (task) {
        // A task meant to run at the first start that never ran (a stop came first) still owes that run.
        if (task.lastScheduledFor !== undefined) anchor = new Date(task.lastScheduledFor);
        else if (!timing.runOnFirstStart) anchor = new Date(task.since);
      } else {
        const first: TaskState = { since: now.toISOString() };
        await this.state.update(clusterId, timing.kind, () => first);
        task = first;
      }
      const plan = planStart(timing, anchor, now);
      // A run cut short by a crash, a kill or a stop did not cover its slot.
      const uncovered = task.running && task.running.instance !== this.instance ? task.running.scheduledFor : task.cancelledSlot;
      if (!plan.catchUp && uncovered !== undefined) plan.catchUp = new Date(uncovered);
      if (plan.catchUp) {
        this.options.logger?.info(
          { clusterId, kind: timing.kind, slot: plan.catchUp.toISOString(), lastRun: task.lastScheduledFor ?? null },
          `catching up a missed ${taskKindLabels[timing.kind]}`,
        );
        this.enqueue(entry, { kind: timing.kind, scheduledFor: plan.catchUp, catchUp: true });
      }
      this.arm(entry, timing, plan.next);
    }
  }

  /** Stops scheduling a cluster; a run under way still ends normally. */
  removeCluster(clusterId: string): void {
    const entry = this.clusters.get(clusterId);
    if (!entry) return;
    this.cancelTimers(entry);
    entry.timings.clear();
    entry.queue = [];
  }

  /** Each scheduled task's next slot, whether it is queued or running, and its last run. */
  status(): TaskStatus[] {
    const out: TaskStatus[] = [];
    for (const entry of this.clusters.values()) {
      for (const kind of entry.timings.keys()) {
        const last = this.state.get(entry.id, kind);
        out.push({
          clusterId: entry.id,
          kind,
          nextAt: entry.nextAt.get(kind)?.toISOString() ?? null,
          state: entry.active?.kind === kind ? 'running' : entry.queue.some((q) => q.kind === kind) ? 'queued' : 'idle',
          ...(last ? { last } : {}),
        });
      }
    }
    return out;
  }

  /** Resolves when no run is queued or running and the state file is written. */
  async idle(): Promise<void> {
    while (!this.isIdle()) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    await this.state.flushed();
  }

  /**
   * Stops scheduling, drops queued runs (they are caught up at the next start), lets runs
   * under way finish for `graceMs`, then cancels them and waits up to `timeoutMs` in all.
   */
  async stop(options: StopOptions = {}): Promise<StopResult> {
    const graceMs = options.graceMs ?? 10_000;
    const timeoutMs = Math.max(options.timeoutMs ?? 60_000, graceMs);
    this.stopping = true;
    const active: { entry: ClusterEntry; run: ActiveRun }[] = [];
    for (const entry of this.clusters.values()) {
      this.cancelTimers(entry);
      entry.queue = [];
      if (entry.active) active.push({ entry, run: entry.active });
    }
    const started = Date.now();
    const allDone = Promise.allSettled(active.map((a) => a.run.done));
    if (active.length > 0) {
      this.options.logger?.info({ running: active.map((a) => ({ clusterId: a.entry.id, kind: a.run.kind })) }, 'waiting for running tasks to finish');
      if (!(await settledWithin(allDone, graceMs))) {
        for (const { entry, run } of active) {
          if (entry.active === run) {
            this.options.logger?.warn({ clusterId: entry.id, kind: run.kind }, `cancelling the ${taskKindLabels[run.kind]} of ${entry.id}: Tidemark is stopping`);
            run.controller.abort(new TidemarkError('cancelled', 'Cancelled because Tidemark is stopping.', { retryable: true }));
          }
        }
        await settledWithin(allDone, Math.max(0, timeoutMs - (Date.now() - started)));
      }
    }
    await this.state.flushed();
    return {
      abandoned: active.filter(({ entry, run }) => entry.active === run).map(({ entry, run }) => ({ clusterId: entry.id, kind: run.kind })),
    };
  }

  private entryFor(clusterId: string): ClusterEntry {
    let entry = this.clusters.get(clusterId);
    if (!entry) {
      entry = { id: clusterId, timings: new Map(), timers: new Map(), nextAt: new Map(), queue: [], active: null, retry: null };
      this.clusters.set(clusterId, entry);
    }
    return entry;
  }

  private arm(entry: ClusterEntry, timing: TaskTiming, at: Date | null): void {
    entry.timers.get(timing.kind)?.();
    entry.timers.delete(timing.kind);
    entry.nextAt.delete(timing.kind);
    if (at === null || this.stopping) return;
    entry.nextAt.set(timing.kind, at);
    entry.timers.set(
      timing.kind,
      this.options.clock.setTimer(at, () => {
        if (entry.timings.get(timing.kind) !== timing) return;
        // After a sleep or a blocked event loop several slots may have passed: one run covers them.
        const slot = timing.latest(at, this.options.clock.now()) ?? at;
        this.enqueue(entry, { kind: timing.kind, scheduledFor: slot, catchUp: false });
        this.arm(entry, timing, timing.next(slot));
      }),
    );
  }

  private cancelTimers(entry: ClusterEntry): void {
    for (const cancel of entry.timers.values()) cancel();
    entry.timers.clear();
    entry.nextAt.clear();
    entry.retry?.();
    entry.retry = null;
  }

  /** Queues a run; a run of the same kind already waiting absorbs it (one run covers both slots). */
  private enqueue(entry: ClusterEntry, run: QueuedRun): void {
    if (this.stopping) return;
    const waiting = entry.queue.find((q) => q.kind === run.kind);
    if (waiting) {
      if (run.scheduledFor > waiting.scheduledFor) waiting.scheduledFor = run.scheduledFor;
      waiting.catchUp &&= run.catchUp;
    } else {
      entry.queue.push(run);
    }
    this.pump(entry);
  }

  private pump(entry: ClusterEntry): void {
    if (entry.active || entry.retry || this.stopping) return;
    const next = entry.queue.shift();
    if (!next) {
      this.notifyIdle();
      return;
    }
    const controller = new AbortController();
    const active: ActiveRun = { ...next, controller, done: Promise.resolve() };
    entry.active = active;
    active.done = this.execute(entry, active)
      .catch((err: unknown) => {
        // Only the state file can fail here (the task's own errors are its outcome): say so, go on.
        this.options.logger?.error({ err, clusterId: entry.id, kind: next.kind }, `could not record the scheduled ${taskKindLabels[next.kind]} of ${entry.id}`);
      })
      .finally(() => {
        if (entry.active === active) entry.active = null;
        this.pump(entry);
        this.notifyIdle();
      });
  }

  private async execute(entry: ClusterEntry, run: ActiveRun): Promise<void> {
    const { logger, clock } = this.options;
    const label = taskKindLabels[run.kind];
    const base = { clusterId: entry.id, kind: run.kind, scheduledFor: run.scheduledFor.toISOString(), catchUp: run.catchUp };
    let lock: { release(): Promise<void> };
    try {
      lock = await this.options.acquireLock(entry.id, `scheduled ${label}${run.catchUp ? ' (catch-up)' : ''}`);
    } catch (err) {
      if (err instanceof TidemarkError && err.code === 'conflict') {
        if (!this.stopping) this.deferBusy(entry, run, err.message);
        return;
      }
      await this.finish(entry, run, { ...base, startedAt: clock.now().toISOString() }, err);
      return;
    }
    const record: RunRecord = { ...base, startedAt: clock.now().toISOString() };
    try {
      // Stop may have begun while the lock was awaited: then the run never starts, and its
      // slot, not recorded as covered, is caught up at the next start like a queued one.
      if (this.stopping) return;
      // Said before any further await, so no "started" can follow "stopping" in the log.
      logger?.info(base, `scheduled ${label} started`);
      this.emit('run-started', { ...record });
      await this.state.update(entry.id, run.kind, (current) => ({
        ...(current ?? { since: record.startedAt }),
        running: { scheduledFor: record.scheduledFor, startedAt: record.startedAt, pid: process.pid, instance: this.instance },
      }));
      let failure: unknown = null;
      try {
        await this.options.runTask(entry.id, run.kind, run.scheduledFor, { signal: run.controller.signal, catchUp: run.catchUp });
      } catch (err) {
        failure = err ?? new Error('task failed');
      }
      await this.finish(entry, run, record, failure);
    } finally {
      await lock.release().catch((err: unknown) => logger?.warn({ err, clusterId: entry.id }, 'could not release the cluster run lock'));
    }
  }

  private async finish(entry: ClusterEntry, run: ActiveRun, record: RunRecord, failure: unknown): Promise<void> {
    const { logger, clock } = this.options;
    const cancelled =
      failure !== null && run.controller.signal.aborted && (isAbortError(failure) || (failure instanceof TidemarkError && failure.code === 'cancelled'));
    const outcome: RunOutcome = failure === null ? 'succeeded' : cancelled ? 'cancelled' : 'failed';
    const info = failure === null ? null : toErrorInfo(failure);
    const done: RunRecord = { ...record, endedAt: clock.now().toISOString(), outcome, ...(info ? { error: { code: info.code, message: info.message } } : {}) };
    await this.state.update(entry.id, run.kind, (current) => {
      const next: TaskState = { ...(current ?? { since: record.startedAt }) };
      delete next.running;
      delete next.lastError;
      delete next.cancelledSlot;
      // A cancelled run did not cover its slot: the next start catches it up.
      if (outcome === 'cancelled') next.cancelledSlot = record.scheduledFor;
      else next.lastScheduledFor = record.scheduledFor;
      next.lastStartedAt = record.startedAt;
      next.lastEndedAt = done.endedAt;
      next.lastOutcome = outcome;
      if (done.error) next.lastError = done.error;
      return next;
    });
    const label = taskKindLabels[run.kind];
    const fields = { clusterId: entry.id, kind: run.kind, scheduledFor: record.scheduledFor, outcome, durationMs: Date.parse(done.endedAt ?? '') - Date.parse(record.startedAt) };
    if (outcome === 'failed') logger?.error({ ...fields, err: failure }, `scheduled ${label} of ${entry.id} failed: ${info?.message ?? ''}`);
    else logger?.info(fields, `scheduled ${label} ${outcome}`);
    this.emit('run-finished', done);
  }

  private deferBusy(entry: ClusterEntry, run: ActiveRun, reason: string): void {
    const { clock, logger } = this.options;
    const retryAt = new Date(clock.now().getTime() + (this.options.busyRetryMs ?? 60_000));
    const waiting = entry.queue.find((q) => q.kind === run.kind);
    if (waiting) waiting.scheduledFor = waiting.scheduledFor > run.scheduledFor ? waiting.scheduledFor : run.scheduledFor;
    else entry.queue.unshift({ kind: run.kind, scheduledFor: run.scheduledFor, catchUp: run.catchUp });
    entry.retry = clock.setTimer(retryAt, () => {
      entry.retry = null;
      this.pump(entry);
    });
    logger?.warn({ clusterId: entry.id, kind: run.kind, retryAt: retryAt.toISOString() }, `scheduled ${taskKindLabels[run.kind]} deferred: ${reason}`);
    this.emit('run-deferred', { clusterId: entry.id, kind: run.kind, scheduledFor: run.scheduledFor.toISOString(), retryAt: retryAt.toISOString(), reason });
  }

  private isIdle(): boolean {
    for (const entry of this.clusters.values()) if (entry.active || entry.queue.length > 0) return false;
    return true;
  }

  private notifyIdle(): void {
    if (!this.isIdle()) return;
    for (const resolve of this.idleWaiters.splice(0)) resolve();
  }
}

async function settledWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([promise.then(() => true as const), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
