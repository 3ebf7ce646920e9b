import {
  formatLsn,
  parseLsn,
  parseWalSegmentFileName,
  segmentNumberOf,
  walSegmentFileName,
} from '../replication/lsn.js';
import { parseCatalogKey } from './key-parser.js';
import { layout } from './layout.js';
import { gapKey } from './records.js';

const dayMs = 24 * 60 * 60 * 1000;
/** a backup without a completion record may still be running: leave its parts at least this long */
const orphanGraceMs = 7 * dayMs;

export interface RetentionObject {
  key: string;
  /** stored bytes (the largest copy among the zones) */
  bytes: number;
  modified: Date;
}

export interface RetentionNode {
  clusterId: string;
  nodeId: string;
  segmentSize: number;
  backups: readonly { backupId: string; startedAt: string; startLsn: string; timeline: number }[];
  gaps: readonly { timeline: number; fromLsn: string; toLsn: string }[];
}

export interface RetentionInput {
  now: Date;
  retentionDays: number;
  /** every object of the repository (a listing of the zones, so orphans are seen too) */
  objects: readonly RetentionObject[];
  nodes: readonly RetentionNode[];
  restorePoints: readonly { clusterId: string; name: string; createdAt: string }[];
}

export type DeletionKind =
  | 'restore-point'
  | 'backup-record'
  | 'backup-part'
  | 'orphan-backup-part'
  | 'wal-segment'
  | 'wal-partial'
  | 'wal-history'
  | 'wal-gap';

export interface PlannedDeletion {
  key: string;
  bytes: number;
  kind: DeletionKind;
  clusterId: string;
  nodeId?: string;
  backupId?: string;
  /** segment name, restore point name or timeline, for updating the catalog */
  name?: string;
}

export interface NodeRetention {
  clusterId: string;
  nodeId: string;
  keptBackups: string[];
  deletedBackups: string[];
  /** WAL before this point (on this timeline and its ancestors) goes; null: none does */
  walCutoff: { timeline: number; lsn: string; segment: string } | null;
}

export interface RetentionPlan {
  now: string;
  retentionDays: number;
  /** the oldest moment that must stay restorable */
  windowStart: string;
  /** in the order they must be deleted: restore points, then each backup record before its parts, then WAL */
  deletions: PlannedDeletion[];
  nodes: NodeRetention[];
  totals: { objects: number; bytes: number };
}

/**
 * Decides what a retention window lets go. Per node, the newest base backup that started at
 * or before the window's start is kept with every newer one, so any moment inside the window
 * stays restorable; older backups go, and WAL that only they needed. Pure: the caller lists
 * the repository and executes the plan.
 */
