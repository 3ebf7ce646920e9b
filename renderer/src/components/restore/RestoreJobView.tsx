import type { Job } from '../../api/types.js';
import { useNow } from '../../hooks/use-now.js';
import { isActive, isCancellable } from '../../state/job-merge.js';
import { cancelJob } from '../../state/jobs-store.js';
import { ConfirmAction } from '../ConfirmAction.js';
import { JobFacts } from '../JobFacts.js';
import { JobParts } from '../JobParts.js';
import { JobStateBadge } from '../JobStateBadge.js';
import { ProgressBar } from '../ProgressBar.js';

/** The running restore: phase, per-node parts, and a cancel that says what it undoes. */
export function RestoreJobView({ job }: { job: Job }) {
  const active = isActive(job);
  const now = useNow(active);
  return (
    <div className="restore-job" data-testid="restore-job">
      <div className="job-head">
        <div className="job-title">
          <span className="job-name">{job.title}</span>
        </div>
        <JobStateBadge state={job.state} />
      </div>
      <JobFacts job={job} active={active} now={now} phaseTestId="restore-phase" />
      {job.progress && <ProgressBar progress={job.progress} live={active} />}
      {Object.keys(job.parts).length > 0 && <JobParts parts={job.parts} live={active} />}
      {job.error && (job.state === 'failed' || job.state === 'interrupted') && (
        <p className="job-error">{job.error.message}</p>
      )}
      {isCancellable(job) && (
        <div className="actions">
          <ConfirmAction
            label="Cancel restore"
            confirmLabel="Stop and remove it"
            testId="restore-cancel"
            onConfirm={() => cancelJob(job.id)}
          >
            Stops the restore and <strong>removes what it created</strong>: the new nodes’ data
            directories and any PostgreSQL server it started. The source cluster and the backups are
            not affected.
          </ConfirmAction>
        </div>
      )}
    </div>
  );
}
