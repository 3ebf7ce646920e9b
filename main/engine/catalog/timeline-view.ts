import { summarizeBackup, type BackupSummary } from './backup-summary.js';
import { TidemarkError } from '../errors.js';
import { formatLsn, parseLsn } from '../replication/lsn.js';
import type { RestorePointQuery } from './catalog.js';
import type { NodeIndex } from './catalog-index.js';
import type { RestorePointRecord } from './records.js';
import { analyzeWalContinuity, type TimelineHistoryEntry } from './wal-continuity.js';

/**
 * What the timeline of the UI shows for one cluster over a time range: base backups and WAL
 * coverage per node, restore points (bucketed counts, plus the exact points when few), failed
 * points, gaps, and the restorable extremes. Reads only the catalog's in-memory index.
 */

/** The catalog reads the view needs; `Catalog` provides them. */
export interface TimelineCatalog {
  nodes(clusterId: string): NodeIndex[];
  restorePoints(clusterId: string, query?: RestorePointQuery): RestorePointRecord[];
  latestRestorePointAtOrBefore(
    clusterId: string,
    at: Date,
    status?: RestorePointRecord['status'],
  ): RestorePointRecord | undefined;
}

/** Up to this many points in the range are sent one by one; more only as bucket counts. */
export const exactPointsLimit = 500;
/** Failed points are rare and each one matters; beyond this many only the count is sent. */
export const failedPointsLimit = 500;
export const defaultBucketCount = 120;
export const maxBucketCount = 1000;
/** LSN→time anchors kept per node: enough for a smooth estimate, cheap to search. */
const maxPointAnchors = 2000;
/** Far enough in the future for any catalog, and still an ISO string that sorts as text. */
const endOfTime = new Date('9999-12-31T23:59:59.999Z');

export interface TimelinePoint {
  name: string;
  label: string | null;
  createdAt: string;
  status: RestorePointRecord['status'];
  error: string | null;
}

export interface PointBucket {
  from: string;
  to: string;
  restorable: number;
  created: number;
  failed: number;
}

/** A base backup on the timeline. */
export type TimelineBackup = BackupSummary;

/** A stretch of WAL by LSN, with the wall-clock times it is estimated to span. */
export interface WalSpan {
  fromLsn: string;
  toLsn: string;
  /** null when the node has no backup or restore point to estimate times from */
  from: string | null;
  to: string | null;
}

export interface TimelineGap extends WalSpan {
  timeline: number;
  /** recorded by the archiver (WAL removed before it was archived), or found in the stored files */
  source: 'recorded' | 'detected';
  reason: string;
  /** a kept base backup starts before it: restores past it are impossible from that backup */
  affectsRestore: boolean;
}

export interface TimelineNode {
  nodeId: string;
  role: 'coordinator' | 'worker';
  name: string;
  port: number;
  removedAt: string | null;
  /** every backup of the node, for the count */
  backupCount: number;
  /** the backups that overlap the range */
  backups: TimelineBackup[];
  wal: {
    segments: number;
    firstLsn: string | null;
    lastLsn: string | null;
    /** stored WAL in LSN order, merged across timelines; times estimated */
    coverage: WalSpan[];
    gaps: TimelineGap[];
    /** timelines above 1 holding WAL without a history file */
    missingHistories: number[];
  };
}

export interface TimelineView {
  clusterId: string;
  generatedAt: string;
  window: { retentionDays: number; from: string; to: string };
  range: { from: string; to: string };
  /** the span of everything the catalog holds for the cluster, to zoom to "all data" */
  extent: { from: string; to: string } | null;
  nodes: TimelineNode[];
  restorePoints: {
    total: number;
    restorable: number;
    created: number;
    failed: number;
    buckets: PointBucket[];
    /** every point of the range in time order, or null when there are more than `exactPointsLimit` */
    points: TimelinePoint[] | null;
  };
  /** failed points of the range in time order, at most `failedPointsLimit` */
  failedPoints: TimelinePoint[];
  earliestRestorable: TimelinePoint | null;
  latestRestorable: TimelinePoint | null;
  /** WAL times are estimated from the LSNs recorded with backups and restore points */
  timesEstimated: true;
}

