import { layout } from '../catalog/layout.js';
import { parseTimelineHistory } from '../catalog/wal-continuity.js';
import { TidemarkError } from '../errors.js';
import {
  parseLsn,
  parseWalSegmentFileName,
  segmentNumberOf,
  segmentStartLsn,
  walSegmentFileName,
} from '../replication/lsn.js';
import type { NodeWalObjects } from './wal-objects.js';

/** Where a node's stream continues so the repository's WAL has no hole and no duplicate. */
export interface WalResumePoint {
  timeline: number;
  /** the first byte of the first segment not stored complete: streaming restarts there */
  startLsn: bigint;
  /** bytes of that segment already stored as its partial object */
  partialBytes: number;
  /** the position after the last stored byte (startLsn + partialBytes) */
  storedEnd: bigint;
}

/**
 * Finds where the stored WAL of a node ends, as pg_receivewal does from its folder: on the
 * newest timeline, the segment after the last complete one (its partial, if any, is streamed
 * again from the segment's start and replaced as it grows). A recorded gap moves the point to
 * the gap's end. Null when nothing is stored yet.
 *
 * The catalog's index is written a moment after each change, so after a crash it may lag the
 * zones: the point is then probed forward in the repository itself (next segment, next
 * timeline's history) and the catalog is brought up to date.
 */
export async function findWalResumePoint(objects: NodeWalObjects, segmentSize: number): Promise<WalResumePoint | null> {
  const { catalog, clusterId, nodeId, repository } = objects;
  for (;;) {
    const node = catalog.node(clusterId, nodeId);
    if (!node) {
      throw new TidemarkError('internal', `Node ${nodeId} of cluster "${clusterId}" has no catalog record; record it before streaming.`);
    }
    const segments = node.walSegments.flatMap((name) => parsed(name, segmentSize));
    const partials = Object.keys(node.walPartials).flatMap((name) => parsed(name, segmentSize));
    const timelines = [
      ...segments.map((s) => s.timeline),
      ...partials.map((s) => s.timeline),
      ...node.histories,
      ...node.gaps.map((g) => g.timeline),
    ];
    if (timelines.length === 0) return null;
    const timeline = Math.max(...timelines);

    let next: bigint | null = null;
    const complete = segments.filter((s) => s.timeline === timeline).map((s) => s.segmentNumber);
    if (complete.length > 0) next = max(complete) + 1n;
    const partial = partials.filter((s) => s.timeline === timeline && (next === null || s.segmentNumber >= next)).map((s) => s.segmentNumber);
    if (next === null && partial.length > 0) next = max(partial);
    if (next === null && node.histories.includes(timeline)) next = await branchSegment(objects, timeline, segmentSize);
    for (const gap of node.gaps) {
      if (gap.timeline !== timeline) continue;
      const end = segmentNumberOf(parseLsn(gap.toLsn), segmentSize);
      if (next === null || end > next) next = end;
    }
    if (next === null) return null;

    // probe forward: objects stored after the index was last written
    for (;;) {
      const name = walSegmentFileName(timeline, next, segmentSize);
      const segmentKey = layout.walSegment(clusterId, nodeId, name);
      const found = new Set((await repository.list(segmentKey)).objects.map((o) => o.key));
      if (found.has(segmentKey)) {
        catalog.noteWalSegment(clusterId, nodeId, name);
        next += 1n;
        continue;
      }
      if (found.has(layout.walPartial(clusterId, nodeId, name)) && catalog.node(clusterId, nodeId)?.walPartials[name] === undefined) {
        const bytes = await repository.readObject(layout.walPartial(clusterId, nodeId, name));
        catalog.noteWalPartial(clusterId, nodeId, name, bytes.length);
      }
      break;
    }
    const nextHistory = layout.walHistory(clusterId, nodeId, timeline + 1);
    if (!node.histories.includes(timeline + 1) && (await repository.list(nextHistory)).objects.some((o) => o.key === nextHistory)) {
      catalog.noteHistory(clusterId, nodeId, timeline + 1);
      continue;
    }
    const startLsn = segmentStartLsn(next, segmentSize);
    const name = walSegmentFileName(timeline, next, segmentSize);
    const partialBytes = catalog.node(clusterId, nodeId)?.walPartials[name] ?? 0;
    return { timeline, startLsn, partialBytes, storedEnd: startLsn + BigInt(partialBytes) };
  }
}

/** The segment where `timeline` branched off its parent (from its stored history file). */
async function branchSegment(objects: NodeWalObjects, timeline: number, segmentSize: number): Promise<bigint> {
  const key = layout.walHistory(objects.clusterId, objects.nodeId, timeline);
  const entries = parseTimelineHistory((await objects.repository.readObject(key)).toString('utf8'));
  const last = entries.at(-1);
  if (!last) {
    throw new TidemarkError('corrupt_object', `The history file of timeline ${timeline} (${key}) names no switch point; run "tidemark repo verify".`);
  }
  return segmentNumberOf(parseLsn(last.switchLsn), segmentSize);
}

function parsed(name: string, segmentSize: number): { timeline: number; segmentNumber: bigint }[] {
  const segment = parseWalSegmentFileName(name, segmentSize);
  return segment ? [{ timeline: segment.timeline, segmentNumber: segment.segmentNumber }] : [];
}

function max(values: bigint[]): bigint {
  return values.reduce((a, b) => (b > a ? b : a));
}
