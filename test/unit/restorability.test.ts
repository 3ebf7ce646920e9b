import { describe, expect, it } from 'vitest';
import {
  RestorabilityEvaluator,
  type ArchivedBackup,
  type NodeArchive,
} from '../../main/engine/cluster/restorability.js';
import type { TimelineHistoryEntry } from '../../main/engine/catalog/wal-continuity.js';
import type { RestorePointRecord } from '../../main/engine/catalog/records.js';
import { formatLsn, walSegmentFileName } from '../../main/engine/replication/lsn.js';

const size = 16 * 1024 * 1024;
const seg = (n: number) => BigInt(n) * BigInt(size);
const name = (timeline: number, n: number) => walSegmentFileName(timeline, BigInt(n), size);
/** complete segments `from`..`to` (inclusive) on a timeline */
const segments = (timeline: number, from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, i) => name(timeline, from + i));

const backup = (
  id: string,
  start: bigint,
  end: bigint,
  timeline = 1,
  endTimeline = timeline,
): ArchivedBackup => ({
  backupId: id,
  startLsn: formatLsn(start),
  endLsn: formatLsn(end),
  timeline,
  endTimeline,
});

const archive = (parts: Partial<NodeArchive>): NodeArchive => ({
  segmentSize: size,
  walSegments: [],
  walPartials: {},
  backups: [],
  gaps: [],
  histories: {},
  ...parts,
});

type Point = Pick<RestorePointRecord, 'status' | 'nodeLsns' | 'nodeTimelines'>;
const point = (lsns: Record<string, bigint>, timelines: Record<string, number> = {}): Point => ({
  status: 'created',
  nodeLsns: Object.fromEntries(Object.entries(lsns).map(([k, v]) => [k, formatLsn(v)])),
  nodeTimelines: Object.fromEntries(Object.keys(lsns).map((k) => [k, timelines[k] ?? 1])),
});

const judge = (node: NodeArchive, lsn: bigint, timeline = 1) =>
  new RestorabilityEvaluator({ n1: node }).evaluate(point({ n1: lsn }, { n1: timeline }));

