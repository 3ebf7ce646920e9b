import { create } from 'zustand';
import { errorMessage } from '../api/api-error.js';
import { call } from '../api/call.js';
import type { RestoreRecord } from '../api/types.js';
import type { TargetForm } from '../forms/restore-form.js';
import { reportLoadError } from './load-error.js';
import { navigate } from './navigation-store.js';

interface RestoresState {
  restores: RestoreRecord[];
  loaded: boolean;
  error: string | null;
  /** set by "Restore to this point" on the timeline; the wizard takes it once */
  draft: { clusterId: string; target: TargetForm; seq: number } | null;
}

export const useRestoresStore = create<RestoresState>()(() => ({
  restores: [],
  loaded: false,
  error: null,
  draft: null,
}));

export async function loadRestores(): Promise<void> {
  try {
    useRestoresStore.setState({
      restores: await call('restores.list', {}),
      loaded: true,
      error: null,
    });
  } catch (err) {
    useRestoresStore.setState({ error: errorMessage(err) });
    reportLoadError(err);
  }
}

let draftSeq = 0;

/** Opens the Restore section with the target filled in. */
export function startRestoreDraft(clusterId: string, target: TargetForm): void {
  useRestoresStore.setState({ draft: { clusterId, target, seq: ++draftSeq } });
  navigate('restore');
}

/** A restore record changed (a checklist tick): keep the list in step without reloading it. */
export function receiveRestore(record: RestoreRecord): void {
  useRestoresStore.setState((state) => ({
    restores: state.restores.some((r) => r.id === record.id)
      ? state.restores.map((r) => (r.id === record.id ? record : r))
      : [record, ...state.restores],
  }));
}
