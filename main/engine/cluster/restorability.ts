import type { Catalog } from '../catalog/catalog.js';
import type { NodeIndex } from '../catalog/catalog-index.js';
import { layout } from '../catalog/layout.js';
import type { BaseBackupRecord, RestorePointRecord, WalGapRecord } from '../catalog/records.js';
import {
  analyzeWalContinuity,
  parseTimelineHistory,
  type TimelineHistoryEntry,
} from '../catalog/wal-continuity.js';
import {
  formatLsn,
  maxLsn,
  parseLsn,
  segmentNumberOf,
  walSegmentFileName,
} from '../replication/lsn.js';

/**
 * When a restore point is restorable: for EVERY node it names, a base backup that ended at or
 * before the node's recorded LSN (on the node's timeline, or on an ancestor before it branched
 * off), and archived WAL without holes from that backup's start up to the recorded LSN.
 *
 * The WAL is judged by `analyzeWalContinuity` (catalog/wal-continuity.ts), as PostgreSQL's
 * recovery would read it: for each segment, the file of the newest timeline of the target's
 * history that had begun by that segment; complete segments, then the partial of the last one.
 */

export type ArchivedBackup = Pick<
  BaseBackupRecord,
  'backupId' | 'startLsn' | 'endLsn' | 'timeline' | 'endTimeline'
>;

/** What the catalog knows about one node's archive. */
export interface NodeArchive {
  segmentSize: number;
  /** complete segments, by file name */
  walSegments: readonly string[];
  /** segment file name → plaintext bytes of its partial */
  walPartials: Readonly<Record<string, number>>;
  backups: readonly ArchivedBackup[];
  gaps: readonly Pick<WalGapRecord, 'timeline' | 'fromLsn' | 'toLsn'>[];
  /** timeline → the entries of its `.history` file; absent when the file is not archived */
  histories: Readonly<Record<number, readonly TimelineHistoryEntry[]>>;
}

export type NodeVerdict =
  | { restorable: true; backupId: string; walReachLsn: string }
  | { restorable: false; reason: string };

export interface PointVerdict {
  restorable: boolean;
  /** per node id of the point */
  nodes: Record<string, NodeVerdict>;
}

/** The path of timelines leading to `target`: ancestors with their ends, then the target. */
class TimelinePath {
  /** each ancestor and the LSN where it ended (where the next timeline began) */
  private readonly ancestors: readonly { timeline: number; endLsn: bigint }[];

  constructor(
    readonly target: number,
    history: readonly TimelineHistoryEntry[],
  ) {
    this.ancestors = history.map((e) => ({ timeline: e.parent, endLsn: parseLsn(e.switchLsn) }));
  }

  /** Whether WAL written on `timeline` at `lsn` is part of this path's history. */
  contains(timeline: number, lsn: bigint): boolean {
    if (timeline === this.target) return lsn >= (this.ancestors.at(-1)?.endLsn ?? 0n);
    const index = this.ancestors.findIndex((a) => a.timeline === timeline);
    if (index < 0) return false;
    const begin = index === 0 ? 0n : this.ancestors[index - 1]!.endLsn;
    return lsn >= begin && lsn <= this.ancestors[index]!.endLsn;
  }

  /** The timeline whose file recovery reads for segment `segment` (newest one begun by then). */
  timelineOfSegment(segment: bigint, segmentSize: number): number {
    let owner = this.ancestors[0]?.timeline ?? this.target;
    for (let i = 0; i < this.ancestors.length; i++) {
      const begin = this.ancestors[i]!.endLsn;
      const next = this.ancestors[i + 1]?.timeline ?? this.target;
      if (segmentNumberOf(begin, segmentSize) <= segment) owner = next;
    }
    return owner;
  }

  timelines(): Set<number> {
    return new Set([...this.ancestors.map((a) => a.timeline), this.target]);
  }
}

interface ParsedBackup {
  backup: ArchivedBackup;
  start: bigint;
  end: bigint;
}

interface Reach {
  lsn: bigint;
  /** why the WAL stops there */
  stop: string;
}

/**
 * Judges restore points against the archives of a cluster's nodes. Reaches (how far the WAL
 * runs without a hole from a backup's start) are cached, so judging many points costs about
 * as much as judging one.
 */
