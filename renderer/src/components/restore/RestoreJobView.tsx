import type { Job } from '../../api/types.js';
import { formatElapsed, formatTimestamp } from '../../format.js';
import { useNow } from '../../hooks/use-now.js';
import { isActive, isCancellable } from '../../state/job-merge.js';
import { cancelJob } from '../../state/jobs-store.js';
import { ConfirmAction } from '../ConfirmAction.js';
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
      <dl className="job-facts">
        <div>
          <dt>Phase</dt>
          <dd data-testid="restore-phase">{job.phase || '—'}</dd>
        </div>
        <div>
          <dt>Started</dt>
          <dd>{formatTimestamp(job.startedAt ?? job.createdAt)}</dd>
        </div>
        <div>
          <dt>{active ? 'Running for' : 'Took'}</dt>
          <dd>{formatElapsed(job.startedAt, job.endedAt, now)}</dd>
        </div>
      </dl>
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
