import type { NearestPoint } from '../../api/types.js';
import { formatTimestamp } from '../../format.js';
import { describeDistance } from '../../timeline/point-snap.js';

interface SnapPanelProps {
  chosen: number;
  snap: NearestPoint | null;
  loading: boolean;
  onRestore(pointName: string): void;
  onJump(at: number): void;
}

/** What the slider's time snaps to: the restore point a restore would really use. */
export function SnapPanel({ chosen, snap, loading, onRestore, onJump }: SnapPanelProps) {
  return (
    <div className="snap-panel" data-testid="snap-panel" aria-live="polite">
      <div className="snap-chosen">
        Chosen time{' '}
        <strong className="mono">{formatTimestamp(new Date(chosen).toISOString())}</strong>
      </div>
      {snap === null ? (
        <div className="muted">{loading ? 'Finding the restore point…' : ''}</div>
      ) : snap.point ? (
        <div className="snap-point" data-testid="snap-point">
          <div>
            Snaps to restore point <code data-testid="snap-point-name">{snap.point.name}</code>
            {snap.point.label && <> “{snap.point.label}”</>}, created{' '}
            <span className="mono">{formatTimestamp(snap.point.createdAt)}</span> —{' '}
            <span data-testid="snap-distance">{describeDistance(snap.distanceSeconds ?? 0)}</span>.
          </div>
          <div className="muted small">
            A Citus cluster is consistent only at a restore point: a restore to this time lands
            every node exactly here.
          </div>
          <button
            type="button"
            className="button button-primary"
            data-testid="restore-this-point"
            onClick={() => onRestore(snap.point!.name)}
          >
            Restore to this point…
          </button>
        </div>
      ) : (
        <div className="snap-none" data-testid="snap-none">
          <span className="text-warn">No restorable point at or before this time.</span>{' '}
          {snap.earliest ? (
            <>
              The earliest is <code>{snap.earliest.name}</code> at{' '}
              {formatTimestamp(snap.earliest.createdAt)}.{' '}
              <button
                type="button"
                className="link-button"
                onClick={() => onJump(Date.parse(snap.earliest!.createdAt))}
              >
                Move there
              </button>
            </>
          ) : (
            'The cluster has no restorable point yet: it needs a base backup of every node, then WAL archived past a restore point.'
          )}
        </div>
      )}
    </div>
  );
}