export class RestorabilityEvaluator {
  /** per node and target timeline: backup id → reach */
  private readonly reaches = new Map<string, Map<string, Reach>>();
  private readonly backups = new Map<string, ParsedBackup[]>();
  private readonly paths = new Map<string, TimelinePath>();

  constructor(private readonly archives: Readonly<Record<string, NodeArchive | undefined>>) {}

  evaluate(point: Pick<RestorePointRecord, 'status' | 'nodeLsns' | 'nodeTimelines'>): PointVerdict {
    const nodes: Record<string, NodeVerdict> = {};
    const ids = Object.keys(point.nodeLsns);
    if (point.status === 'failed' || ids.length === 0) {
      return { restorable: false, nodes };
    }
    for (const nodeId of ids) {
      nodes[nodeId] = this.evaluateNode(
        nodeId,
        parseLsn(point.nodeLsns[nodeId] as string),
        point.nodeTimelines[nodeId],
      );
    }
    return { restorable: Object.values(nodes).every((v) => v.restorable), nodes };
  }

  evaluateNode(nodeId: string, lsn: bigint, timeline: number | undefined): NodeVerdict {
    const archive = this.archives[nodeId];
    if (!archive) return { restorable: false, reason: `Node ${nodeId} is not in the catalog.` };
    const backups = this.parsedBackups(nodeId, archive);
    const target = timeline ?? backups[0]?.backup.endTimeline;
    if (target === undefined) {
      return { restorable: false, reason: `Node ${nodeId} has no base backup yet.` };
    }
    const path = this.pathTo(nodeId, archive, target);
    // Newest first: the first backup that qualifies and whose WAL reaches the point wins.
    let newest: ArchivedBackup | undefined;
    for (const { backup, start, end } of backups) {
      if (
        end > lsn ||
        !path.contains(backup.endTimeline, end) ||
        !path.contains(backup.timeline, start)
      )
        continue;
      newest ??= backup;
      const reach = this.reach(nodeId, archive, backup, path);
      if (reach.lsn >= lsn) {
        return { restorable: true, backupId: backup.backupId, walReachLsn: formatLsn(reach.lsn) };
      }
    }
    const where = formatLsn(lsn);
    if (!newest) {
      // Without the target's history file only backups taken on the target timeline can be followed.
      const unfollowable =
        archive.histories[target] === undefined &&
        backups.some((b) => b.backup.endTimeline !== target && b.end <= lsn);
      return {
        restorable: false,
        reason: `Node ${nodeId} has no base backup that ended at or before ${where} on timeline ${target}${unfollowable ? ` (the history file of timeline ${target} is not archived, so backups of earlier timelines cannot be followed)` : ''}.`,
      };
    }
    const reach = this.reach(nodeId, archive, newest, path);
    return {
      restorable: false,
      reason: `The archived WAL of node ${nodeId} after backup ${newest.backupId} reaches ${formatLsn(reach.lsn)} (${reach.stop}); the point needs ${where}.`,
    };
  }

  /** A node's backups with parsed LSNs, newest end first (parsed once per node). */
  private parsedBackups(nodeId: string, archive: NodeArchive): ParsedBackup[] {
    let parsed = this.backups.get(nodeId);
    if (!parsed) {
      parsed = archive.backups
        .map((backup) => ({
          backup,
          start: parseLsn(backup.startLsn),
          end: parseLsn(backup.endLsn),
        }))
        .sort((a, b) => (a.end < b.end ? 1 : a.end > b.end ? -1 : 0));
      this.backups.set(nodeId, parsed);
    }
    return parsed;
  }

  private pathTo(nodeId: string, archive: NodeArchive, target: number): TimelinePath {
    const key = `${nodeId}\u0000${target}`;
    let path = this.paths.get(key);
    if (!path) {
      path = new TimelinePath(target, archive.histories[target] ?? []);
      this.paths.set(key, path);
    }
    return path;
  }

  /** How far the WAL runs without a hole from the start of `backup`, along `path`. */
  private reach(
    nodeId: string,
    archive: NodeArchive,
    backup: ArchivedBackup,
    path: TimelinePath,
  ): Reach {
    // every backup of the node is analysed together
    return this.reachesAlong(nodeId, archive, path).get(backup.backupId)!;
  }

