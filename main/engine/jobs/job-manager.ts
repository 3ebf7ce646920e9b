import { randomUUID } from 'node:crypto';
import { EventEmitter, setMaxListeners } from 'node:events';
import { isAbortError, TidemarkError, toErrorInfo } from '../errors.js';
import type { JobStore } from './job-store.js';
import { jobTransitions, terminalJobStates, type Job, type JobPart, type JobState, type Progress } from './job-types.js';
import { ProgressMeter } from './progress-meter.js';

/** What a running job's work function gets: cancellation and ways to report progress. */
export interface JobContext {
  readonly jobId: string;
  readonly signal: AbortSignal;
  setPhase(phase: string): void;
  progress(done: number, total: number | null, unit?: Progress['unit']): void;
  /** progress of one part (a node, a zone) of a job that works on several at once */
  part(name: string, update: Partial<Omit<JobPart, 'progress'>> & { done?: number; total?: number | null; unit?: Progress['unit'] }): void;
}

export interface StartJobOptions {
  kind: string;
  title: string;
  subject?: string;
}

export type JobWork<T> = (ctx: JobContext) => Promise<T>;

export interface JobManagerOptions {
  store: JobStore;
  /** minimum milliseconds between two progress events of one job */
  throttleMs?: number;
  /** how many ended jobs the history keeps */
  historyLimit?: number;
  now?: () => number;
}

/**
 * Runs jobs as state machines with legal transitions, cancellation through AbortSignal,
 * throttled change events carrying a global sequence number, and a persisted history.
 * Emits `changed` with a Job snapshot.
 */
export class JobManager extends EventEmitter<{ changed: [Job] }> {
  private readonly jobs = new Map<string, Job>();
  private readonly controllers = new Map<string, AbortController>();
  private readonly running = new Map<string, Promise<unknown>>();
  private readonly pendingEmit = new Map<string, NodeJS.Timeout>();
  private readonly lastEmit = new Map<string, number>();
  private seq = 0;
  private saveChain: Promise<void> = Promise.resolve();
  private readonly throttleMs: number;
  private readonly historyLimit: number;
  private readonly now: () => number;

  constructor(private readonly options: JobManagerOptions) {
    super();
    this.throttleMs = options.throttleMs ?? 250;
    this.historyLimit = options.historyLimit ?? 500;
    this.now = options.now ?? Date.now;
  }

  /** Loads the history; jobs that were running when the process died become `interrupted`. */
  async init(): Promise<void> {
    for (const job of await this.options.store.load()) {
      if (!terminalJobStates.includes(job.state)) {
        job.state = 'interrupted';
        job.endedAt = job.endedAt ?? new Date(this.now()).toISOString();
        job.error = { code: 'internal', message: 'Tidemark stopped while this job was running.', retryable: true };
      }
      this.seq = Math.max(this.seq, job.seq);
      this.jobs.set(job.id, job);
    }
    await this.persist();
  }

  list(): Job[] {
    return [...this.jobs.values()].sort((a, b) => b.createdAt.localeCompare(a.createdAt)).map((j) => structuredClone(j));
  }

  get(id: string): Job {
    const job = this.jobs.get(id);
    if (!job) throw new TidemarkError('not_found', `No job with id ${id}.`);
    return structuredClone(job);
  }

  /** Starts work in the background and returns its job at once. */
  start<T>(options: StartJobOptions, work: JobWork<T>): Job {
    const job: Job = {
      id: randomUUID(),
      kind: options.kind,
      title: options.title,
      ...(options.subject === undefined ? {} : { subject: options.subject }),
      state: 'queued',
      phase: 'queued',
      progress: null,
      parts: {},
      createdAt: new Date(this.now()).toISOString(),
      startedAt: null,
      endedAt: null,
      error: null,
      seq: ++this.seq,
    };
    this.jobs.set(job.id, job);
    const controller = new AbortController();
    // One job's signal is shared by every concurrent read and upload it starts.
    setMaxListeners(1000, controller.signal);
    this.controllers.set(job.id, controller);
    this.emitNow(job);
    const done = this.run(job, controller, work);
    this.running.set(job.id, done);
    void done.finally(() => this.running.delete(job.id));
    return structuredClone(job);
  }

  /** Resolves when the job has ended, with its final snapshot. */
  async wait(id: string): Promise<Job> {
    await this.running.get(id);
    return this.get(id);
  }

