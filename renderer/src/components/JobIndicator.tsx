import { countActive } from '../state/job-merge.js';
import { useJobsStore } from '../state/jobs-store.js';
import { navigate } from '../state/navigation-store.js';

/** Always visible: how many jobs are under way; a click opens Jobs. */
export function JobIndicator() {
  const active = useJobsStore((state) => countActive(state.jobs));
  const loaded = useJobsStore((state) => state.loaded);
  // Before the first answer a count would be a guess.
  const label = !loaded
    ? 'Jobs'
    : active === 0
      ? 'No running jobs'
      : active === 1
        ? '1 running job'
        : `${active} running jobs`;
  return (
    <button
      type="button"
      className={active > 0 ? 'job-indicator busy' : 'job-indicator'}
      data-testid="job-indicator"
      data-count={active}
      onClick={() => navigate('jobs')}
      title="Open Jobs"
    >
      <span className="job-indicator-dot" aria-hidden="true" />
      {label}
    </button>
  );
}