  /**
   * The reach of every backup of a node along one timeline path, from a single continuity
   * analysis: each backup is asked for WAL from its start to the end of all LSNs, so the
   * first missing range starts where its WAL stops.
   */
  private reachesAlong(
    nodeId: string,
    archive: NodeArchive,
    path: TimelinePath,
  ): Map<string, Reach> {
    const key = `${nodeId}\u0000${path.target}`;
    const cached = this.reaches.get(key);
    if (cached) return cached;
    const analysis = analyzeWalContinuity({
      segmentSize: archive.segmentSize,
      segments: archive.walSegments,
      partials: archive.walPartials,
      histories: archive.histories,
      backups: archive.backups.map((b) => ({
        backupId: b.backupId,
        timeline: path.target,
        endTimeline: path.target,
        startLsn: b.startLsn,
        endLsn: formatLsn(maxLsn),
      })),
    });
    const timelines = path.timelines();
    const reaches = new Map<string, Reach>();
    for (const coverage of analysis.backups) {
      const start = parseLsn(coverage.needed.from);
      const hole = coverage.missing[0];
      const stopLsn = hole ? parseLsn(hole.from) : maxLsn;
      let reach: Reach = { lsn: stopLsn, stop: this.describeStop(archive, path, stopLsn) };
      // A recorded gap is lost WAL even if files around it exist.
      for (const gap of archive.gaps) {
        const from = parseLsn(gap.fromLsn);
        const to = parseLsn(gap.toLsn);
        if (!timelines.has(gap.timeline) || to <= start || from >= reach.lsn) continue;
        reach = {
          lsn: from > start ? from : start,
          stop: `WAL from ${gap.fromLsn} to ${gap.toLsn} on timeline ${gap.timeline} was lost`,
        };
      }
      reaches.set(coverage.backupId, reach);
    }
    this.reaches.set(key, reaches);
    return reaches;
  }

  private describeStop(archive: NodeArchive, path: TimelinePath, lsn: bigint): string {
    const size = archive.segmentSize;
    const segment = segmentNumberOf(lsn, size);
    const name = walSegmentFileName(path.timelineOfSegment(segment, size), segment, size);
    return archive.walPartials[name] === undefined
      ? `segment ${name} is not archived`
      : `${name} is partial`;
  }
}

/** A node of the catalog index as the evaluator needs it (history contents supplied apart). */
export function nodeArchiveOf(
  node: NodeIndex,
  histories: Readonly<Record<number, readonly TimelineHistoryEntry[]>> = {},
): NodeArchive {
  return {
    segmentSize: node.record.walSegmentSize,
    walSegments: node.walSegments,
    walPartials: node.walPartials,
    backups: node.backups,
    gaps: node.gaps,
    histories,
  };
}

export interface RestorabilityUpdate {
  /** `created` points looked at */
  evaluated: number;
  /** points now marked restorable, in time order */
  becameRestorable: RestorePointRecord[];
}

/**
 * Re-evaluates the cluster's `created` points and records those that became restorable.
 * History files are read from the repository only for timelines the points are on.
 */
export async function updateRestorability(
  catalog: Catalog,
  clusterId: string,
): Promise<RestorabilityUpdate> {
  const pending = catalog.restorePoints(clusterId, { status: 'created' });
  if (pending.length === 0) return { evaluated: 0, becameRestorable: [] };
  const archives: Record<string, NodeArchive> = {};
  for (const node of catalog.nodes(clusterId)) {
    const wanted = new Set<number>();
    for (const point of pending) {
      const timeline = point.nodeTimelines[node.record.nodeId];
      if (timeline !== undefined && timeline > 1 && node.histories.includes(timeline))
        wanted.add(timeline);
    }
    const histories: Record<number, TimelineHistoryEntry[]> = {};
    for (const timeline of wanted) {
      const key = layout.walHistory(clusterId, node.record.nodeId, timeline);
      histories[timeline] = parseTimelineHistory(
        (await catalog.repository.readObject(key)).toString(),
      );
    }
    archives[node.record.nodeId] = nodeArchiveOf(node, histories);
  }
  const evaluator = new RestorabilityEvaluator(archives);
  const becameRestorable: RestorePointRecord[] = [];
  for (const point of pending) {
    if (!evaluator.evaluate(point).restorable) continue;
    const record: RestorePointRecord = { ...point, status: 'restorable' };
    await catalog.putRestorePoint(record);
    becameRestorable.push(record);
  }
  return { evaluated: pending.length, becameRestorable };
}
