import { useState } from 'react';
import { errorMessage } from '../../api/api-error.js';
import { call } from '../../api/call.js';
import type { Job, RepositoryStatus, RepositorySummary, RetentionRun } from '../../api/types.js';
import { formatBytes, formatTimestamp } from '../../format.js';
import { useJobsStore } from '../../state/jobs-store.js';
import { loadRepositories } from '../../state/repositories-store.js';
import { ConfirmAction } from '../ConfirmAction.js';
import { CopyButton } from '../CopyButton.js';
import { ErrorNote } from '../ErrorNote.js';
import { JobRow } from '../JobRow.js';
import { StatusIcon } from '../StatusIcon.js';
import { PrunePreview } from './PrunePreview.js';

const stateLabels: Record<RepositorySummary['state'], string> = {
  ok: 'Healthy',
  degraded: 'Degraded',
  unavailable: 'Unavailable',
  'needs-secret': 'Needs its passphrase',
  error: 'Cannot be opened',
};

function ZonesTable({ zones }: { zones: RepositorySummary['zones'] }) {
  return (
    <table className="table" data-testid="repository-zones">
      <thead>
        <tr>
          <th scope="col" className="checks-status">
            <span className="offscreen">Health</span>
          </th>
          <th scope="col">Zone</th>
          <th scope="col">Kind</th>
          <th scope="col">Latency</th>
          <th scope="col">Missed writes</th>
        </tr>
      </thead>
      <tbody>
        {zones.map((z) => (
          <tr
            key={z.id}
            data-testid={`zone-health-${z.id}`}
            data-health={!z.reachable ? 'unreachable' : z.degraded ? 'degraded' : 'healthy'}
          >
            <td className="checks-status">
              <StatusIcon status={!z.reachable ? 'fail' : z.degraded ? 'warn' : 'ok'} />
            </td>
            <td>
              {z.name} <span className="muted small mono">{z.id}</span>
              {z.error && <div className="small text-danger">{z.error}</div>}
            </td>
            <td>{z.kind}</td>
            <td>{z.latencyMs === null ? '—' : `${Math.round(z.latencyMs)} ms`}</td>
            <td>
              {z.missedWrites > 0 ? (
                <span className="text-warn">{z.missedWrites} (run Repair)</span>
              ) : (
                '0'
              )}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function StatusDetails({ status }: { status: RepositoryStatus }) {
  return (
    <dl className="facts subpanel" data-testid="repository-status">
      <dt>Key</dt>
      <dd>{status.keySource === 'passphrase' ? 'passphrase (in the secret store)' : 'key file'}</dd>
      <dt>Stored once in</dt>
      <dd>
        {status.minZones} of {status.zones.length} zones
      </dd>
      <dt>Holds</dt>
      <dd>
        {status.counts.clusters} clusters, {status.counts.nodes} nodes, {status.counts.backups} base
        backups ({formatBytes(status.sizes.backupBytes)}), {status.counts.walSegments} WAL segments
        ({formatBytes(status.sizes.walBytes)}), {status.counts.restorePoints} restore points
      </dd>
      <dt>Backups from</dt>
      <dd>
        {formatTimestamp(status.oldestBackupAt)} to {formatTimestamp(status.newestBackupAt)}
      </dd>
    </dl>
  );
}

export function RepositoryCard({ summary }: { summary: RepositorySummary }) {
  const { config } = summary;
  const id = config.id;
  const job = useJobsStore(
    (s) =>
      Object.values(s.jobs)
        .filter((j) => j.subject === id && j.kind.startsWith('repositories.'))
        .sort((a, b) => b.createdAt.localeCompare(a.createdAt))[0],
  );
  const [status, setStatus] = useState<RepositoryStatus | null>(null);
  const [kit, setKit] = useState<string | null>(null);
  const [prune, setPrune] = useState<RetentionRun | null>(null);
  const [lockReason, setLockReason] = useState('');
  const [sample, setSample] = useState(false);
  const [busy, setBusy] = useState<string | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const openable = summary.state !== 'needs-secret' && summary.state !== 'error';
  const locked = summary.lock?.locked ?? false;

  const run = async (what: string, action: () => Promise<void>) => {
    setBusy(what);
    setProblem(null);
    try {
      await action();
    } catch (err) {
      setProblem(errorMessage(err));
    } finally {
      setBusy(null);
    }
  };
  const startJob = (what: string, start: () => Promise<Job>) =>
    run(what, async () => useJobsStore.getState().receive(await start()));

  return (
    <article className="card" data-testid={`repository-${id}`}>
      <header className="card-head">
        <div>
          <h3 className="card-title">
            {config.name}{' '}
            <span className={`badge badge-repo-${summary.state}`} data-testid="repository-state">
              {stateLabels[summary.state]}
            </span>{' '}
            {locked && <span className="badge badge-locked">Locked</span>}
          </h3>
          <div className="muted small">
            id <code>{id}</code> · retention {config.retentionDays} days · {config.zones.length}{' '}
            zone{config.zones.length === 1 ? '' : 's'}
          </div>
        </div>
      </header>
      {summary.problem && <ErrorNote>{summary.problem.message}</ErrorNote>}
      {summary.zones.length > 0 && <ZonesTable zones={summary.zones} />}
      {summary.lock && (
        <p className="small muted" data-testid="repository-lock">
          {summary.lock.locked ? 'Locked' : 'Unlocked'} by {summary.lock.changedBy} at{' '}
          {formatTimestamp(summary.lock.changedAt)}
          {summary.lock.reason && <> — “{summary.lock.reason}”</>}
          {summary.lock.locked &&
            '. No backup can be deleted and the retention window cannot shrink until it is unlocked.'}
        </p>
      )}
      {openable && (
        <div className="toolbar">
          <button
            type="button"
            className="button"
            disabled={busy !== null}
            onClick={() =>
              void run('status', async () =>
                setStatus(status ? null : await call('repositories.status', { id })),
              )
            }
          >
            {status ? 'Hide details' : 'Details'}
          </button>
          <button
            type="button"
            className="button"
            disabled={busy !== null}
            data-testid="repository-kit"
            onClick={() =>
              void run('kit', async () =>
                setKit(kit === null ? (await call('repositories.exportKit', { id })).kit : null),
              )
            }
          >
            {kit === null ? 'Export recovery kit' : 'Hide recovery kit'}
          </button>
          <span className="toolbar-group">
            <button
              type="button"
              className="button"
              disabled={busy !== null}
              onClick={() =>
                void startJob('verify', () =>
                  call('repositories.verify', { id, ...(sample ? { sample: 0.1 } : {}) }),
                )
              }
            >
              Verify
            </button>
            <label className="inline-label small">
              <input
                type="checkbox"
                checked={sample}
                onChange={(e) => setSample(e.target.checked)}
              />{' '}
              a 10 % sample
            </label>
          </span>
          <button
            type="button"
            className="button"
            disabled={busy !== null}
            onClick={() => void startJob('repair', () => call('repositories.repair', { id }))}
          >
            Repair
          </button>
          <button
            type="button"
            className="button"
            disabled={busy !== null}
            data-testid="repository-prune-dry-run"
            onClick={() =>
              void run('prune', async () =>
                setPrune((await call('repositories.prune', { id, dryRun: true })).run),
              )
            }
          >
            {busy === 'prune' ? 'Working out…' : 'Apply retention…'}
          </button>
        </div>
      )}
      {openable && (
        <div className="toolbar">
          <input
            type="text"
            value={lockReason}
            placeholder="reason (shown to everyone)"
            aria-label="Lock reason"
            maxLength={500}
            onChange={(e) => setLockReason(e.target.value)}
          />
          {locked ? (
            <ConfirmAction
              label="Unlock"
              confirmLabel="Unlock repository"
              onConfirm={() =>
                run('lock', async () => {
                  await call('repositories.unlock', { id, reason: lockReason });
                  setLockReason('');
                  await loadRepositories();
                })
              }
            >
              Unlocking allows deleting backups again: the daily retention run will delete
              everything older than the window, and the window can be shortened.
            </ConfirmAction>
          ) : (
            <button
              type="button"
              className="button"
              disabled={busy !== null}
              data-testid="repository-lock-button"
              onClick={() =>
                void run('lock', async () => {
                  await call('repositories.lock', { id, reason: lockReason });
                  setLockReason('');
                  await loadRepositories();
                })
              }
            >
              Lock
            </button>
          )}
        </div>
      )}
      {problem && <ErrorNote testId="repository-problem">{problem}</ErrorNote>}
      {status && <StatusDetails status={status} />}
      {kit !== null && (
        <div className="subpanel" data-testid="recovery-kit">
          <p className="text-warn">
            <strong>The kit alone opens nothing: the passphrase is still needed.</strong> Keep the
            kit and the passphrase in different safe places; together they open this repository on
            any machine, even if its keyring in the zones is lost.
          </p>
          <pre className="kit-text">{kit}</pre>
          <CopyButton text={kit} label="Copy kit" testId="recovery-kit-copy" />
        </div>
      )}
      {prune && (
        <>
          <PrunePreview run={prune} />
          <div className="toolbar">
            {prune.plan.totals.objects > 0 && !prune.locked && (
              <ConfirmAction
                label={`Delete ${prune.plan.totals.objects} objects…`}
                confirmLabel="Delete them"
                testId="repository-prune"
                onConfirm={() =>
                  startJob('prune-run', async () => {
                    const answer = await call('repositories.prune', { id, dryRun: false });
                    setPrune(null);
                    if (!answer.job) throw new Error('The engine started no deletion job.');
                    return answer.job;
                  })
                }
              >
                Deletes from every zone the {prune.plan.totals.objects} objects (
                {formatBytes(prune.plan.totals.bytes)}) listed above: backups, WAL and restore
                points older than the {prune.plan.retentionDays}-day window. Restores to those
                moments become impossible. This cannot be undone.
              </ConfirmAction>
            )}
            <button type="button" className="button" onClick={() => setPrune(null)}>
              Close
            </button>
          </div>
        </>
      )}
      {job && (
        <ul className="job-list compact-jobs">
          <JobRow job={job} />
        </ul>
      )}
    </article>
  );
}