export interface TimelineViewInput {
  clusterId: string;
  retentionDays: number;
  now: Date;
  from?: Date;
  to?: Date;
  buckets?: number;
  /** nodeId → timeline → its history file's entries (for nodes that switched timelines) */
  histories?: Readonly<Record<string, Readonly<Record<number, readonly TimelineHistoryEntry[]>>>>;
}

export function buildTimelineView(
  catalog: TimelineCatalog,
  input: TimelineViewInput,
): TimelineView {
  const { clusterId, now } = input;
  const windowFrom = new Date(now.getTime() - input.retentionDays * 86_400_000);
  const from = input.from ?? windowFrom;
  const to = input.to ?? now;
  if (!(from.getTime() < to.getTime())) {
    throw new TidemarkError(
      'invalid_input',
      `The timeline range must start before it ends (from ${from.toISOString()}, to ${to.toISOString()}).`,
    );
  }
  const bucketCount = Math.min(
    Math.max(Math.round(input.buckets ?? defaultBucketCount), 1),
    maxBucketCount,
  );
  const inRange = catalog.restorePoints(clusterId, { from, to });
  const allPoints = catalog.restorePoints(clusterId);
  const nodeIndexes = catalog.nodes(clusterId).sort(compareNodes);
  const nodes = nodeIndexes.map((node) =>
    nodeView(node, allPoints, from, to, input.histories?.[node.record.nodeId] ?? {}),
  );

  const counts = { restorable: 0, created: 0, failed: 0 };
  for (const point of inRange) counts[point.status] += 1;
  const failed = inRange.filter((p) => p.status === 'failed');
  const earliest = catalog.restorePoints(clusterId, { status: 'restorable', limit: 1 })[0];
  const latest = catalog.latestRestorePointAtOrBefore(clusterId, endOfTime);

  return {
    clusterId,
    generatedAt: now.toISOString(),
    window: {
      retentionDays: input.retentionDays,
      from: windowFrom.toISOString(),
      to: now.toISOString(),
    },
    range: { from: from.toISOString(), to: to.toISOString() },
    extent: dataExtent(allPoints, nodeIndexes),
    nodes,
    restorePoints: {
      total: inRange.length,
      ...counts,
      buckets: bucketPoints(inRange, from, to, bucketCount),
      points: inRange.length <= exactPointsLimit ? inRange.map(toTimelinePoint) : null,
    },
    failedPoints: failed.slice(-failedPointsLimit).map(toTimelinePoint),
    earliestRestorable: earliest ? toTimelinePoint(earliest) : null,
    latestRestorable: latest ? toTimelinePoint(latest) : null,
    timesEstimated: true,
  };
}

export interface NearestPoint {
  at: string;
  /** the latest restorable point at or before `at` */
  point: TimelinePoint | null;
  /** how many seconds before `at` the point was created */
  distanceSeconds: number | null;
  /** when there is none at or before `at`: the earliest restorable point, to say where to look */
  earliest: TimelinePoint | null;
}

/** Where the slider snaps: the restore a time would get, exactly as the planner chooses it. */
export function nearestRestorablePoint(
  catalog: TimelineCatalog,
  clusterId: string,
  at: Date,
): NearestPoint {
  const point = catalog.latestRestorePointAtOrBefore(clusterId, at);
  if (point) {
    return {
      at: at.toISOString(),
      point: toTimelinePoint(point),
      distanceSeconds: (at.getTime() - Date.parse(point.createdAt)) / 1000,
      earliest: null,
    };
  }
  const earliest = catalog.restorePoints(clusterId, { status: 'restorable', limit: 1 })[0];
  return {
    at: at.toISOString(),
    point: null,
    distanceSeconds: null,
    earliest: earliest ? toTimelinePoint(earliest) : null,
  };
}

/** Counts per status in equal time buckets over [from, to]; `points` sorted by time. */
export function bucketPoints(
  points: readonly Pick<RestorePointRecord, 'createdAt' | 'status'>[],
  from: Date,
  to: Date,
  count: number,
): PointBucket[] {
  const start = from.getTime();
  const span = to.getTime() - start;
  const buckets: PointBucket[] = Array.from({ length: count }, (_, i) => ({
    from: new Date(start + (span * i) / count).toISOString(),
    to: new Date(start + (span * (i + 1)) / count).toISOString(),
    restorable: 0,
    created: 0,
    failed: 0,
  }));
  for (const point of points) {
    const offset = Date.parse(point.createdAt) - start;
    if (offset < 0 || offset > span) continue;
    // `to` is inclusive: a point exactly at the end belongs to the last bucket
    const index = Math.min(Math.floor((offset / span) * count), count - 1);
    buckets[index]![point.status] += 1;
  }
  return buckets;
}

