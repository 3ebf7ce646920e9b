import { useState } from 'react';
import { errorMessage } from '../../api/api-error.js';
import { call } from '../../api/call.js';
import type {
  ClusterCheckResult,
  ClusterSummary,
  NodeBackups,
  RestorePointRecord,
  WalNodeOverview,
  WalStatus,
} from '../../api/types.js';
import { formatBytes, formatTimestamp } from '../../format.js';
import { loadClusterDetails, loadClusters, useClustersStore } from '../../state/clusters-store.js';
import { isActive } from '../../state/job-merge.js';
import { useJobsStore } from '../../state/jobs-store.js';
import { navigate } from '../../state/navigation-store.js';
import { selectCluster } from '../../state/selection-store.js';
import { ConfirmAction } from '../ConfirmAction.js';
import { ErrorNote } from '../ErrorNote.js';
import { JobRow } from '../JobRow.js';
import { PreflightChecks } from '../PreflightChecks.js';
import { WalOverviewPanel } from './WalOverviewPanel.js';

const walStateLabels: Record<WalStatus['state'], string> = {
  starting: 'Starting',
  streaming: 'Streaming',
  reconnecting: 'Reconnecting',
  stopped: 'Stopped',
  failed: 'Failed',
};

function WalCell({ status }: { status: WalStatus | undefined }) {
  if (!status) return <span className="muted">not streamed by this app</span>;
  return (
    <div>
      <span className={`badge badge-wal-${status.state}`}>{walStateLabels[status.state]}</span>{' '}
      {status.storedLsn && <span className="mono small">stored to {status.storedLsn}</span>}
      {status.backlogBytes !== null && status.backlogBytes > 0 && (
        <div className="small muted">
          server keeps {formatBytes(status.backlogBytes)} for the slot
        </div>
      )}
      {status.lastError && <div className="small text-danger">{status.lastError.message}</div>}
    </div>
  );
}

