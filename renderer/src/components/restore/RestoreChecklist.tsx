import { useState } from 'react';
import { errorMessage } from '../../api/api-error.js';
import { call } from '../../api/call.js';
import type { RestoreRecord } from '../../api/types.js';
import { receiveRestore } from '../../state/restores-store.js';
import { CopyButton } from '../CopyButton.js';

/** The new cluster's connection string and what the DBA still has to do, ticked off as done. */
export function RestoreChecklist({ record }: { record: RestoreRecord }) {
  // the tick shows at once; the engine's answer then replaces it (or the error says why not)
  const [saving, setSaving] = useState<{ id: string; done: boolean } | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const done = record.checklist.filter((i) => i.done).length;
  return (
    <div className="restore-result" data-testid={`restore-result-${record.id}`}>
      {record.connectionString && (
        <div className="connection-string">
          <span className="muted">Connect to the new coordinator:</span>{' '}
          <code data-testid="restore-connection-string">{record.connectionString}</code>{' '}
          <CopyButton text={record.connectionString} />
        </div>
      )}
      {record.registeredClusterId && (
        <p className="small">
          Added to Tidemark as cluster <code>{record.registeredClusterId}</code>.
        </p>
      )}
      {record.checklist.length > 0 && (
        <>
          <p className="small muted">
            After the restore — {done} of {record.checklist.length} done:
          </p>
          <ul className="checklist" data-testid="restore-checklist">
            {record.checklist.map((item) => (
              <li key={item.id} className={item.done ? 'done' : undefined}>
                <label>
                  <input
                    type="checkbox"
                    checked={saving?.id === item.id ? saving.done : item.done}
                    disabled={saving !== null}
                    onChange={(e) => {
                      setSaving({ id: item.id, done: e.target.checked });
                      setProblem(null);
                      call('restores.setChecklistItem', {
                        restoreId: record.id,
                        itemId: item.id,
                        done: e.target.checked,
                      })
                        .then(receiveRestore, (err: unknown) => setProblem(errorMessage(err)))
                        .finally(() => setSaving(null));
                    }}
                  />{' '}
                  <strong>{item.title}</strong>
                </label>
                <p className="checklist-detail">{item.detail}</p>
              </li>
            ))}
          </ul>
        </>
      )}
      {problem && <p className="field-error">{problem}</p>}
    </div>
  );
}