describe('restorability of a node', () => {
  // A backup from segment 2 (+0x28) to segment 3 (+0x100), WAL archived through segment 5.
  const base = archive({
    backups: [backup('b1', seg(2) + 0x28n, seg(3) + 0x100n)],
    walSegments: segments(1, 2, 5),
  });

  it('is restorable when complete segments run from the backup start past the point', () => {
    const verdict = judge(base, seg(5) + 0x500n);
    expect(verdict.restorable).toBe(true);
    expect(verdict.nodes.n1).toEqual({
      restorable: true,
      backupId: 'b1',
      walReachLsn: formatLsn(seg(6)),
    });
  });

  it('needs the segment holding the byte before the point, not the one starting at it', () => {
    expect(judge(base, seg(6)).restorable).toBe(true);
    const verdict = judge(base, seg(6) + 1n);
    expect(verdict.restorable).toBe(false);
    expect(verdict.nodes.n1).toMatchObject({
      restorable: false,
      reason: expect.stringContaining(`segment ${name(1, 6)} is not archived`),
    });
  });

  it('counts the bytes of the partial segment exactly', () => {
    const withPartial = archive({ ...base, walPartials: { [name(1, 6)]: 0x2000 } });
    expect(judge(withPartial, seg(6) + 0x2000n).restorable).toBe(true);
    const short = judge(withPartial, seg(6) + 0x2001n);
    expect(short.restorable).toBe(false);
    expect(short.nodes.n1).toMatchObject({
      reason: expect.stringContaining(
        `reaches ${formatLsn(seg(6) + 0x2000n)} (${name(1, 6)} is partial)`,
      ),
    });
  });

  it('does not read past a missing segment, whatever comes after it', () => {
    const holed = archive({ ...base, walSegments: [...segments(1, 2, 3), ...segments(1, 5, 8)] });
    expect(judge(holed, seg(4)).restorable).toBe(true);
    const verdict = judge(holed, seg(7));
    expect(verdict.restorable).toBe(false);
    expect(verdict.nodes.n1).toMatchObject({
      reason: expect.stringContaining(`segment ${name(1, 4)} is not archived`),
    });
  });

  it('treats the partial of a missing middle segment as the end of the WAL', () => {
    const holed = archive({
      ...base,
      walSegments: [...segments(1, 2, 3), ...segments(1, 5, 6)],
      walPartials: { [name(1, 4)]: 0x100 },
    });
    expect(judge(holed, seg(4) + 0x100n).restorable).toBe(true);
    expect(judge(holed, seg(5) + 1n).restorable).toBe(false);
  });

  it('stops at a recorded gap even when the segments around it exist', () => {
    const lost = archive({
      ...base,
      gaps: [{ timeline: 1, fromLsn: formatLsn(seg(4) + 0x10n), toLsn: formatLsn(seg(4) + 0x80n) }],
    });
    expect(judge(lost, seg(4) + 0x10n).restorable).toBe(true);
    const verdict = judge(lost, seg(5));
    expect(verdict.restorable).toBe(false);
    expect(verdict.nodes.n1).toMatchObject({ reason: expect.stringContaining('was lost') });
    // a gap on another timeline's branch does not count
    const elsewhere = archive({
      ...base,
      gaps: [{ timeline: 7, fromLsn: formatLsn(seg(4)), toLsn: formatLsn(seg(5)) }],
    });
    expect(judge(elsewhere, seg(5)).restorable).toBe(true);
  });

  it('needs a backup that ended at or before the point', () => {
    expect(judge(base, seg(3) + 0x100n).restorable).toBe(true);
    const early = judge(base, seg(3) + 0xffn);
    expect(early.restorable).toBe(false);
    expect(early.nodes.n1).toMatchObject({
      reason: expect.stringContaining('no base backup that ended at or before'),
    });
  });

  it('is not restorable without any base backup', () => {
    const none = judge(archive({ walSegments: segments(1, 0, 9) }), seg(5));
    expect(none.restorable).toBe(false);
    expect(none.nodes.n1).toMatchObject({ reason: expect.stringContaining('no base backup') });
  });

  it('falls back to an older backup whose WAL reaches the point', () => {
    // The newer backup starts in segment 8, which is lost; the point is before it anyway.
    const two = archive({
      backups: [backup('old', seg(2), seg(2) + 0x100n), backup('new', seg(8), seg(8) + 0x100n)],
      walSegments: segments(1, 2, 6),
    });
    const verdict = judge(two, seg(6));
    expect(verdict.nodes.n1).toMatchObject({ restorable: true, backupId: 'old' });
    expect(judge(two, seg(9)).restorable).toBe(false);
  });

  it('prefers the newest backup that qualifies', () => {
    const two = archive({
      backups: [backup('old', seg(2), seg(2) + 0x100n), backup('new', seg(4), seg(4) + 0x100n)],
      walSegments: segments(1, 2, 6),
    });
    expect(judge(two, seg(6)).nodes.n1).toMatchObject({ restorable: true, backupId: 'new' });
  });
});

