import { throwIfAborted } from '../errors.js';
import type { Repository } from '../repository/repository.js';
import type { Catalog, NodeForget } from './catalog.js';
import { parseCatalogKey } from './key-parser.js';
import { baseBackupRecordSchema } from './records.js';
import {
  planRetention,
  type PlannedDeletion,
  type RetentionInput,
  type RetentionNode,
  type RetentionPlan,
} from './retention.js';

export interface RetentionRun {
  plan: RetentionPlan;
  /** the repository's lock at planning time: a locked repository deletes nothing */
  locked: boolean;
  /** zones that could not be listed: their copies are not in the plan and stay */
  unreachableZones: string[];
}

export interface RetentionResult {
  deleted: number;
  bytes: number;
  /** objects deleted from some zones only; the others keep an orphan until the next prune */
  incomplete: { key: string; zones: string[] }[];
}

/** Lists the zones and the catalog and plans what the repository's window lets go. */
export async function planRepositoryRetention(
  repository: Repository,
  catalog: Catalog,
  options: { now?: Date; retentionDays?: number } = {},
): Promise<RetentionRun> {
  const listing = await repository.list('clusters/');
  const objects = listing.objects.map((o) => ({
    key: o.key,
    bytes: Math.max(...o.zones.map((z) => z.size)),
    modified: new Date(Math.max(...o.zones.map((z) => z.modified.getTime()))),
  }));
  const nodes: RetentionNode[] = [];
  const listedRecords = new Set(
    objects.map((o) => o.key).filter((key) => parseCatalogKey(key).kind === 'backup-record'),
  );
  for (const cluster of catalog.clusters()) {
    for (const node of catalog.nodes(cluster.clusterId)) {
      const backups = node.backups.map((b) => ({
        backupId: b.backupId,
        startedAt: b.startedAt,
        startLsn: b.startLsn,
        timeline: b.timeline,
      }));
      const known = new Set(backups.map((b) => b.backupId));
      // a record the index lacks (a zone kept it when a delete missed, or another machine wrote it)
      for (const key of listedRecords) {
        const parsed = parseCatalogKey(key);
        if (
          parsed.kind !== 'backup-record' ||
          parsed.cluster !== cluster.clusterId ||
          parsed.node !== node.record.nodeId ||
          known.has(parsed.backup)
        )
          continue;
        const record = await repository.readRecord(key, baseBackupRecordSchema).catch(() => null);
        if (record)
          backups.push({
            backupId: record.backupId,
            startedAt: record.startedAt,
            startLsn: record.startLsn,
            timeline: record.timeline,
          });
      }
      nodes.push({
        clusterId: cluster.clusterId,
        nodeId: node.record.nodeId,
        segmentSize: node.record.walSegmentSize,
        backups,
        gaps: node.gaps,
      });
    }
  }
  const input: RetentionInput = {
    now: options.now ?? new Date(),
    retentionDays: options.retentionDays ?? repository.config.retentionDays,
    objects,
    nodes,
    restorePoints: catalog.clusters().flatMap((c) => catalog.restorePoints(c.clusterId)),
  };
  const lock = await repository.lockState();
  return {
    plan: planRetention(input),
    locked: lock.locked,
    unreachableZones: listing.unreachable.map((u) => u.zoneId),
  };
}

/**
 * Deletes what a plan lists, in its order, and keeps the local index in step. Every delete
 * goes through the repository, which refuses it while the repository is locked, so a lock
 * set mid-run stops the run at the next object.
 */
export async function executeRetention(
  repository: Repository,
  catalog: Catalog,
  plan: RetentionPlan,
  options: {
    signal?: AbortSignal;
    onProgress?: (done: number, total: number, bytes: number) => void;
  } = {},
): Promise<RetentionResult> {
  await repository.assertUnlocked('delete backups past the retention window');
  const result: RetentionResult = { deleted: 0, bytes: 0, incomplete: [] };
  const pending: PlannedDeletion[] = [];
  try {
    for (const deletion of plan.deletions) {
      throwIfAborted(options.signal);
      const outcome = await repository.delete(deletion.key);
      if (outcome.missed.length > 0)
        result.incomplete.push({ key: deletion.key, zones: outcome.missed.map((m) => m.zoneId) });
      result.deleted += 1;
      result.bytes += deletion.bytes;
      pending.push(deletion);
      // a deleted backup record leaves the index at once: the backup no longer exists
      if (deletion.kind === 'backup-record' || pending.length >= 500)
        forgetInIndex(catalog, pending.splice(0));
      options.onProgress?.(result.deleted, plan.deletions.length, result.bytes);
    }
  } finally {
    forgetInIndex(catalog, pending);
    await catalog.flush();
  }
  return result;
}

/** Removes deleted objects from the local index (the zones are already without them). */
function forgetInIndex(catalog: Catalog, deletions: readonly PlannedDeletion[]): void {
  const points = new Map<string, string[]>();
  const perNode = new Map<
    string,
    Required<NodeForget>
  >();
  for (const d of deletions) {
    if (d.kind === 'restore-point') {
      points.set(d.clusterId, [...(points.get(d.clusterId) ?? []), d.name!]);
      continue;
    }
    const nodeId = d.nodeId!;
    if (!catalog.node(d.clusterId, nodeId)) continue;
    const key = `${d.clusterId}/${nodeId}`;
    const entry = perNode.get(key) ?? { cluster: d.clusterId, node: nodeId, backups: [], walSegments: [], walPartials: [], histories: [], gaps: [] };
    perNode.set(key, entry);
    switch (d.kind) {
      case 'backup-record':
        entry.backups.push(d.backupId!);
        break;
      case 'wal-segment':
        entry.walSegments.push(d.name!);
        break;
      case 'wal-partial':
        entry.walPartials.push(d.name!);
        break;
      case 'wal-history':
        entry.histories.push(Number(d.name));
        break;
      case 'wal-gap':
        entry.gaps.push(d.name!);
        break;
      default:
        break;
    }
  }
  for (const [cluster, names] of points)
    if (catalog.cluster(cluster)) catalog.forget({ cluster, restorePoints: names });
  for (const change of perNode.values()) catalog.forget(change);
}