export function planRetention(input: RetentionInput): RetentionPlan {
  const windowStart = new Date(input.now.getTime() - input.retentionDays * dayMs);
  const orphanCutoff = new Date(
    Math.min(windowStart.getTime(), input.now.getTime() - orphanGraceMs),
  );
  const windowIso = windowStart.toISOString();
  const byNode = groupObjectsByNode(input.objects);
  const sizeOf = new Map(input.objects.map((o) => [o.key, o.bytes]));
  const deletions: PlannedDeletion[] = [];
  const nodes: NodeRetention[] = [];

  // Restore points first: one must never outlive the WAL it points into.
  const listedPoints = new Set(
    input.objects.filter((o) => parseCatalogKey(o.key).kind === 'restore-point').map((o) => o.key),
  );
  for (const point of input.restorePoints) {
    if (point.createdAt >= windowIso) continue;
    const key = layout.restorePoint(point.clusterId, new Date(point.createdAt), point.name);
    listedPoints.delete(key);
    deletions.push({
      key,
      bytes: sizeOf.get(key) ?? 0,
      kind: 'restore-point',
      clusterId: point.clusterId,
      name: point.name,
    });
  }
  // points of earlier days that the index no longer knows (a delete that missed a zone)
  const windowDay = windowIso.slice(0, 10).replaceAll('-', '');
  for (const key of listedPoints) {
    const match = /^clusters\/([^/]+)\/restore-points\/(\d{8})\/([^/]+)\.json$/.exec(key);
    if (match && match[2]! < windowDay) {
      deletions.push({
        key,
        bytes: sizeOf.get(key) ?? 0,
        kind: 'restore-point',
        clusterId: match[1]!,
        name: match[3]!,
      });
    }
  }

  for (const node of input.nodes) {
    const objects = byNode.get(`${node.clusterId}/${node.nodeId}`) ?? emptyNodeObjects();
    const backups = [...node.backups].sort((a, b) =>
      a.startedAt < b.startedAt ? -1 : a.startedAt > b.startedAt ? 1 : 0,
    );
    let anchor = -1;
    backups.forEach((b, i) => {
      if (b.startedAt <= windowIso) anchor = i;
    });
    const dropped = anchor > 0 ? backups.slice(0, anchor) : [];
    const kept = anchor > 0 ? backups.slice(anchor) : backups;
    const base = { clusterId: node.clusterId, nodeId: node.nodeId };

    for (const backup of dropped) {
      // the record first: a half-deleted backup must never look complete
      const record = layout.backupRecord(node.clusterId, node.nodeId, backup.backupId);
      deletions.push({
        ...base,
        key: record,
        bytes: sizeOf.get(record) ?? 0,
        kind: 'backup-record',
        backupId: backup.backupId,
      });
      for (const part of objects.backupParts.get(backup.backupId) ?? []) {
        deletions.push({
          ...base,
          key: part.key,
          bytes: part.bytes,
          kind: 'backup-part',
          backupId: backup.backupId,
        });
      }
    }
    const known = new Set(node.backups.map((b) => b.backupId));
    for (const [backupId, parts] of objects.backupParts) {
      if (known.has(backupId) || objects.backupRecords.has(backupId)) continue;
      if (parts.every((p) => p.modified < orphanCutoff)) {
        for (const part of parts)
          deletions.push({
            ...base,
            key: part.key,
            bytes: part.bytes,
            kind: 'orphan-backup-part',
            backupId,
          });
      }
    }

    // WAL before the oldest kept backup serves no restore; cut it only once that backup
    // covers the window's start (without such a backup the node's history is still young).
    const oldestKept = anchor >= 0 ? kept[0] : undefined;
    let walCutoff: NodeRetention['walCutoff'] = null;
    if (oldestKept) {
      const cutoffLsn = parseLsn(oldestKept.startLsn);
      const cutoffSegment = segmentNumberOf(cutoffLsn, node.segmentSize);
      const cutoffTimeline = oldestKept.timeline;
      walCutoff = {
        timeline: cutoffTimeline,
        lsn: formatLsn(cutoffLsn),
        segment: walSegmentFileName(cutoffTimeline, cutoffSegment, node.segmentSize),
      };
      const minKeptTimeline = Math.min(...kept.map((b) => b.timeline));
      const older = (name: string) => {
        const parsed = parseWalSegmentFileName(name, node.segmentSize);
        return (
          parsed !== null &&
          parsed.timeline <= cutoffTimeline &&
          parsed.segmentNumber < cutoffSegment
        );
      };
      for (const wal of objects.segments)
        if (older(wal.name))
          deletions.push({
            ...base,
            key: wal.key,
            bytes: wal.bytes,
            kind: 'wal-segment',
            name: wal.name,
          });
      for (const wal of objects.partials)
        if (older(wal.name))
          deletions.push({
            ...base,
            key: wal.key,
            bytes: wal.bytes,
            kind: 'wal-partial',
            name: wal.name,
          });
      for (const history of objects.histories) {
        if (history.timeline < minKeptTimeline)
          deletions.push({
            ...base,
            key: history.key,
            bytes: history.bytes,
            kind: 'wal-history',
            name: String(history.timeline),
          });
      }
      for (const gap of node.gaps) {
        if (gap.timeline <= cutoffTimeline && parseLsn(gap.toLsn) <= cutoffLsn) {
          const key = layout.walGap(
            node.clusterId,
            node.nodeId,
            gap.timeline,
            gap.fromLsn.replace('/', '-'),
          );
          deletions.push({
            ...base,
            key,
            bytes: sizeOf.get(key) ?? 0,
            kind: 'wal-gap',
            name: gapKey(gap),
          });
        }
      }
    }
    nodes.push({
      ...base,
      keptBackups: kept.map((b) => b.backupId),
      deletedBackups: dropped.map((b) => b.backupId),
      walCutoff,
    });
  }

  return {
    now: input.now.toISOString(),
    retentionDays: input.retentionDays,
    windowStart: windowIso,
    deletions,
    nodes,
    totals: { objects: deletions.length, bytes: deletions.reduce((sum, d) => sum + d.bytes, 0) },
  };
}

interface NodeObjects {
  backupRecords: Set<string>;
  backupParts: Map<string, RetentionObject[]>;
  segments: (RetentionObject & { name: string })[];
  partials: (RetentionObject & { name: string })[];
  histories: (RetentionObject & { timeline: number })[];
}

function emptyNodeObjects(): NodeObjects {
  return {
    backupRecords: new Set(),
    backupParts: new Map(),
    segments: [],
    partials: [],
    histories: [],
  };
}

function groupObjectsByNode(objects: readonly RetentionObject[]): Map<string, NodeObjects> {
  const byNode = new Map<string, NodeObjects>();
  const of = (cluster: string, node: string) => {
    const id = `${cluster}/${node}`;
    let entry = byNode.get(id);
    if (!entry) byNode.set(id, (entry = emptyNodeObjects()));
    return entry;
  };
  for (const object of objects) {
    const parsed = parseCatalogKey(object.key);
    switch (parsed.kind) {
      case 'backup-record':
        of(parsed.cluster, parsed.node).backupRecords.add(parsed.backup);
        break;
      case 'backup-part': {
        const parts = of(parsed.cluster, parsed.node).backupParts;
        parts.set(parsed.backup, [...(parts.get(parsed.backup) ?? []), object]);
        break;
      }
      case 'wal-segment':
        of(parsed.cluster, parsed.node).segments.push({ ...object, name: parsed.segment });
        break;
      case 'wal-partial':
        of(parsed.cluster, parsed.node).partials.push({ ...object, name: parsed.segment });
        break;
      case 'wal-history':
        of(parsed.cluster, parsed.node).histories.push({ ...object, timeline: parsed.timeline });
        break;
      default:
        break;
    }
  }
  return byNode;
}
