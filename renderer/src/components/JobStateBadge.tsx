import type { JobState } from '../api/types.js';

const labels: Record<JobState, string> = {
  queued: 'Queued',
  running: 'Running',
  cancelling: 'Cancelling',
  succeeded: 'Succeeded',
  failed: 'Failed',
  cancelled: 'Cancelled',
  interrupted: 'Interrupted',
};

export function JobStateBadge({ state }: { state: JobState }) {
  return (
    <span className={`badge badge-${state}`} data-testid="job-state">
      {labels[state]}
    </span>
  );
}
