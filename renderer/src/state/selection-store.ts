import { create } from 'zustand';

/** The cluster the Timeline and Restore sections look at, shared so switching sections keeps it. */
interface SelectionState {
  clusterId: string | null;
}

export const useSelectionStore = create<SelectionState>()(() => ({ clusterId: null }));

export function selectCluster(clusterId: string | null): void {
  useSelectionStore.setState({ clusterId });
}
