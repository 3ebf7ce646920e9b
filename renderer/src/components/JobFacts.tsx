import type { Job } from '../api/types.js';
import { formatElapsed, formatTimestamp } from '../format.js';

/** Phase, start, duration (and end, once over) of a job. */
export function JobFacts({ job, active, now, phaseTestId }: { job: Job; active: boolean; now: number; phaseTestId: string }) {
  return (
    <dl className="job-facts">
      <div>
        <dt>Phase</dt>
        <dd data-testid={phaseTestId}>{job.phase || '—'}</dd>
      </div>
      <div>
        <dt>Started</dt>
        <dd>{formatTimestamp(job.startedAt ?? job.createdAt)}</dd>
      </div>
      <div>
        <dt>{active ? 'Running for' : 'Took'}</dt>
        <dd>{formatElapsed(job.startedAt, job.endedAt, now)}</dd>
      </div>
      {!active && (
        <div>
          <dt>Ended</dt>
          <dd>{formatTimestamp(job.endedAt)}</dd>
        </div>
      )}
    </dl>
  );
}
