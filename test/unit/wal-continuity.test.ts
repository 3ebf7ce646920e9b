import { describe, expect, it } from 'vitest';
import {
  analyzeWalContinuity,
  parseTimelineHistory,
} from '../../main/engine/catalog/wal-continuity.js';
import { walSegmentFileName } from '../../main/engine/replication/lsn.js';

const MB16 = 16 * 1024 * 1024;
const seg = (timeline: number, n: number) => walSegmentFileName(timeline, BigInt(n), MB16);
const range = (timeline: number, from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, i) => seg(timeline, from + i));

describe('analyzeWalContinuity', () => {
  it('merges consecutive segments into one range and finds no gap', () => {
    const result = analyzeWalContinuity({ segmentSize: MB16, segments: range(1, 1, 5) });
    expect(result.timelines).toEqual([
      {
        timeline: 1,
        parent: null,
        switchLsn: null,
        ranges: [{ from: '0/1000000', to: '0/6000000' }],
        segments: 5,
        partialBytes: null,
      },
    ]);
    expect(result.gaps).toEqual([]);
    expect(result.missingHistories).toEqual([]);
  });

  it('reports a missing segment as a gap with LSNs and the first missing segment name', () => {
    const segments = range(1, 1, 6).filter((s) => s !== seg(1, 3) && s !== seg(1, 4));
    const result = analyzeWalContinuity({
      segmentSize: MB16,
      segments,
      backups: [{ backupId: 'b1', timeline: 1, startLsn: '0/1000028', endLsn: '0/1000138' }],
    });
    expect(result.gaps).toEqual([
      {
        timeline: 1,
        from: '0/3000000',
        to: '0/5000000',
        firstSegment: '000000010000000000000003',
        affectsRestore: true,
      },
    ]);
    expect(result.timelines[0]!.ranges).toEqual([
      { from: '0/1000000', to: '0/3000000' },
      { from: '0/5000000', to: '0/7000000' },
    ]);
    // the backup itself has its WAL
    expect(result.backups).toEqual([
      {
        backupId: 'b1',
        timeline: 1,
        needed: { from: '0/1000028', to: '0/1000138' },
        complete: true,
        missing: [],
      },
    ]);
  });

  it('marks a gap before the oldest backup as not affecting restores', () => {
    const segments = [seg(1, 1), seg(1, 3), seg(1, 4)];
    const result = analyzeWalContinuity({
      segmentSize: MB16,
      segments,
      backups: [{ backupId: 'b', timeline: 1, startLsn: '0/3000028', endLsn: '0/3000100' }],
    });
    expect(result.gaps).toEqual([
      {
        timeline: 1,
        from: '0/2000000',
        to: '0/3000000',
        firstSegment: seg(1, 2),
        affectsRestore: false,
      },
    ]);
  });

  it('extends coverage by the partial segment and ignores a partial whose segment is complete', () => {
    const result = analyzeWalContinuity({
      segmentSize: MB16,
      segments: range(1, 1, 2),
      partials: { [seg(1, 3)]: 0x4d2, [seg(1, 2)]: 99 },
    });
    expect(result.timelines[0]!.ranges).toEqual([{ from: '0/1000000', to: '0/30004D2' }]);
    expect(result.timelines[0]!.partialBytes).toBe(0x4d2);
    expect(result.gaps).toEqual([]);
  });

  it('follows a timeline switch through the history file without a false gap', () => {
    // timeline 1 ends at 0/3800000 (inside segment 3); timeline 2 starts with its own copy of segment 3
    const result = analyzeWalContinuity({
      segmentSize: MB16,
      segments: [...range(1, 1, 3), ...range(2, 3, 6)],
      histories: { 2: [{ parent: 1, switchLsn: '0/3800000' }] },
      backups: [{ backupId: 'b', timeline: 1, startLsn: '0/1000028', endLsn: '0/1000100' }],
    });
    expect(result.gaps).toEqual([]);
    expect(result.timelines.map((t) => [t.timeline, t.parent, t.switchLsn])).toEqual([
      [1, null, null],
      [2, 1, '0/3800000'],
    ]);
  });

  it('does not let WAL of an abandoned branch fill a hole on the new timeline', () => {
    const result = analyzeWalContinuity({
      segmentSize: MB16,
      // the old primary went on writing segment 4 on timeline 1 after the switch; timeline 2 lacks it
      segments: [...range(1, 1, 4), seg(2, 3), seg(2, 5), seg(2, 6)],
      histories: { 2: [{ parent: 1, switchLsn: '0/3800000' }] },
      backups: [{ backupId: 'b', timeline: 1, startLsn: '0/1000028', endLsn: '0/1000100' }],
    });
    expect(result.gaps).toEqual([
      {
        timeline: 2,
        from: '0/4000000',
        to: '0/5000000',
        firstSegment: '000000020000000000000004',
        affectsRestore: true,
      },
    ]);
  });

  it('names the WAL a backup lacks, and timelines without a history file', () => {
    const result = analyzeWalContinuity({
      segmentSize: MB16,
      segments: [seg(1, 1), seg(2, 6)],
      backups: [{ backupId: 'b2', timeline: 1, startLsn: '0/1FFFF00', endLsn: '0/2000100' }],
    });
    expect(result.backups[0]).toMatchObject({
      backupId: 'b2',
      complete: false,
      missing: [{ from: '0/2000000', to: '0/2000100' }],
    });
    expect(result.missingHistories).toEqual([2]);
  });

  it('lists names that are not segments of this size', () => {
    const result = analyzeWalContinuity({
      segmentSize: MB16,
      segments: [seg(1, 1), '000000010000000000000100', 'garbage'],
    });
    expect(result.unrecognized).toEqual(['000000010000000000000100', 'garbage']);
  });
});

describe('parseTimelineHistory', () => {
  it('reads PostgreSQL history lines', () => {
    const text =
      '1\t0/3000158\tno recovery target specified\n\n2\t0/5000000\tbefore 2026-01-01 00:00:00+00\n';
    expect(parseTimelineHistory(text)).toEqual([
      { parent: 1, switchLsn: '0/3000158' },
      { parent: 2, switchLsn: '0/5000000' },
    ]);
    expect(() => parseTimelineHistory('x\ty\n')).toThrow(RangeError);
  });
});
