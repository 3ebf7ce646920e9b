import type { RetentionRun } from '../../api/types.js';
import { formatBytes, formatTimestamp } from '../../format.js';

const kindLabels: Record<RetentionRun['plan']['deletions'][number]['kind'], string> = {
  'restore-point': 'restore points',
  'backup-record': 'backup records',
  'backup-part': 'backup archives',
  'orphan-backup-part': 'orphaned archives (of backups never completed)',
  'wal-segment': 'WAL segments',
  'wal-partial': 'partial WAL segments',
  'wal-history': 'timeline history files',
  'wal-gap': 'gap records',
};

/** What applying the retention window would delete, grouped, before anything is deleted. */
export function PrunePreview({ run }: { run: RetentionRun }) {
  const groups = new Map<string, { count: number; bytes: number }>();
  for (const d of run.plan.deletions) {
    const g = groups.get(d.kind) ?? { count: 0, bytes: 0 };
    g.count += 1;
    g.bytes += d.bytes;
    groups.set(d.kind, g);
  }
  const deletedBackups = run.plan.nodes.filter((n) => n.deletedBackups.length > 0);
  return (
    <div className="subpanel" data-testid="prune-preview">
      <p>
        Window: {run.plan.retentionDays} days, from {formatTimestamp(run.plan.windowStart)}.{' '}
        {run.plan.totals.objects === 0 ? (
          <strong>Nothing is older than the window: nothing would be deleted.</strong>
        ) : (
          <strong>
            {run.plan.totals.objects} objects ({formatBytes(run.plan.totals.bytes)}) would be
            deleted:
          </strong>
        )}
      </p>
      {groups.size > 0 && (
        <ul className="plain-list">
          {[...groups].map(([kind, g]) => (
            <li key={kind}>
              {g.count} {kindLabels[kind as keyof typeof kindLabels] ?? kind} (
              {formatBytes(g.bytes)})
            </li>
          ))}
        </ul>
      )}
      {deletedBackups.length > 0 && (
        <table className="table">
          <thead>
            <tr>
              <th scope="col">Node</th>
              <th scope="col">Backups deleted</th>
              <th scope="col">Backups kept</th>
            </tr>
          </thead>
          <tbody>
            {deletedBackups.map((n) => (
              <tr key={`${n.clusterId}/${n.nodeId}`}>
                <td className="mono">
                  {n.clusterId}/{n.nodeId}
                </td>
                <td className="mono small">{n.deletedBackups.join(', ')}</td>
                <td className="mono small">{n.keptBackups.join(', ') || '—'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {run.locked && (
        <p className="text-warn">
          The repository is locked: nothing can be deleted until it is unlocked.
        </p>
      )}
      {run.unreachableZones.length > 0 && (
        <p className="text-warn">
          Zones not reachable now: {run.unreachableZones.join(', ')}. Their copies would be deleted
          by a later run.
        </p>
      )}
    </div>
  );
}
