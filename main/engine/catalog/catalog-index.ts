import { z } from 'zod';
import {
  baseBackupRecordSchema,
  clusterRecordSchema,
  nodeRecordSchema,
  restorePointRecordSchema,
  walGapRecordSchema,
  type RestorePointRecord,
} from './records.js';

/** What the local index holds for one node. WAL segment names are kept sorted. */
export const nodeIndexSchema = z.object({
  record: nodeRecordSchema,
  backups: z.array(baseBackupRecordSchema),
  walSegments: z.array(z.string()),
  /** segment name → plaintext bytes stored so far */
  walPartials: z.record(z.string(), z.number().int()),
  histories: z.array(z.number().int()),
  gaps: z.array(walGapRecordSchema),
});
export type NodeIndex = z.infer<typeof nodeIndexSchema>;

export const clusterIndexSchema = z.object({
  record: clusterRecordSchema,
  nodes: z.record(z.string(), nodeIndexSchema),
  /** sorted by createdAt, then name */
  restorePoints: z.array(restorePointRecordSchema),
});
export type ClusterIndex = z.infer<typeof clusterIndexSchema>;

export const catalogIndexSchema = z.object({
  version: z.literal(1),
  repositoryId: z.string(),
  builtAt: z.iso.datetime(),
  clusters: z.record(z.string(), clusterIndexSchema),
});
export type CatalogIndex = z.infer<typeof catalogIndexSchema>;

export function compareRestorePoints(a: RestorePointRecord, b: RestorePointRecord): number {
  return a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/** Index of the first element for which `isAtOrAfter` holds, in a sorted array. */
export function lowerBound<T>(items: readonly T[], isAtOrAfter: (item: T) => boolean): number {
  let lo = 0;
  let hi = items.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (isAtOrAfter(items[mid]!)) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/** Inserts into a sorted array, replacing an equal element. */
export function upsertSorted<T>(items: T[], item: T, compare: (a: T, b: T) => number): void {
  const at = lowerBound(items, (x) => compare(x, item) >= 0);
  if (at < items.length && compare(items[at]!, item) === 0) items[at] = item;
  else items.splice(at, 0, item);
}
