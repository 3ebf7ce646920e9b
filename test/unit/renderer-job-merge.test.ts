import { describe, expect, it } from 'vitest';
import type { Job } from '../../renderer/src/api/types.js';
import {
  countActive,
  isCancellable,
  jobsForDisplay,
  mergeJob,
  mergeJobList,
} from '../../renderer/src/state/job-merge.js';

function job(id: string, seq: number, overrides: Partial<Job> = {}): Job {
  return {
    id,
    kind: 'test',
    title: `Job ${id}`,
    state: 'running',
    phase: 'working',
    progress: null,
    parts: {},
    createdAt: '2025-03-05T10:00:00.000Z',
    startedAt: '2025-03-05T10:00:00.000Z',
    endedAt: null,
    error: null,
    seq,
    ...overrides,
  };
}

describe('mergeJob', () => {
  it('takes newer snapshots and ignores older or equal ones', () => {
    let jobs = mergeJob({}, job('a', 5, { phase: 'five' }));
    jobs = mergeJob(jobs, job('a', 7, { phase: 'seven' }));
    expect(jobs['a']?.phase).toBe('seven');
    const before = jobs;
    expect(mergeJob(before, job('a', 6, { phase: 'six' }))).toBe(before);
    expect(mergeJob(before, job('a', 7, { phase: 'again' }))).toBe(before);
  });

  it('never lets a late event move an ended job back to running', () => {
    const ended = mergeJob(
      {},
      job('a', 10, { state: 'succeeded', endedAt: '2025-03-05T10:05:00.000Z' }),
    );
    expect(mergeJob(ended, job('a', 9, { state: 'running' }))['a']?.state).toBe('succeeded');
  });
});

describe('mergeJobList', () => {
  it('keeps the newer of held and listed snapshots', () => {
    const held = { a: job('a', 12, { phase: 'from event' }), b: job('b', 3) };
    const merged = mergeJobList(held, [
      job('a', 11, { phase: 'from list' }),
      job('b', 4, { phase: 'listed' }),
    ]);
    expect(merged['a']?.phase).toBe('from event');
    expect(merged['b']?.phase).toBe('listed');
  });

  it('drops jobs the history no longer has, but keeps jobs newer than the list', () => {
    const held = { old: job('old', 2), fresh: job('fresh', 20) };
    const merged = mergeJobList(held, [job('listed', 10)]);
    expect(Object.keys(merged).sort()).toEqual(['fresh', 'listed']);
  });
});

describe('display order', () => {
  it('lists active jobs first, newest first, then the history by end time', () => {
    const jobs = {
      doneEarly: job('doneEarly', 1, {
        state: 'succeeded',
        createdAt: '2025-03-05T09:00:00.000Z',
        endedAt: '2025-03-05T09:10:00.000Z',
      }),
      doneLate: job('doneLate', 2, {
        state: 'failed',
        createdAt: '2025-03-05T08:00:00.000Z',
        endedAt: '2025-03-05T09:30:00.000Z',
      }),
      runningOld: job('runningOld', 3, { createdAt: '2025-03-05T07:00:00.000Z' }),
      queuedNew: job('queuedNew', 4, { state: 'queued', createdAt: '2025-03-05T10:00:00.000Z' }),
    };
    expect(jobsForDisplay(jobs).map((j) => j.id)).toEqual([
      'queuedNew',
      'runningOld',
      'doneLate',
      'doneEarly',
    ]);
    expect(countActive(jobs)).toBe(2);
  });

  it('offers cancel only while a job can still be cancelled', () => {
    expect(isCancellable(job('a', 1, { state: 'queued' }))).toBe(true);
    expect(isCancellable(job('a', 1, { state: 'running' }))).toBe(true);
    expect(isCancellable(job('a', 1, { state: 'cancelling' }))).toBe(false);
    expect(isCancellable(job('a', 1, { state: 'failed' }))).toBe(false);
  });
});
