import { storedBackupBytes } from '../catalog/backup-summary.js';
import type { Catalog } from '../catalog/catalog.js';
import type { NodeIndex } from '../catalog/catalog-index.js';
import { layout } from '../catalog/layout.js';
import type { BaseBackupRecord, RestorePointRecord } from '../catalog/records.js';
import { parseTimelineHistory } from '../catalog/wal-continuity.js';
import { TidemarkError } from '../errors.js';
import { compareLsn, formatLsn, parseLsn, parseTimelineHistoryFileName, segmentOffsetOf } from '../replication/lsn.js';
import { timelinePath, walFilesForRange } from './wal-path.js';

export type RestoreTarget =
  | { kind: 'latest' }
  | { kind: 'earliest' }
  | { kind: 'time'; at: Date }
  | { kind: 'point'; name: string };

export interface NodePlan {
  nodeId: string;
  role: 'coordinator' | 'worker';
  /** where the node ran in the source cluster (for the metadata rewrite) */
  sourceName: string;
  sourcePort: number;
  distNodeId: number | null;
  backup: BaseBackupRecord;
  /** an LSN at or after the point on this node; replay stops at the point itself */
  targetLsn: string;
  timeline: number;
  /** history files, then segments, in replay order */
  walFiles: string[];
  /** segments that exist only as a partial object (the last one, for a recent point) */
  partialSegments: string[];
  backupBytes: number;
  walBytes: number;
}

export interface RestorePlan {
  clusterId: string;
  repositoryId: string;
  point: Pick<RestorePointRecord, 'name' | 'label' | 'createdAt' | 'coordinatorLsn'>;
  target: RestoreTarget;
  /** seconds between the asked time and the point (0 for a named point) */
  distanceSeconds: number;
  nodes: NodePlan[];
  totalBytes: number;
  /** a rough figure from the bytes to read; the real rate shows in the job's progress */
  estimatedSeconds: number;
  warnings: string[];
  plannedAt: string;
}

/** Bytes per second assumed for the estimate: decrypt + decompress + write + replay. */
const ESTIMATE_RATE = 150 * 1024 * 1024;

/**
 * Chooses the restore point for a target and, for every node, the base backup and the WAL
 * that bring it exactly there. Anything that cannot be restored exactly is refused with the
 * reason: a restore never silently lands somewhere else.
 */
export async function planRestore(catalog: Catalog, clusterId: string, target: RestoreTarget, now = new Date()): Promise<RestorePlan> {
  const cluster = catalog.cluster(clusterId);
  if (!cluster) throw new TidemarkError('not_found', `Cluster "${clusterId}" has no backups in repository "${catalog.repository.id}".`);
  const point = choosePoint(catalog, clusterId, target, now);
  const warnings: string[] = [];
  const nodes: NodePlan[] = [];
  for (const [nodeId, lsnText] of Object.entries(point.nodeLsns)) {
    const node = cluster.nodes[nodeId];
    if (!node) throw refuse(`node ${nodeId} of the point is not in the catalog`);
    nodes.push(await planNode(catalog, clusterId, node, point, parseLsn(lsnText), warnings));
  }
  if (nodes.length === 0) throw refuse(`restore point "${point.name}" records no node`);
  const asked = target.kind === 'time' ? target.at : null;
  const distanceSeconds = asked ? Math.round((asked.getTime() - Date.parse(point.createdAt)) / 1000) : 0;
  const totalBytes = nodes.reduce((sum, n) => sum + n.backupBytes + n.walBytes, 0);
  // Nodes restore in parallel: the largest node sets the pace.
  const slowest = Math.max(...nodes.map((n) => n.backupBytes + n.walBytes));
  return {
    clusterId,
    repositoryId: catalog.repository.id,
    point: { name: point.name, label: point.label, createdAt: point.createdAt, coordinatorLsn: point.coordinatorLsn },
    target,
    distanceSeconds,
    nodes,
    totalBytes,
    estimatedSeconds: Math.ceil(slowest / ESTIMATE_RATE),
    warnings,
    plannedAt: now.toISOString(),
  };
}

function choosePoint(catalog: Catalog, clusterId: string, target: RestoreTarget, now: Date): RestorePointRecord {
  const restorable = (): RestorePointRecord[] => catalog.restorePoints(clusterId, { status: 'restorable' });
  switch (target.kind) {
    case 'point': {
      const point = catalog.restorePoints(clusterId).find((p) => p.name === target.name);
      if (!point) throw refuse(`there is no restore point named "${target.name}"`);
      if (point.status === 'failed') throw refuse(`restore point "${point.name}" failed when it was created (${point.error ?? 'no detail'})`);
      if (point.status !== 'restorable') {
        throw refuse(`restore point "${point.name}" is not restorable yet: the WAL of every node has not been archived past it, or a node has no base backup older than it`);
      }
      return point;
    }
    case 'latest': {
      const latest = restorable().at(-1);
      if (!latest) throw refuse('the cluster has no restorable point yet: take a base backup and let WAL archiving pass a restore point');
      return latest;
    }
    case 'earliest': {
      const earliest = catalog.restorePoints(clusterId, { status: 'restorable', limit: 1 })[0];
      if (!earliest) throw refuse('the cluster has no restorable point yet');
      return earliest;
    }
    case 'time': {
      if (target.at.getTime() > now.getTime() + 1000) throw refuse(`${target.at.toISOString()} is in the future`);
      const point = catalog.latestRestorePointAtOrBefore(clusterId, target.at);
      if (!point) {
        const first = catalog.restorePoints(clusterId, { status: 'restorable', limit: 1 })[0];
        throw refuse(
          first
            ? `no restorable point at or before ${target.at.toISOString()}; the earliest is "${first.name}" at ${first.createdAt}`
            : 'the cluster has no restorable point yet',
        );
      }
      return point;
    }
  }
}

