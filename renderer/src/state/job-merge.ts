import type { Job, JobState } from '../api/types.js';

export type JobsById = Readonly<Record<string, Job>>;

const activeStates: readonly JobState[] = ['queued', 'running', 'cancelling'];

export function isActive(job: Job): boolean {
  return activeStates.includes(job.state);
}

export function isCancellable(job: Job): boolean {
  return job.state === 'queued' || job.state === 'running';
}

/**
 * Takes a job snapshot unless it is older than the one held: events and list answers can
 * cross on the wire, and a reconnecting UI must never show a job going backwards.
 * Returns the same object when nothing changed, so stores can skip the update.
 */
export function mergeJob(jobs: JobsById, job: Job): JobsById {
  const held = jobs[job.id];
  if (held && held.seq >= job.seq) return jobs;
  return { ...jobs, [job.id]: job };
}

/**
 * Takes a full `jobs.list` answer. Jobs missing from it were dropped from the history,
 * except those newer than everything in it: they started after the list was made.
 */
export function mergeJobList(jobs: JobsById, list: readonly Job[]): JobsById {
  const listedSeq = list.reduce((max, job) => Math.max(max, job.seq), -Infinity);
  const next: Record<string, Job> = {};
  for (const job of Object.values(jobs)) {
    if (job.seq > listedSeq) next[job.id] = job;
  }
  for (const job of list) {
    const held = jobs[job.id];
    next[job.id] = held && held.seq > job.seq ? held : job;
  }
  return next;
}

/** Running and queued jobs first (newest first), then the history by when each ended. */
export function jobsForDisplay(jobs: JobsById): Job[] {
  const all = Object.values(jobs);
  const newestFirst = (a: string, b: string) => b.localeCompare(a);
  const active = all.filter(isActive).sort((a, b) => newestFirst(a.createdAt, b.createdAt));
  const ended = all
    .filter((job) => !isActive(job))
    .sort((a, b) => newestFirst(a.endedAt ?? a.createdAt, b.endedAt ?? b.createdAt));
  return [...active, ...ended];
}

export function countActive(jobs: JobsById): number {
  return Object.values(jobs).filter(isActive).length;
}
