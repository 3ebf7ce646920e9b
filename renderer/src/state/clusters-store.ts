import { create } from 'zustand';
import { errorMessage } from '../api/api-error.js';
import { call } from '../api/call.js';
import type { ClusterSummary, NodeBackups, WalStatus } from '../api/types.js';
import { reportLoadError } from './load-error.js';

interface ClustersState {
  clusters: ClusterSummary[];
  loaded: boolean;
  error: string | null;
  /** cluster id → its nodes and their backups (from the catalog) */
  nodes: Record<string, NodeBackups[] | { error: string }>;
  /** cluster id → node id → the node's WAL stream in this process */
  wal: Record<string, Record<string, WalStatus>>;
}

export const useClustersStore = create<ClustersState>()(() => ({
  clusters: [],
  loaded: false,
  error: null,
  nodes: {},
  wal: {},
}));

export async function loadClusters(): Promise<void> {
  try {
    const clusters = await call('clusters.list', {});
    useClustersStore.setState({ clusters, loaded: true, error: null });
    await Promise.all(clusters.map((c) => loadClusterDetails(c.config.id)));
  } catch (err) {
    useClustersStore.setState({ error: errorMessage(err) });
    reportLoadError(err);
  }
}

/** Nodes with their backups, and the WAL streams: each may fail on its own (a locked-out repository). */
export async function loadClusterDetails(clusterId: string): Promise<void> {
  const [nodes, wal] = await Promise.allSettled([
    call('backups.list', { clusterId }),
    call('wal.status', { clusterId }),
  ]);
  useClustersStore.setState((state) => ({
    nodes: {
      ...state.nodes,
      [clusterId]:
        nodes.status === 'fulfilled' ? nodes.value : { error: errorMessage(nodes.reason) },
    },
    wal:
      wal.status === 'fulfilled'
        ? { ...state.wal, [clusterId]: Object.fromEntries(wal.value.map((s) => [s.nodeId, s])) }
        : state.wal,
  }));
}

/** A pushed change of one WAL stream. */
export function receiveWalStatus(status: WalStatus): void {
  useClustersStore.setState((state) => ({
    wal: {
      ...state.wal,
      [status.clusterId]: { ...state.wal[status.clusterId], [status.nodeId]: status },
    },
  }));
}