describe('restorability across timelines', () => {
  // Timeline 1 ran until the middle of segment 5; timeline 2 began there.
  const switchLsn = seg(5) + 0x4000n;
  const history: TimelineHistoryEntry[] = [{ parent: 1, switchLsn: formatLsn(switchLsn) }];
  const promoted = archive({
    backups: [backup('b1', seg(2), seg(2) + 0x100n, 1)],
    // PostgreSQL reads timeline 1's files before the switch segment and timeline 2's from it.
    walSegments: [...segments(1, 2, 4), ...segments(2, 5, 7)],
    walPartials: { [name(1, 5)]: 0x4000 },
    histories: { 2: history },
  });

  it('follows the history from a backup on the parent timeline', () => {
    expect(judge(promoted, seg(8), 2).nodes.n1).toMatchObject({ restorable: true, backupId: 'b1' });
    // segment 8 of timeline 2 is not archived yet
    expect(judge(promoted, seg(8) + 0x10n, 2).restorable).toBe(false);
  });

  it('needs the new timeline’s copy of the switch segment', () => {
    const noSwitchCopy = archive({
      ...promoted,
      walSegments: [...segments(1, 2, 5), ...segments(2, 6, 7)],
      walPartials: {},
    });
    const verdict = judge(noSwitchCopy, seg(7), 2);
    expect(verdict.restorable).toBe(false);
    expect(verdict.nodes.n1).toMatchObject({
      reason: expect.stringContaining(`segment ${name(2, 5)} is not archived`),
    });
  });

  it('cannot follow earlier timelines without the history file', () => {
    const noHistory = archive({ ...promoted, histories: {} });
    const verdict = judge(noHistory, seg(8), 2);
    expect(verdict.restorable).toBe(false);
    expect(verdict.nodes.n1).toMatchObject({
      reason: expect.stringContaining('history file of timeline 2 is not archived'),
    });
  });

  it('uses a backup taken on the new timeline without any history', () => {
    const onNew = archive({
      backups: [backup('b2', seg(6), seg(6) + 0x100n, 2)],
      walSegments: segments(2, 6, 7),
    });
    expect(judge(onNew, seg(8), 2).nodes.n1).toMatchObject({ restorable: true, backupId: 'b2' });
  });

  it('rejects a backup whose timeline ran past the branch point', () => {
    // This backup ended on timeline 1 after timeline 2 branched off: its data is not on 2's path.
    const diverged = archive({
      ...promoted,
      backups: [backup('late', seg(5) + 0x5000n, seg(5) + 0x6000n, 1)],
    });
    const verdict = judge(diverged, seg(8), 2);
    expect(verdict.restorable).toBe(false);
    expect(verdict.nodes.n1).toMatchObject({
      reason: expect.stringContaining('no base backup that ended at or before'),
    });
  });

  it('ignores backups of unrelated timelines', () => {
    const sibling = archive({
      backups: [backup('b3', seg(2), seg(2) + 0x100n, 3)],
      walSegments: segments(3, 2, 9),
      histories: { 2: history },
    });
    expect(judge(sibling, seg(8), 2).restorable).toBe(false);
  });

  it('follows a chain of two switches', () => {
    const second = seg(7) + 0x10n;
    const chain = archive({
      backups: [backup('b1', seg(2), seg(2) + 0x100n, 1)],
      walSegments: [...segments(1, 2, 4), ...segments(2, 5, 6), ...segments(3, 7, 8)],
      histories: {
        3: [
          { parent: 1, switchLsn: formatLsn(switchLsn) },
          { parent: 2, switchLsn: formatLsn(second) },
        ],
      },
    });
    expect(judge(chain, seg(9), 3).restorable).toBe(true);
    expect(judge(chain, seg(9) + 1n, 3).restorable).toBe(false);
  });
});

describe('restorability of a cluster point', () => {
  const ready = archive({
    backups: [backup('b', seg(1), seg(1) + 0x100n)],
    walSegments: segments(1, 1, 4),
  });
  const behind = archive({
    backups: [backup('b', seg(1), seg(1) + 0x100n)],
    walSegments: segments(1, 1, 2),
    walPartials: { [name(1, 3)]: 0x800 },
  });

  it('needs every node to have passed its own LSN', () => {
    const evaluator = new RestorabilityEvaluator({ n1: ready, n2: behind, n3: ready });
    const verdict = evaluator.evaluate(point({ n1: seg(4), n2: seg(3) + 0x900n, n3: seg(2) }));
    expect(verdict.restorable).toBe(false);
    expect(verdict.nodes.n1?.restorable).toBe(true);
    expect(verdict.nodes.n2?.restorable).toBe(false);
    expect(verdict.nodes.n3?.restorable).toBe(true);
    expect(evaluator.evaluate(point({ n1: seg(4), n2: seg(3) + 0x800n })).restorable).toBe(true);
  });

  it('never passes a failed point, a point without nodes, or a node the catalog lacks', () => {
    const evaluator = new RestorabilityEvaluator({ n1: ready });
    expect(evaluator.evaluate({ ...point({ n1: seg(2) }), status: 'failed' }).restorable).toBe(
      false,
    );
    expect(evaluator.evaluate(point({})).restorable).toBe(false);
    const missing = evaluator.evaluate(point({ n1: seg(2), n9: seg(2) }));
    expect(missing.restorable).toBe(false);
    expect(missing.nodes.n9).toMatchObject({ reason: 'Node n9 is not in the catalog.' });
  });

  it('judges thousands of points against a long archive quickly', () => {
    const long = archive({
      backups: [backup('b', seg(1), seg(1) + 0x100n)],
      walSegments: segments(1, 1, 20_000),
    });
    const evaluator = new RestorabilityEvaluator({ n1: long, n2: long });
    const started = performance.now();
    let passed = 0;
    for (let i = 0; i < 5000; i++) {
      const at = seg(2 + i * 4);
      if (evaluator.evaluate(point({ n1: at, n2: at })).restorable) passed++;
    }
    expect(passed).toBe(5000);
    expect(performance.now() - started).toBeLessThan(2000);
  });
});
