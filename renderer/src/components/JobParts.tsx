import type { JobPart } from '../api/types.js';
import { ProgressBar } from './ProgressBar.js';

const partStateLabels: Record<JobPart['state'], string> = {
  pending: 'Pending',
  running: 'Running',
  done: 'Done',
  failed: 'Failed',
};

/** Per-node (or per-zone) progress of a job working on several at once. */
export function JobParts({ parts, live }: { parts: Record<string, JobPart>; live: boolean }) {
  const names = Object.keys(parts).sort();
  return (
    <table className="job-parts">
      <thead>
        <tr>
          <th scope="col">Part</th>
          <th scope="col">State</th>
          <th scope="col">Phase</th>
          <th scope="col">Progress</th>
        </tr>
      </thead>
      <tbody>
        {names.map((name) => {
          const part = parts[name];
          if (!part) return null;
          return (
            <tr key={name} data-testid={`job-part-${name}`} className={`part-${part.state}`}>
              <th scope="row">{name}</th>
              <td>{partStateLabels[part.state]}</td>
              <td>
                {part.phase}
                {part.message && <div className="part-message">{part.message}</div>}
              </td>
              <td>
                {part.progress ? (
                  <ProgressBar
                    progress={part.progress}
                    live={live && part.state === 'running'}
                    compact
                  />
                ) : (
                  '—'
                )}
              </td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}
