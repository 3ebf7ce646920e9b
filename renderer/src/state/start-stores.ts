import { setBridge, subscribe } from '../api/call.js';
import type { Transport } from '../api/transport.js';
import { loadAppInfo } from './app-info-store.js';
import { useConnectionStore } from './connection-store.js';
import { loadJobs, useJobsStore } from './jobs-store.js';
import { followLocationHash } from './navigation-store.js';
import { loadSettings } from './settings-store.js';

function loadAll(): void {
  void loadAppInfo();
  void loadSettings();
  void loadJobs();
}

/**
 * Wires the stores to the engine: initial loads, pushed job updates, and a fresh load after
 * every reconnect, since events sent while disconnected are lost.
 */
export function startStores(transport: Transport): void {
  setBridge(transport.bridge);
  followLocationHash();
  subscribe('job.updated', (job) => useJobsStore.getState().receive(job));
  useConnectionStore.setState({ status: transport.connection.status() });
  transport.connection.onChange((status) => {
    const previous = useConnectionStore.getState().status;
    useConnectionStore.setState({ status });
    // The first open flushes the calls queued below; only a comeback needs a reload.
    if (status === 'open' && previous === 'reconnecting') loadAll();
  });
  loadAll();
}