async function planNode(catalog: Catalog, clusterId: string, node: NodeIndex, point: RestorePointRecord, targetLsn: bigint, warnings: string[]): Promise<NodePlan> {
  const nodeId = node.record.nodeId;
  const timeline = point.nodeTimelines[nodeId] ?? 1;
  const history = timeline > 1 ? await readHistory(catalog, clusterId, nodeId, timeline) : null;
  // The newest backup that ended before the point, on the point's timeline path.
  const candidates = [...node.backups].reverse().filter((b) => compareLsn(parseLsn(b.endLsn), targetLsn) <= 0);
  let chosen: { backup: BaseBackupRecord; path: NonNullable<ReturnType<typeof timelinePath>> } | null = null;
  for (const backup of candidates) {
    const path = timelinePath(backup.timeline, timeline, history);
    if (path) {
      chosen = { backup, path };
      break;
    }
  }
  if (!chosen) throw refuse(`node ${nodeId} has no base backup that ended before restore point "${point.name}" on its timeline ${timeline}`);
  const { backup, path } = chosen;
  const segmentSize = node.record.walSegmentSize;
  const files = walFilesForRange(path, parseLsn(backup.startLsn), targetLsn, segmentSize);
  const stored = new Set(node.walSegments);
  const partialSegments: string[] = [];
  for (const [i, segment] of files.segments.entries()) {
    if (stored.has(segment)) continue;
    const partialBytes = node.walPartials[segment];
    const isLast = i === files.segments.length - 1;
    const needed = segmentOffsetOf(targetLsn - 1n, segmentSize) + 1;
    if (isLast && partialBytes !== undefined && partialBytes >= needed) {
      partialSegments.push(segment);
      continue;
    }
    throw refuse(`WAL segment ${segment} of node ${nodeId} is not in the repository (needed to replay from ${backup.startLsn} to ${formatLsn(targetLsn)})`);
  }
  for (const h of files.histories) {
    const tli = parseTimelineHistoryFileName(h)!;
    if (!node.histories.includes(tli)) throw refuse(`the history file ${h} of node ${nodeId} is not in the repository`);
  }
  if (backup.degradedZones.length > 0) warnings.push(`The base backup of node ${nodeId} is missing from zone(s) ${backup.degradedZones.join(', ')}; it will be read from the others.`);
  const gapsOnPath = node.gaps.filter((g) => compareLsn(parseLsn(g.toLsn), parseLsn(backup.startLsn)) > 0 && compareLsn(parseLsn(g.fromLsn), targetLsn) < 0);
  if (gapsOnPath.length > 0) throw refuse(`node ${nodeId} has a recorded WAL gap (${gapsOnPath[0]!.fromLsn} to ${gapsOnPath[0]!.toLsn}) between its backup and the point`);
  const backupBytes = storedBackupBytes(backup);
  return {
    nodeId,
    role: node.record.role,
    sourceName: node.record.name,
    sourcePort: node.record.port,
    distNodeId: node.record.distNodeId,
    backup,
    targetLsn: formatLsn(targetLsn),
    timeline,
    walFiles: [...files.histories, ...files.segments],
    partialSegments,
    backupBytes,
    walBytes: files.segments.length * segmentSize,
  };
}

async function readHistory(catalog: Catalog, clusterId: string, nodeId: string, timeline: number) {
  try {
    return parseTimelineHistory((await catalog.repository.readObject(layout.walHistory(clusterId, nodeId, timeline))).toString());
  } catch (err) {
    if (err instanceof TidemarkError && err.code === 'not_found') return null;
    throw err;
  }
}

function refuse(reason: string): TidemarkError {
  return new TidemarkError('target_unreachable', `Cannot restore: ${reason}.`);
}

/** Every object a plan reads, for validation before anything is created. */
export function planObjectKeys(plan: RestorePlan): string[] {
  const keys: string[] = [];
  for (const node of plan.nodes) {
    const b = node.backup;
    for (const archive of b.archives) keys.push(layout.backupArchive(plan.clusterId, node.nodeId, b.backupId, archive.name));
    for (const file of node.walFiles) {
      const tli = parseTimelineHistoryFileName(file);
      if (tli !== null) keys.push(layout.walHistory(plan.clusterId, node.nodeId, tli));
      else if (node.partialSegments.includes(file)) keys.push(layout.walPartial(plan.clusterId, node.nodeId, file));
      else keys.push(layout.walSegment(plan.clusterId, node.nodeId, file));
    }
  }
  return keys;
}