/**
 * Estimates when WAL at an LSN was written, from (LSN, time) pairs the catalog records: backup
 * starts and ends and every node's LSN at each restore point. Linear between anchors; outside
 * them, the nearest anchor's time.
 */
export class LsnClock {
  private readonly lsns: bigint[];
  private readonly times: number[];

  constructor(anchors: readonly { lsn: bigint; time: number }[]) {
    const sorted = [...anchors]
      .filter((a) => Number.isFinite(a.time))
      .sort((a, b) => (a.lsn < b.lsn ? -1 : a.lsn > b.lsn ? 1 : a.time - b.time));
    this.lsns = [];
    this.times = [];
    let latest = -Infinity;
    for (const anchor of sorted) {
      // WAL positions only grow; a clock that stepped back must not fold the estimate over.
      latest = Math.max(latest, anchor.time);
      this.lsns.push(anchor.lsn);
      this.times.push(latest);
    }
  }

  get empty(): boolean {
    return this.lsns.length === 0;
  }

  timeOf(lsn: bigint): number | null {
    const n = this.lsns.length;
    if (n === 0) return null;
    if (lsn <= this.lsns[0]!) return this.times[0]!;
    if (lsn >= this.lsns[n - 1]!) return this.times[n - 1]!;
    let lo = 0;
    let hi = n - 1;
    while (hi - lo > 1) {
      const mid = (lo + hi) >>> 1;
      if (this.lsns[mid]! <= lsn) lo = mid;
      else hi = mid;
    }
    const [l0, l1, t0, t1] = [this.lsns[lo]!, this.lsns[hi]!, this.times[lo]!, this.times[hi]!];
    if (l1 === l0) return t1;
    return t0 + (t1 - t0) * (Number(lsn - l0) / Number(l1 - l0));
  }
}

function nodeView(
  node: NodeIndex,
  allPoints: readonly RestorePointRecord[],
  from: Date,
  to: Date,
  histories: Readonly<Record<number, readonly TimelineHistoryEntry[]>>,
): TimelineNode {
  const { record } = node;
  const clock = new LsnClock(anchorsOf(node, allPoints));
  const span = (fromLsn: bigint, toLsn: bigint): WalSpan => {
    const start = clock.timeOf(fromLsn);
    const end = clock.timeOf(toLsn);
    return {
      fromLsn: formatLsn(fromLsn),
      toLsn: formatLsn(toLsn),
      from: start === null ? null : new Date(start).toISOString(),
      to: end === null ? null : new Date(end).toISOString(),
    };
  };
  const overlaps = (s: WalSpan) =>
    s.from === null ||
    s.to === null ||
    (Date.parse(s.to) >= from.getTime() && Date.parse(s.from) <= to.getTime());

  const continuity = analyzeWalContinuity({
    segmentSize: record.walSegmentSize,
    segments: node.walSegments,
    partials: node.walPartials,
    histories,
    historyTimelines: node.histories,
    backups: node.backups,
  });
  const merged = mergeRanges(
    continuity.timelines.flatMap((t) =>
      t.ranges.map((r) => ({ from: parseLsn(r.from), to: parseLsn(r.to) })),
    ),
  );
  const detected: TimelineGap[] = continuity.gaps.map((g) => ({
    ...span(parseLsn(g.from), parseLsn(g.to)),
    timeline: g.timeline,
    source: 'detected',
    reason: `segment ${g.firstSegment} and what follows up to ${g.to} is not in the repository`,
    affectsRestore: g.affectsRestore,
  }));
  const recorded: TimelineGap[] = node.gaps
    .filter((g) => !continuity.gaps.some((d) => d.timeline === g.timeline && d.from === g.fromLsn))
    .map((g) => {
      const start = parseLsn(g.fromLsn);
      return {
        ...span(start, parseLsn(g.toLsn)),
        timeline: g.timeline,
        source: 'recorded',
        reason: g.reason,
        affectsRestore: node.backups.some((b) => parseLsn(b.startLsn) < start),
      };
    });
  const backups = node.backups.filter(
    (b) => Date.parse(b.endedAt) >= from.getTime() && Date.parse(b.startedAt) <= to.getTime(),
  );

  return {
    nodeId: record.nodeId,
    role: record.role,
    name: record.name,
    port: record.port,
    removedAt: record.removedAt,
    backupCount: node.backups.length,
    backups: backups.map(summarizeBackup),
    wal: {
      segments: node.walSegments.length,
      firstLsn: merged[0] ? formatLsn(merged[0].from) : null,
      lastLsn: merged.length > 0 ? formatLsn(merged[merged.length - 1]!.to) : null,
      coverage: merged.map((r) => span(r.from, r.to)).filter(overlaps),
      gaps: [...detected, ...recorded]
        .filter(overlaps)
        .sort((a, b) => compareLsnText(a.fromLsn, b.fromLsn)),
      missingHistories: continuity.missingHistories,
    },
  };
}

