import {
  formatLsn,
  parseLsn,
  parseWalSegmentFileName,
  walSegmentFileNameForLsn,
} from '../replication/lsn.js';

/** One line of a `.history` file: timeline `parent` ended (switched) at `switchLsn`. */
export interface TimelineHistoryEntry {
  parent: number;
  switchLsn: string;
}

/** What the repository holds for one node, as names and numbers (no I/O). */
export interface WalInventory {
  segmentSize: number;
  /** complete segments, as named in pg_wal */
  segments: readonly string[];
  /** segment name → plaintext bytes of its `.partial` */
  partials?: Readonly<Record<string, number>>;
  /** timeline → the entries of its stored history file */
  histories?: Readonly<Record<number, readonly TimelineHistoryEntry[]>>;
  /** timelines whose history file is stored (even if not parsed) */
  historyTimelines?: readonly number[];
  backups?: readonly {
    backupId: string;
    timeline: number;
    endTimeline?: number;
    startLsn: string;
    endLsn: string;
  }[];
}

/** `[from, to)` in PostgreSQL's LSN notation. */
export interface LsnRange {
  from: string;
  to: string;
}

export interface TimelineCoverage {
  timeline: number;
  /** the timeline this one branched from, and where; null for a root timeline */
  parent: number | null;
  switchLsn: string | null;
  /** WAL stored on this timeline, merged into ranges */
  ranges: LsnRange[];
  segments: number;
  partialBytes: number | null;
}

export interface WalGap extends LsnRange {
  /** the timeline the missing WAL belongs to */
  timeline: number;
  /** the first missing segment, as named in pg_wal */
  firstSegment: string;
  /** a kept base backup starts before the gap, so restores past it are impossible */
  affectsRestore: boolean;
}

export interface BackupWalCoverage {
  backupId: string;
  timeline: number;
  /** the WAL the backup needs to become consistent */
  needed: LsnRange;
  complete: boolean;
  missing: LsnRange[];
}

export interface WalContinuity {
  timelines: TimelineCoverage[];
  gaps: WalGap[];
  backups: BackupWalCoverage[];
  /** timelines above 1 that hold WAL but have no history file: restores onto them will fail */
  missingHistories: number[];
  /** stored names that are not segments of this segment size */
  unrecognized: string[];
}

interface Interval {
  from: bigint;
  to: bigint;
}

interface LineageStep {
  timeline: number;
  /** first LSN that belongs to this timeline in the lineage */
  begin: bigint;
}

/** Parses a PostgreSQL timeline history file (`parentTLI <tab> switchpoint <tab> reason`). */
export function parseTimelineHistory(text: string): TimelineHistoryEntry[] {
  const entries: TimelineHistoryEntry[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const [tli, lsn] = line.split(/\s+/);
    if (!tli || !lsn || !/^\d+$/.test(tli))
      throw new RangeError(`Not a timeline history line: "${line}"`);
    entries.push({ parent: Number(tli), switchLsn: formatLsn(parseLsn(lsn)) });
  }
  return entries;
}

/**
 * Which LSN ranges of a node's WAL the repository holds, per timeline, and where it has
 * holes. A segment counts for a timeline's history only when it is stored on the timeline
 * PostgreSQL would read it from during recovery (the newest timeline of the lineage that
 * had begun by that segment), so WAL of an abandoned branch never hides a gap.
 */
