import type { TimelineHistoryEntry } from '../catalog/wal-continuity.js';
import { parseLsn, segmentNumberOf, timelineHistoryFileName, walSegmentFileName } from '../replication/lsn.js';

/** A timeline and the first LSN that belongs to it on the way to the target. */
export interface TimelineStep {
  timeline: number;
  begin: bigint;
}

/**
 * The timelines recovery walks from `fromTimeline` to `toTimeline`, from the target
 * timeline's history file (null when both are the same). Null result: the backup's
 * timeline is not an ancestor of the target's.
 */
export function timelinePath(fromTimeline: number, toTimeline: number, history: readonly TimelineHistoryEntry[] | null): TimelineStep[] | null {
  if (fromTimeline === toTimeline) return [{ timeline: toTimeline, begin: 0n }];
  if (!history) return null;
  // history lists ancestors oldest first: each parent ended at switchLsn, where the next began
  const steps: TimelineStep[] = [];
  let begin = 0n;
  for (const entry of history) {
    steps.push({ timeline: entry.parent, begin });
    begin = parseLsn(entry.switchLsn);
  }
  steps.push({ timeline: toTimeline, begin });
  const from = steps.findIndex((s) => s.timeline === fromTimeline);
  return from === -1 ? null : steps.slice(from);
}

/**
 * The WAL files recovery reads, in order: the history files of the timelines it enters, then
 * every segment from the one holding `startLsn` to the one holding `endLsn - 1`, each named
 * with the newest timeline of the path that had begun by the segment's end — the file
 * PostgreSQL asks `restore_command` for.
 */
export function walFilesForRange(path: readonly TimelineStep[], startLsn: bigint, endLsn: bigint, segmentSize: number): { histories: string[]; segments: string[] } {
  const histories = path.filter((s) => s.timeline > 1).map((s) => timelineHistoryFileName(s.timeline));
  const size = BigInt(segmentSize);
  const first = segmentNumberOf(startLsn, segmentSize);
  const last = segmentNumberOf(endLsn > startLsn ? endLsn - 1n : startLsn, segmentSize);
  const segments: string[] = [];
  for (let seg = first; seg <= last; seg++) {
    const segmentEnd = (seg + 1n) * size;
    let timeline = path[0]!.timeline;
    for (const step of path) if (step.begin < segmentEnd) timeline = step.timeline;
    segments.push(walSegmentFileName(timeline, seg, segmentSize));
  }
  return { histories, segments };
}
