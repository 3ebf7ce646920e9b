import { EmptyState } from '../components/EmptyState.js';

export function ClustersSection() {
  return (
    <section className="section" data-testid="section-clusters">
      <h1>Clusters</h1>
      <EmptyState title="No cluster yet — add one">
        <p>Adding a Citus cluster will ask for:</p>
        <ul className="plain-list">
          <li>
            the coordinator’s host and port, and the database where the <code>citus</code> extension
            is installed;
          </li>
          <li>
            a superuser role that may also replicate (<code>REPLICATION</code>), used for base
            backups, WAL streaming and restore points;
          </li>
          <li>its password, kept in the system’s secret store, never in a settings file;</li>
          <li>
            optionally, a different host or port per worker, when the names in{' '}
            <code>pg_dist_node</code> cannot be reached from this computer.
          </li>
        </ul>
        <p className="muted">
          This version cannot add clusters yet: the form here and <code>tidemark cluster add</code>{' '}
          arrive with cluster support.
        </p>
      </EmptyState>
    </section>
  );
}