export function analyzeWalContinuity(inventory: WalInventory): WalContinuity {
  const size = BigInt(inventory.segmentSize);
  const own = new Map<number, Interval[]>();
  const ownCounts = new Map<number, { segments: number; partialBytes: number | null }>();
  const complete = new Set<string>();
  const unrecognized: string[] = [];
  const add = (timeline: number, interval: Interval) => {
    const list = own.get(timeline) ?? [];
    list.push(interval);
    own.set(timeline, list);
  };

  for (const name of inventory.segments) {
    const parsed = parseWalSegmentFileName(name, inventory.segmentSize);
    if (!parsed) {
      unrecognized.push(name);
      continue;
    }
    complete.add(name);
    add(parsed.timeline, { from: parsed.startLsn, to: parsed.startLsn + size });
    const counts = ownCounts.get(parsed.timeline) ?? { segments: 0, partialBytes: null };
    counts.segments += 1;
    ownCounts.set(parsed.timeline, counts);
  }
  for (const [name, bytes] of Object.entries(inventory.partials ?? {})) {
    const parsed = parseWalSegmentFileName(name, inventory.segmentSize);
    if (!parsed) {
      unrecognized.push(`${name}.partial`);
      continue;
    }
    if (complete.has(name) || bytes <= 0) continue;
    add(parsed.timeline, {
      from: parsed.startLsn,
      to: parsed.startLsn + BigInt(Math.min(bytes, inventory.segmentSize)),
    });
    const counts = ownCounts.get(parsed.timeline) ?? { segments: 0, partialBytes: null };
    counts.partialBytes = Math.max(counts.partialBytes ?? 0, bytes);
    ownCounts.set(parsed.timeline, counts);
  }
  for (const [timeline, list] of own) own.set(timeline, merge(list));

  const histories = inventory.histories ?? {};
  const storedHistories = new Set([
    ...(inventory.historyTimelines ?? []),
    ...Object.keys(histories).map(Number),
  ]);
  const lineageOf = (timeline: number): LineageStep[] => {
    const entries = histories[timeline];
    if (!entries || entries.length === 0) return [{ timeline, begin: 0n }];
    const steps: LineageStep[] = [
      { timeline, begin: parseLsn(entries[entries.length - 1]!.switchLsn) },
    ];
    for (let i = entries.length - 1; i >= 0; i--) {
      steps.push({
        timeline: entries[i]!.parent,
        begin: i === 0 ? 0n : parseLsn(entries[i - 1]!.switchLsn),
      });
    }
    return steps;
  };

  const backups = inventory.backups ?? [];
  const walTimelines = [...own.keys()].sort((a, b) => a - b);
  const ancestors = new Set(
    walTimelines.flatMap((t) =>
      lineageOf(t)
        .slice(1)
        .map((s) => s.timeline),
    ),
  );
  const leaves = new Set([
    ...walTimelines.filter((t) => !ancestors.has(t)),
    ...backups.map((b) => b.endTimeline ?? b.timeline),
  ]);

  const gaps = new Map<string, WalGap>();
  for (const leaf of [...leaves].sort((a, b) => a - b)) {
    const lineage = lineageOf(leaf);
    const covered = lineageCoverage(lineage, own, size);
    const lineageTimelines = new Set(lineage.map((s) => s.timeline));
    const starts = backups
      .filter((b) => lineageTimelines.has(b.timeline))
      .map((b) => parseLsn(b.startLsn));
    for (let i = 1; i < covered.length; i++) {
      for (const hole of splitByTimeline(
        { from: covered[i - 1]!.to, to: covered[i]!.from },
        lineage,
      )) {
        const key = `${hole.timeline}:${hole.from}`;
        if (gaps.has(key)) continue;
        gaps.set(key, {
          timeline: hole.timeline,
          from: formatLsn(hole.from),
          to: formatLsn(hole.to),
          firstSegment: walSegmentFileNameForLsn(hole.timeline, hole.from, inventory.segmentSize),
          affectsRestore: starts.some((start) => start < hole.to),
        });
      }
    }
  }

  const backupCoverage = backups.map((backup): BackupWalCoverage => {
    const needed: Interval = { from: parseLsn(backup.startLsn), to: parseLsn(backup.endLsn) };
    const covered = lineageCoverage(lineageOf(backup.endTimeline ?? backup.timeline), own, size);
    const missing = subtract(needed, covered).map(toRange);
    return {
      backupId: backup.backupId,
      timeline: backup.timeline,
      needed: toRange(needed),
      complete: missing.length === 0,
      missing,
    };
  });

  const timelines = walTimelines.map((timeline): TimelineCoverage => {
    const entries = histories[timeline];
    const last = entries?.[entries.length - 1];
    const counts = ownCounts.get(timeline) ?? { segments: 0, partialBytes: null };
    return {
      timeline,
      parent: last ? last.parent : null,
      switchLsn: last ? last.switchLsn : null,
      ranges: (own.get(timeline) ?? []).map(toRange),
      segments: counts.segments,
      partialBytes: counts.partialBytes,
    };
  });

  return {
    timelines,
    gaps: [...gaps.values()].sort(
      (a, b) => a.timeline - b.timeline || compareLsnText(a.from, b.from),
    ),
    backups: backupCoverage,
    missingHistories: walTimelines.filter((t) => t > 1 && !storedHistories.has(t)),
    unrecognized,
  };
}

/** The WAL a recovery along `lineage` (newest timeline first) can read, merged. */
function lineageCoverage(
  lineage: LineageStep[],
  own: Map<number, Interval[]>,
  size: bigint,
): Interval[] {
  const pieces: Interval[] = [];
  lineage.forEach((step, index) => {
    // segments from the one holding `begin` belong to this timeline; the newer step takes over at its own begin segment
    const from = (step.begin / size) * size;
    const to = index === 0 ? null : (lineage[index - 1]!.begin / size) * size;
    for (const interval of own.get(step.timeline) ?? []) {
      const clipped = {
        from: interval.from > from ? interval.from : from,
        to: to !== null && interval.to > to ? to : interval.to,
      };
      if (clipped.from < clipped.to) pieces.push(clipped);
    }
  });
  return merge(pieces);
}

function splitByTimeline(
  hole: Interval,
  lineage: LineageStep[],
): (Interval & { timeline: number })[] {
  const out: (Interval & { timeline: number })[] = [];
  // lineage is newest first; walk oldest first so pieces come out in LSN order
  const steps = [...lineage].reverse();
  steps.forEach((step, index) => {
    const next = steps[index + 1];
    const from = hole.from > step.begin ? hole.from : step.begin;
    const to = next && next.begin < hole.to ? next.begin : hole.to;
    if (from < to) out.push({ timeline: step.timeline, from, to });
  });
  return out;
}

function merge(intervals: Interval[]): Interval[] {
  const sorted = [...intervals].sort((a, b) => (a.from < b.from ? -1 : a.from > b.from ? 1 : 0));
  const out: Interval[] = [];
  for (const interval of sorted) {
    const last = out[out.length - 1];
    if (last && interval.from <= last.to) {
      if (interval.to > last.to) last.to = interval.to;
    } else out.push({ ...interval });
  }
  return out;
}

function subtract(needed: Interval, covered: Interval[]): Interval[] {
  const missing: Interval[] = [];
  let at = needed.from;
  for (const interval of covered) {
    if (interval.to <= at) continue;
    if (interval.from >= needed.to) break;
    if (interval.from > at) missing.push({ from: at, to: interval.from });
    at = interval.to > at ? interval.to : at;
    if (at >= needed.to) break;
  }
  if (at < needed.to) missing.push({ from: at, to: needed.to });
  return missing;
}

function toRange(interval: Interval): LsnRange {
  return { from: formatLsn(interval.from), to: formatLsn(interval.to) };
}

function compareLsnText(a: string, b: string): number {
  const [x, y] = [parseLsn(a), parseLsn(b)];
  return x < y ? -1 : x > y ? 1 : 0;
}
