import { describe, expect, it } from 'vitest';
import { TidemarkError } from '../../main/engine/errors.js';
import { JobManager } from '../../main/engine/jobs/job-manager.js';
import { MemoryJobStore } from '../../main/engine/jobs/job-store.js';
import { jobTransitions, type Job } from '../../main/engine/jobs/job-types.js';

function manager(store = new MemoryJobStore(), throttleMs = 0) {
  const jobs = new JobManager({ store, throttleMs });
  const events: Job[] = [];
  jobs.on('changed', (j) => events.push(j));
  return { jobs, events, store };
}

describe('JobManager', () => {
  it('runs a job through queued → running → succeeded with its result', async () => {
    const { jobs, events } = manager();
    await jobs.init();
    const job = jobs.start({ kind: 'test', title: 'Test' }, async (ctx) => {
      ctx.setPhase('working');
      ctx.progress(5, 10, 'items');
      return { answer: 42 };
    });
    const done = await jobs.wait(job.id);
    expect(done.state).toBe('succeeded');
    expect(done.result).toEqual({ answer: 42 });
    expect(events.map((e) => e.state)).toEqual(expect.arrayContaining(['queued', 'running', 'succeeded']));
    const seqs = events.map((e) => e.seq);
    expect([...seqs].sort((a, b) => a - b)).toEqual(seqs);
  });

  it('cancels a running job through its AbortSignal', async () => {
    const { jobs } = manager();
    await jobs.init();
    const job = jobs.start({ kind: 'test', title: 'Long' }, (ctx) =>
      new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason))),
    );
    await new Promise((r) => setTimeout(r, 10));
    expect(jobs.cancel(job.id).state).toBe('cancelling');
    const ended = await jobs.wait(job.id);
    expect(ended.state).toBe('cancelled');
    expect(ended.error?.code).toBe('cancelled');
  });

  it('records a failure with the error code and the message meant for the user', async () => {
    const { jobs } = manager();
    await jobs.init();
    const job = jobs.start({ kind: 'test', title: 'Fails' }, async () => {
      throw new TidemarkError('connection_failed', 'Node 10.0.0.1:5432 refused the connection.', { retryable: true });
    });
    const ended = await jobs.wait(job.id);
    expect(ended.state).toBe('failed');
    expect(ended.error).toEqual({ code: 'connection_failed', message: 'Node 10.0.0.1:5432 refused the connection.', retryable: true });
  });

  it('hides unexpected errors behind a generic message', async () => {
    const { jobs } = manager();
    await jobs.init();
    const job = jobs.start({ kind: 'test', title: 'Bug' }, async () => {
      throw new Error('secret internals at /home/x');
    });
    const ended = await jobs.wait(job.id);
    expect(ended.error?.code).toBe('internal');
    expect(ended.error?.message).not.toContain('secret internals');
  });

  it('throttles progress events but always sends state changes', async () => {
    const { jobs, events } = manager(new MemoryJobStore(), 10_000);
    await jobs.init();
    const job = jobs.start({ kind: 'test', title: 'Chatty' }, async (ctx) => {
      for (let i = 0; i < 1000; i++) ctx.progress(i, 1000, 'items');
    });
    await jobs.wait(job.id);
    const mine = events.filter((e) => e.id === job.id);
    expect(mine.length).toBeLessThan(10);
    expect(mine.at(-1)?.state).toBe('succeeded');
    expect(mine.at(-1)?.progress?.done).toBe(999);
  });

  it('reports per-part progress with a rate', async () => {
    let t = 1_000;
    const jobs = new JobManager({ store: new MemoryJobStore(), throttleMs: 0, now: () => t });
    await jobs.init();
    const job = jobs.start({ kind: 'test', title: 'Parts' }, async (ctx) => {
      ctx.part('node-1', { phase: 'copying', state: 'running', done: 0, total: 1000 });
      t += 1000;
      ctx.part('node-1', { done: 500, total: 1000 });
    });
    const ended = await jobs.wait(job.id);
    expect(ended.parts['node-1']?.progress).toMatchObject({ done: 500, total: 1000, rate: 500, eta: 1 });
    expect(ended.parts['node-1']?.phase).toBe('copying');
  });

  it('keeps history across restarts and marks jobs that were running as interrupted', async () => {
    const store = new MemoryJobStore();
    const first = manager(store).jobs;
    await first.init();
    const done = first.start({ kind: 'test', title: 'Done' }, async () => undefined);
    await first.wait(done.id);
    const hanging = first.start({ kind: 'test', title: 'Hangs' }, () => new Promise(() => undefined));
    await new Promise((r) => setTimeout(r, 20));

    const second = manager(store).jobs;
    await second.init();
    expect(second.get(done.id).state).toBe('succeeded');
    expect(second.get(hanging.id).state).toBe('interrupted');
    const next = second.start({ kind: 'test', title: 'After' }, async () => undefined);
    expect(next.seq).toBeGreaterThan(second.get(hanging.id).seq);
  });

  it('never allows a transition out of a terminal state', () => {
    for (const state of ['succeeded', 'failed', 'cancelled', 'interrupted'] as const) {
      expect(jobTransitions[state]).toEqual([]);
    }
    expect(jobTransitions.queued).not.toContain('succeeded');
  });

  it('refuses unknown job ids', () => {
    const { jobs } = manager();
    expect(() => jobs.get('nope')).toThrow(TidemarkError);
    expect(() => jobs.cancel('nope')).toThrow(/No job/);
  });
});
