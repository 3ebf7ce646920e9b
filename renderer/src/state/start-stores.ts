import { setBridge, subscribe } from '../api/call.js';
import type { Transport } from '../api/transport.js';
import type { Job } from '../api/types.js';
import { loadAppInfo } from './app-info-store.js';
import { loadClusterDetails, loadClusters, receiveWalStatus } from './clusters-store.js';
import { useConnectionStore } from './connection-store.js';
import { isActive } from './job-merge.js';
import { loadJobs, useJobsStore } from './jobs-store.js';
import { followLocationHash } from './navigation-store.js';
import { loadRepositories } from './repositories-store.js';
import { loadRestores } from './restores-store.js';
import { loadSettings } from './settings-store.js';

function loadAll(): void {
  void loadAppInfo();
  void loadSettings();
  void loadJobs();
  void loadClusters();
  void loadRepositories();
  void loadRestores();
}

/** Job kinds whose end changes what other sections show. */
const reloadOnEnd: Record<string, (job: Job) => void> = {
  restore: () => void loadRestores(),
  backup: (job) => {
    if (job.subject) void loadClusterDetails(job.subject);
  },
  'repositories.prune': () => void loadRepositories(),
  'repositories.repair': () => void loadRepositories(),
  'repositories.destroy': () => void loadRepositories(),
};

/**
 * Wires the stores to the engine: initial loads, pushed updates, and a fresh load after
 * every reconnect, since events sent while disconnected are lost.
 */
export function startStores(transport: Transport): void {
  setBridge(transport.bridge);
  followLocationHash();
  subscribe('job.updated', (job) => {
    const held = useJobsStore.getState().jobs[job.id];
    useJobsStore.getState().receive(job);
    const ended = !isActive(job) && (!held || isActive(held));
    if (ended) reloadOnEnd[job.kind]?.(job);
    // a restore's record (its nodes, its checklist) is written as it goes
    if (job.kind === 'restore' && held && held.phase !== job.phase) void loadRestores();
  });
  subscribe('wal.status', receiveWalStatus);
  subscribe('backup.completed', (event) => void loadClusterDetails(event.clusterId));
  subscribe('cluster.topologyChanged', (event) => void loadClusterDetails(event.clusterId));
  useConnectionStore.setState({ status: transport.connection.status() });
  transport.connection.onChange((status) => {
    const previous = useConnectionStore.getState().status;
    useConnectionStore.setState({ status });
    // The first open flushes the calls queued below; only a comeback needs a reload.
    if (status === 'open' && previous === 'reconnecting') loadAll();
  });
  loadAll();
}
