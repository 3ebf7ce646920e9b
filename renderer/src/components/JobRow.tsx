import type { Job } from '../api/types.js';
import { useNow } from '../hooks/use-now.js';
import { isActive, isCancellable } from '../state/job-merge.js';
import { cancelJob, useJobsStore } from '../state/jobs-store.js';
import { JobFacts } from './JobFacts.js';
import { JobParts } from './JobParts.js';
import { JobStateBadge } from './JobStateBadge.js';
import { ProgressBar } from './ProgressBar.js';

export function JobRow({ job }: { job: Job }) {
  const active = isActive(job);
  const now = useNow(active);
  const cancelSent = useJobsStore((state) => state.cancelling.has(job.id));
  const hasParts = Object.keys(job.parts).length > 0;
  return (
    <li className={`job job-${job.state}`} data-testid={`job-${job.id}`}>
      <div className="job-head">
        <div className="job-title">
          <span className="job-name">{job.title}</span>
          {job.subject && <span className="job-subject">{job.subject}</span>}
        </div>
        <JobStateBadge state={job.state} />
        {isCancellable(job) && (
          <button
            type="button"
            className="button button-danger"
            data-testid={`job-cancel-${job.id}`}
            disabled={cancelSent}
            onClick={() => void cancelJob(job.id)}
          >
            {cancelSent ? 'Cancelling…' : 'Cancel'}
          </button>
        )}
      </div>
      <JobFacts job={job} active={active} now={now} phaseTestId="job-phase" />
      {job.progress && <ProgressBar progress={job.progress} live={active} />}
      {hasParts && <JobParts parts={job.parts} live={active} />}
      {job.error && (job.state === 'failed' || job.state === 'interrupted') && (
        <p className="job-error" data-testid="job-error">
          {job.error.message}
        </p>
      )}
    </li>
  );
}
