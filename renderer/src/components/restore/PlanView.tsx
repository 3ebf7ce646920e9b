import type { RestorePlan } from '../../api/types.js';
import { formatBytes, formatDuration, formatTimestamp } from '../../format.js';
import { describeDistance } from '../../timeline/point-snap.js';

/** What the restore would do: the point, per node the backup and WAL, the estimate and the warnings. */
export function PlanView({ plan, askedTime }: { plan: RestorePlan; askedTime: boolean }) {
  return (
    <div className="plan" data-testid="restore-plan-view">
      <p>
        Restores every node to restore point <code data-testid="plan-point">{plan.point.name}</code>
        {plan.point.label && <> “{plan.point.label}”</>}, created{' '}
        <span className="mono">{formatTimestamp(plan.point.createdAt)}</span>
        {askedTime && <> — {describeDistance(plan.distanceSeconds)}</>}.
      </p>
      <table className="table">
        <thead>
          <tr>
            <th scope="col">Node</th>
            <th scope="col">Source</th>
            <th scope="col">Base backup</th>
            <th scope="col">WAL to replay</th>
            <th scope="col" className="num">
              To read
            </th>
          </tr>
        </thead>
        <tbody>
          {plan.nodes.map((n) => (
            <tr key={n.nodeId}>
              <td>
                <span className="mono">{n.nodeId}</span>{' '}
                <span className="muted small">{n.role}</span>
              </td>
              <td className="mono small">
                {n.sourceName}:{n.sourcePort}
              </td>
              <td>
                <span className="mono small">{n.backupId}</span>
                <div className="small muted">
                  started {formatTimestamp(n.backupStartedAt)}, {formatBytes(n.backupBytes)}
                </div>
              </td>
              <td>
                {n.walFiles} files, {formatBytes(n.walBytes)}
                <div className="small muted mono">
                  to {n.targetLsn} on timeline {n.timeline}
                </div>
              </td>
              <td className="num">{formatBytes(n.backupBytes + n.walBytes)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <p>
        In all {formatBytes(plan.totalBytes)} to read; about{' '}
        <strong>{formatDuration(plan.estimatedSeconds)}</strong> (nodes restore in parallel; the job
        shows the real rate).
      </p>
      {plan.warnings.length > 0 && (
        <ul className="warnings" data-testid="plan-warnings">
          {plan.warnings.map((w) => (
            <li key={w}>{w}</li>
          ))}
        </ul>
      )}
    </div>
  );
}