  cancel(id: string): Job {
    const job = this.jobs.get(id);
    if (!job) throw new TidemarkError('not_found', `No job with id ${id}.`);
    if (terminalJobStates.includes(job.state)) return structuredClone(job);
    if (job.state === 'queued') {
      this.transition(job, 'cancelled');
    } else if (job.state === 'running') {
      this.transition(job, 'cancelling');
    }
    this.controllers.get(id)?.abort(new TidemarkError('cancelled', 'Cancelled by the user.'));
    return structuredClone(job);
  }

  /** Cancels everything still running and waits for it to settle. */
  async close(): Promise<void> {
    for (const id of this.running.keys()) this.cancel(id);
    await Promise.allSettled([...this.running.values()]);
    for (const t of this.pendingEmit.values()) clearTimeout(t);
    await this.saveChain;
  }

  private async run<T>(job: Job, controller: AbortController, work: JobWork<T>): Promise<void> {
    await Promise.resolve();
    if (job.state !== 'queued') return;
    this.transition(job, 'running');
    job.startedAt = new Date(this.now()).toISOString();
    job.phase = 'starting';
    const meter = new Map<string, ProgressMeter>();
    const meterFor = (key: string, unit: Progress['unit']) => {
      let m = meter.get(key);
      if (!m) meter.set(key, (m = new ProgressMeter(unit, this.now)));
      return m;
    };
    const ctx: JobContext = {
      jobId: job.id,
      signal: controller.signal,
      setPhase: (phase) => {
        job.phase = phase;
        this.changed(job);
      },
      progress: (done, total, unit = 'bytes') => {
        job.progress = meterFor('', unit).update(done, total);
        this.changed(job);
      },
      part: (name, update) => {
        const prev: JobPart = job.parts[name] ?? { phase: 'pending', progress: null, state: 'pending' };
        const { done, total, unit, ...rest } = update;
        const next: JobPart = { ...prev, ...rest };
        if (done !== undefined) next.progress = meterFor(`part:${name}`, unit ?? 'bytes').update(done, total ?? null);
        job.parts[name] = next;
        this.changed(job);
      },
    };
    try {
      const result = await work(ctx);
      if (result !== undefined) job.result = result;
      this.transition(job, 'succeeded');
    } catch (err) {
      const cancelled = controller.signal.aborted && (isAbortError(err) || (err instanceof TidemarkError && err.code === 'cancelled') || (job.state as JobState) === 'cancelling');
      if (cancelled) {
        job.error = { code: 'cancelled', message: 'Cancelled by the user.', retryable: true };
        this.transition(job, 'cancelled');
      } else {
        const info = toErrorInfo(err);
        job.error = { code: info.code, message: info.message, retryable: info.retryable };
        this.transition(job, 'failed');
      }
    } finally {
      this.controllers.delete(job.id);
    }
  }

  private transition(job: Job, to: JobState): void {
    if (!jobTransitions[job.state].includes(to)) {
      throw new TidemarkError('internal', `Illegal job transition ${job.state} → ${to}.`);
    }
    job.state = to;
    if (terminalJobStates.includes(to)) {
      job.endedAt = new Date(this.now()).toISOString();
      job.phase = to;
    }
    this.emitNow(job);
    void this.persist();
  }

  /** Progress changes are throttled; state changes are sent at once. */
  private changed(job: Job): void {
    if (this.pendingEmit.has(job.id)) return;
    const wait = this.throttleMs - (this.now() - (this.lastEmit.get(job.id) ?? 0));
    if (wait <= 0) {
      this.emitNow(job);
      return;
    }
    this.pendingEmit.set(
      job.id,
      setTimeout(() => {
        this.pendingEmit.delete(job.id);
        this.emitNow(job);
      }, wait),
    );
  }

  private emitNow(job: Job): void {
    const pending = this.pendingEmit.get(job.id);
    if (pending) {
      clearTimeout(pending);
      this.pendingEmit.delete(job.id);
    }
    job.seq = ++this.seq;
    this.lastEmit.set(job.id, this.now());
    this.emit('changed', structuredClone(job));
  }

  private persist(): Promise<void> {
    const ended = [...this.jobs.values()]
      .filter((j) => terminalJobStates.includes(j.state))
      .sort((a, b) => b.createdAt.localeCompare(a.createdAt));
    for (const old of ended.slice(this.historyLimit)) this.jobs.delete(old.id);
    const snapshot = [...this.jobs.values()].map((j) => structuredClone(j));
    this.saveChain = this.saveChain.then(() => this.options.store.save(snapshot)).catch(() => undefined);
    return this.saveChain;
  }
}
