import { create } from 'zustand';
import { call } from '../api/call.js';
import type { Job } from '../api/types.js';
import { mergeJob, mergeJobList, type JobsById } from './job-merge.js';
import { reportLoadError } from './load-error.js';
import { reportError } from './toast-store.js';

interface JobsState {
  jobs: JobsById;
  /** true once a `jobs.list` answer arrived: before that "No jobs yet" would be a guess */
  loaded: boolean;
  /** ids of jobs whose cancel request is on its way */
  cancelling: ReadonlySet<string>;
  receive(job: Job): void;
  receiveList(list: readonly Job[]): void;
}

export const useJobsStore = create<JobsState>()((set) => ({
  jobs: {},
  loaded: false,
  cancelling: new Set(),
  receive: (job) =>
    set((state) => {
      const jobs = mergeJob(state.jobs, job);
      return jobs === state.jobs ? state : { jobs };
    }),
  receiveList: (list) => set((state) => ({ jobs: mergeJobList(state.jobs, list), loaded: true })),
}));

export async function loadJobs(): Promise<void> {
  try {
    useJobsStore.getState().receiveList(await call('jobs.list', {}));
  } catch (err) {
    reportLoadError(err);
  }
}

function markCancelling(id: string, on: boolean): void {
  useJobsStore.setState((state) => {
    const cancelling = new Set(state.cancelling);
    if (on) cancelling.add(id);
    else cancelling.delete(id);
    return { cancelling };
  });
}

export async function cancelJob(id: string): Promise<void> {
  markCancelling(id, true);
  try {
    useJobsStore.getState().receive(await call('jobs.cancel', { id }));
  } catch (err) {
    reportError(err);
  } finally {
    markCancelling(id, false);
  }
}
