// Modules the engine runs on worker threads: every bundle that holds the engine gets them
// emitted beside it, with its own extension (main/engine/threads/worker-entry.ts finds them).
export const workerEntries = { 'archive-extract-worker': 'main/engine/restore/archive-extract-worker.ts' };