function anchorsOf(
  node: NodeIndex,
  points: readonly RestorePointRecord[],
): { lsn: bigint; time: number }[] {
  const nodeId = node.record.nodeId;
  const anchors = node.backups.flatMap((b) => [
    { lsn: parseLsn(b.startLsn), time: Date.parse(b.startedAt) },
    { lsn: parseLsn(b.endLsn), time: Date.parse(b.endedAt) },
  ]);
  const step = Math.max(1, Math.ceil(points.length / maxPointAnchors));
  for (let i = 0; i < points.length; i += step) addPointAnchor(anchors, points[i]!, nodeId);
  // the newest point always counts: it bounds how far the estimate reaches
  const last = points[points.length - 1];
  if (last) addPointAnchor(anchors, last, nodeId);
  return anchors;
}

function addPointAnchor(
  anchors: { lsn: bigint; time: number }[],
  point: RestorePointRecord,
  nodeId: string,
): void {
  const lsn = point.nodeLsns[nodeId];
  if (lsn !== undefined) anchors.push({ lsn: parseLsn(lsn), time: Date.parse(point.createdAt) });
}

/** From the oldest to the newest backup or restore point: every WAL time is estimated inside it. */
function dataExtent(
  points: readonly RestorePointRecord[],
  nodes: readonly NodeIndex[],
): TimelineView['extent'] {
  let min = Infinity;
  let max = -Infinity;
  const see = (iso: string) => {
    const t = Date.parse(iso);
    if (t < min) min = t;
    if (t > max) max = t;
  };
  if (points.length > 0) {
    see(points[0]!.createdAt);
    see(points[points.length - 1]!.createdAt);
  }
  for (const node of nodes) {
    for (const b of node.backups) {
      see(b.startedAt);
      see(b.endedAt);
    }
  }
  if (!Number.isFinite(min)) return null;
  return { from: new Date(min).toISOString(), to: new Date(max).toISOString() };
}

function toTimelinePoint(point: RestorePointRecord): TimelinePoint {
  return {
    name: point.name,
    label: point.label,
    createdAt: point.createdAt,
    status: point.status,
    error: point.error,
  };
}


function compareNodes(a: NodeIndex, b: NodeIndex): number {
  if (a.record.role !== b.record.role) return a.record.role === 'coordinator' ? -1 : 1;
  return a.record.nodeId.localeCompare(b.record.nodeId, 'en', { numeric: true });
}

function mergeRanges(ranges: { from: bigint; to: bigint }[]): { from: bigint; to: bigint }[] {
  const sorted = [...ranges].sort((a, b) => (a.from < b.from ? -1 : a.from > b.from ? 1 : 0));
  const out: { from: bigint; to: bigint }[] = [];
  for (const range of sorted) {
    const last = out[out.length - 1];
    if (last && range.from <= last.to) {
      if (range.to > last.to) last.to = range.to;
    } else out.push({ ...range });
  }
  return out;
}

function compareLsnText(a: string, b: string): number {
  const [x, y] = [parseLsn(a), parseLsn(b)];
  return x < y ? -1 : x > y ? 1 : 0;
}
