import { formatEta, formatProgress, formatRate, progressPercent } from '../format.js';
import type { Progress } from '../api/types.js';

interface ProgressBarProps {
  progress: Progress;
  /** false once the work ended: a rate and time left would then be stale */
  live: boolean;
  compact?: boolean;
}

/** A bar with its numbers: amount done of total and, while live, rate and time left. */
export function ProgressBar({ progress, live, compact = false }: ProgressBarProps) {
  const percent = progressPercent(progress.done, progress.total);
  return (
    <div className={compact ? 'progress compact' : 'progress'}>
      <div
        className={percent === null ? 'progress-track indeterminate' : 'progress-track'}
        role="progressbar"
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={percent ?? undefined}
      >
        {/* Set through the DOM style property, which the CSP allows (unlike style attributes in markup). */}
        {percent !== null && <div className="progress-fill" style={{ width: `${percent}%` }} />}
      </div>
      <div className="progress-numbers">
        <span data-testid="progress-amount">{formatProgress(progress)}</span>
        {live && <span className="progress-rate">{formatRate(progress.rate, progress.unit)}</span>}
        {live && <span className="progress-eta">{formatEta(progress.eta)}</span>}
      </div>
    </div>
  );
}