function NodesTable({
  nodes,
  wal,
}: {
  nodes: NodeBackups[];
  wal: Record<string, WalStatus> | undefined;
}) {
  return (
    <table className="table" data-testid="cluster-nodes">
      <thead>
        <tr>
          <th scope="col">Node</th>
          <th scope="col">Role</th>
          <th scope="col">Address (pg_dist_node)</th>
          <th scope="col">WAL stream</th>
          <th scope="col">Last base backup</th>
        </tr>
      </thead>
      <tbody>
        {nodes.map((node) => {
          const last = node.backups[node.backups.length - 1];
          return (
            <tr
              key={node.nodeId}
              className={node.removedAt ? 'row-removed' : undefined}
              data-testid={`node-${node.nodeId}`}
            >
              <td className="mono">{node.nodeId}</td>
              <td>{node.role}</td>
              <td className="mono">
                {node.name}:{node.port}
                {node.removedAt && (
                  <div className="small muted">
                    removed {formatTimestamp(node.removedAt)}; backups kept
                  </div>
                )}
              </td>
              <td>
                <WalCell status={wal?.[node.nodeId]} />
              </td>
              <td>
                {last ? (
                  <>
                    {formatTimestamp(last.endedAt)}{' '}
                    <span className="muted small">({formatBytes(last.storedBytes)})</span>
                  </>
                ) : (
                  <span className="muted">none yet</span>
                )}
              </td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}

export function ClusterCard({
  summary,
  onRemoved,
}: {
  summary: ClusterSummary;
  onRemoved(message: string): void;
}) {
  const { config } = summary;
  const id = config.id;
  const nodes = useClustersStore((s) => s.nodes[id]);
  const wal = useClustersStore((s) => s.wal[id]);
  const backupJob = useJobsStore(
    (s) =>
      Object.values(s.jobs)
        .filter((j) => j.kind === 'backup' && j.subject === id)
        .sort((a, b) => b.createdAt.localeCompare(a.createdAt))[0],
  );
  const [check, setCheck] = useState<ClusterCheckResult | null>(null);
  const [walOverview, setWalOverview] = useState<WalNodeOverview[] | null>(null);
  const [label, setLabel] = useState('');
  const [point, setPoint] = useState<RestorePointRecord | null>(null);
  const [busy, setBusy] = useState<string | null>(null);
  const [problem, setProblem] = useState<string | null>(null);

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
  const streams = Object.values(wal ?? {});
  const streaming = streams.some((s) => s.state !== 'stopped' && s.state !== 'failed');
  const c = config.coordinator;
  const schedules = config.schedules;

  return (
    <article className="card" data-testid={`cluster-${id}`}>
      <header className="card-head">
        <div>
          <h2 className="card-title">{config.name}</h2>
          <div className="muted small">
            id <code>{id}</code> · repository <code>{config.repositoryId}</code> ·{' '}
            {schedules.restorePoints.enabled
              ? `a restore point every ${schedules.restorePoints.intervalMinutes} min`
              : 'no scheduled restore points'}{' '}
            · base backups{' '}
            {schedules.baseBackup.enabled ? (
              <code>{schedules.baseBackup.cron}</code>
            ) : (
              <span className="text-warn">not scheduled</span>
            )}
          </div>
        </div>
        <div className="card-actions">
          <button
            type="button"
            className="button"
            onClick={() => {
              selectCluster(id);
              navigate('timeline');
            }}
          >
            Timeline
          </button>
        </div>
      </header>
      <dl className="facts">
        <dt>Coordinator</dt>
        <dd className="mono">
          {c.user}@{c.host}:{c.port}/{c.database}
        </dd>
        <dt>TLS</dt>
        <dd>
          {c.sslmode}
          {c.caFile && (
            <span className="muted small">
              CA <code>{c.caFile}</code>
            </span>
          )}
        </dd>
        <dt>Password</dt>
        <dd>
          {summary.passwordSet ? (
            'stored in the secret store'
          ) : (
            <span className="text-warn">not stored: connections will fail</span>
          )}
        </dd>
      </dl>

      {nodes === undefined ? (
        <p className="muted">Loading nodes…</p>
      ) : 'error' in nodes ? (
        <ErrorNote title="The nodes could not be read from the repository">{nodes.error}</ErrorNote>
      ) : (
        <NodesTable nodes={nodes} wal={wal} />
      )}

      <div className="toolbar">
        <button
          type="button"
          className="button"
          disabled={busy !== null}
          data-testid="cluster-check"
          onClick={() =>
            void run('check', async () => setCheck(await call('clusters.check', { id })))
          }
        >
          {busy === 'check' ? 'Checking…' : 'Check'}
        </button>
        <button
          type="button"
          className="button"
          disabled={busy !== null}
          data-testid="cluster-wal-overview"
          title="Asks every node who streams its WAL, and where the repository's WAL ends"
          onClick={() =>
            void run('walOverview', async () =>
              setWalOverview(await call('wal.overview', { clusterId: id })),
            )
          }
        >
          {busy === 'walOverview' ? 'Asking the nodes…' : 'WAL archiving'}
        </button>
        <form
          className="inline-form"
          onSubmit={(e) => {
            e.preventDefault();
            void run('point', async () => {
              setPoint(
                await call('restorePoints.create', {
                  clusterId: id,
                  ...(label.trim() ? { label: label.trim() } : {}),
                }),
              );
              setLabel('');
            });
          }}
        >
          <input
            type="text"
            value={label}
            placeholder="label, e.g. before migration 42"
            aria-label="Restore point label"
            maxLength={200}
            data-testid="restore-point-label"
            onChange={(e) => setLabel(e.target.value)}
          />
          <button
            type="submit"
            className="button"
            disabled={busy !== null}
            data-testid="restore-point-create"
          >
            {busy === 'point' ? 'Creating…' : 'Create restore point'}
          </button>
        </form>
        <button
          type="button"
          className="button"
          disabled={busy !== null || (backupJob !== undefined && isActive(backupJob))}
          data-testid="cluster-backup"
          onClick={() =>
            void run('backup', async () =>
              useJobsStore.getState().receive(await call('backups.start', { clusterId: id })),
            )
          }
        >
          Back up now
        </button>
        {streaming ? (
          <ConfirmAction
            label="Stop WAL streaming"
            confirmLabel="Stop streaming"
            onConfirm={() =>
              run('wal', async () => void (await call('wal.stop', { clusterId: id })))
            }
          >
            Stops this app’s WAL streams of every node. The replication slots keep the WAL on the
            servers until streaming resumes, so <strong>pg_wal grows meanwhile</strong>; restore
            points after now cannot become restorable until it does.
          </ConfirmAction>
        ) : (
          <button
            type="button"
            className="button"
            disabled={busy !== null}
            onClick={() =>
              void run('wal', async () => void (await call('wal.start', { clusterId: id })))
            }
          >
            Start WAL streaming
          </button>
        )}
        <span className="toolbar-spacer" />
        <ConfirmAction
          label="Remove"
          confirmLabel="Remove cluster"
          testId="cluster-remove"
          onConfirm={() =>
            run('remove', async () => {
              const removed = await call('clusters.remove', { id });
              onRemoved(removed.message);
              await loadClusters();
            })
          }
        >
          Tidemark stops backing up <strong>{config.name}</strong> and forgets its stored password.{' '}
          <strong>Nothing is deleted</strong>: its base backups, WAL and restore points stay in
          repository <code>{config.repositoryId}</code> and can still be restored. The cluster
          itself is not touched.
        </ConfirmAction>
      </div>

      {problem && <ErrorNote testId="cluster-problem">{problem}</ErrorNote>}
      {point && (
        <p className="note" data-testid="restore-point-created">
          Restore point <code>{point.name}</code>
          {point.label && <> (“{point.label}”)</>} created at {formatTimestamp(point.createdAt)} on{' '}
          {Object.keys(point.nodeLsns).length} nodes —{' '}
          {point.status === 'restorable'
            ? 'restorable.'
            : 'restorable once the WAL of every node has been archived past it.'}
        </p>
      )}
      {backupJob && (
        <ul className="job-list compact-jobs">
          <JobRow job={backupJob} />
        </ul>
      )}
      {walOverview && (
        <div className="subpanel" data-testid="cluster-wal-overview-result">
          <p>
            <strong>WAL archiving</strong>{' '}
            <span className="muted small">as each node's server and the repository see it</span>{' '}
            <button
              type="button"
              className="button button-small"
              onClick={() => setWalOverview(null)}
            >
              Hide
            </button>
          </p>
          <WalOverviewPanel nodes={walOverview} />
        </div>
      )}
      {check && (
        <div className="subpanel" data-testid="cluster-check-result">
          <p>
            <strong>{check.passed ? 'Every check passed' : 'Some checks failed'}</strong>{' '}
            <span className="muted small">({formatTimestamp(check.checkedAt)})</span>{' '}
            <button type="button" className="button button-small" onClick={() => setCheck(null)}>
              Hide
            </button>
          </p>
          <PreflightChecks checks={check.checks} />
        </div>
      )}
      <button
        type="button"
        className="link-button small"
        onClick={() => void loadClusterDetails(id)}
      >
        Reload nodes
      </button>
    </article>
  );
}
