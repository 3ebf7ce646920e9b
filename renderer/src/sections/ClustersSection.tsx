import { useState } from 'react';
import { AddClusterForm } from '../components/clusters/AddClusterForm.js';
import { ClusterCard } from '../components/clusters/ClusterCard.js';
import { EmptyState } from '../components/EmptyState.js';
import { useClustersStore } from '../state/clusters-store.js';

export function ClustersSection() {
  const clusters = useClustersStore((s) => s.clusters);
  const loaded = useClustersStore((s) => s.loaded);
  const error = useClustersStore((s) => s.error);
  const [adding, setAdding] = useState(false);
  const [notice, setNotice] = useState<string | null>(null);

  return (
    <section className="section" data-testid="section-clusters">
      <div className="section-head">
        <h1>Clusters</h1>
        {!adding && (
          <button
            type="button"
            className="button button-primary"
            data-testid="add-cluster"
            onClick={() => setAdding(true)}
          >
            Add cluster
          </button>
        )}
      </div>
      {notice && (
        <div className="note note-ok" data-testid="clusters-notice">
          {notice}{' '}
          <button type="button" className="link-button" onClick={() => setNotice(null)}>
            Dismiss
          </button>
        </div>
      )}
      {adding && <AddClusterForm onClose={() => setAdding(false)} />}
      {!loaded ? (
        <p className="muted">
          {error ? `The clusters could not be loaded: ${error}` : 'Loading clusters…'}
        </p>
      ) : clusters.length === 0 ? (
        !adding && (
          <EmptyState title="No cluster yet — add one">
            <p>Adding a Citus cluster asks for:</p>
            <ul className="plain-list">
              <li>
                the coordinator’s host and port, and the database where the <code>citus</code>{' '}
                extension is installed;
              </li>
              <li>
                a superuser role that may also replicate (<code>REPLICATION</code>), used for base
                backups, WAL streaming and restore points;
              </li>
              <li>its password, kept in the system’s secret store, never in a settings file;</li>
              <li>a repository for its backups (Settings → Repositories).</li>
            </ul>
            <p className="muted">
              Every node is checked before the cluster is added; a failed check comes with the exact
              fix.
            </p>
          </EmptyState>
        )
      ) : (
        <div className="cards">
          {clusters.map((c) => (
            <ClusterCard key={c.config.id} summary={c} onRemoved={setNotice} />
          ))}
        </div>
      )}
    </section>
  );
}
