import { create } from 'zustand';
import { errorMessage } from '../api/api-error.js';
import { call } from '../api/call.js';
import type { RepositorySummary } from '../api/types.js';
import { reportLoadError } from './load-error.js';

interface RepositoriesState {
  repositories: RepositorySummary[];
  loaded: boolean;
  error: string | null;
}

export const useRepositoriesStore = create<RepositoriesState>()(() => ({
  repositories: [],
  loaded: false,
  error: null,
}));

/** Lists the repositories with zone health; every zone is probed, so this takes a moment. */
export async function loadRepositories(): Promise<void> {
  try {
    useRepositoriesStore.setState({
      repositories: await call('repositories.list', {}),
      loaded: true,
      error: null,
    });
  } catch (err) {
    useRepositoriesStore.setState({ error: errorMessage(err) });
    reportLoadError(err);
  }
}
