import { Fragment, useState } from 'react';
import type { RestoreRecord } from '../../api/types.js';
import { formatTimestamp } from '../../format.js';
import { RestoreChecklist } from './RestoreChecklist.js';

const stateBadge: Record<RestoreRecord['state'], string> = {
  running: 'badge badge-running',
  succeeded: 'badge badge-succeeded',
  failed: 'badge badge-failed',
  cancelled: 'badge',
  interrupted: 'badge badge-failed',
};

export function PastRestores({ restores }: { restores: RestoreRecord[] }) {
  const [open, setOpen] = useState<string | null>(null);
  return (
    <table className="table" data-testid="past-restores">
      <thead>
        <tr>
          <th scope="col">Started</th>
          <th scope="col">Cluster</th>
          <th scope="col">Restore point</th>
          <th scope="col">Where</th>
          <th scope="col">State</th>
          <th scope="col" />
        </tr>
      </thead>
      <tbody>
        {restores.map((r) => (
          <Fragment key={r.id}>
            <tr>
              <td className="mono nowrap">{formatTimestamp(r.startedAt)}</td>
              <td className="mono">{r.clusterId}</td>
              <td>
                <span className="mono">{r.point.name}</span>
                <div className="small muted">{formatTimestamp(r.point.createdAt)}</div>
              </td>
              <td>{r.provisioner === 'local' ? 'this computer' : 'SSH'}</td>
              <td>
                <span className={stateBadge[r.state]}>{r.state}</span>
                {r.error && <div className="small text-danger">{r.error}</div>}
              </td>
              <td>
                {r.state === 'succeeded' && (
                  <button
                    type="button"
                    className="link-button"
                    onClick={() => setOpen(open === r.id ? null : r.id)}
                  >
                    {open === r.id
                      ? 'Hide'
                      : `Checklist (${r.checklist.filter((i) => i.done).length}/${r.checklist.length})`}
                  </button>
                )}
              </td>
            </tr>
            {open === r.id && (
              <tr>
                <td colSpan={6}>
                  <RestoreChecklist record={r} />
                </td>
              </tr>
            )}
          </Fragment>
        ))}
      </tbody>
    </table>
  );
}
