import { createHash } from 'node:crypto';

const maxSlotName = 63;

/**
 * The physical replication slot Tidemark streams a node's WAL through:
 * `tidemark_<cluster>_<node>`, lower-case letters, digits and underscores, at most 63
 * characters. A longer name keeps its start and ends in a hash of the full name, so two
 * clusters never share a slot.
 */
export function walSlotName(clusterId: string, nodeId: string): string {
  const full = `tidemark_${clusterId}_${nodeId}`.toLowerCase().replace(/[^a-z0-9_]/g, '_');
  if (full.length <= maxSlotName) return full;
  const hash = createHash('sha256').update(full).digest('hex').slice(0, 8);
  return `${full.slice(0, maxSlotName - hash.length - 1)}_${hash}`;
}

/** `tidemark-wal <cluster>/<node>`: how the walsender shows up in pg_stat_replication. */
export function walApplicationName(clusterId: string, nodeId: string): string {
  return `tidemark-wal ${clusterId}/${nodeId}`;
}

export function backupApplicationName(clusterId: string, nodeId: string): string {
  return `tidemark-backup ${clusterId}/${nodeId}`;
}
