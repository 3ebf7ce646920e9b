import { describe, expect, it } from 'vitest';
import { layout } from '../../main/engine/catalog/layout.js';
import {
  planRetention,
  type RetentionInput,
  type RetentionObject,
} from '../../main/engine/catalog/retention.js';
import {
  formatLsn,
  segmentStartLsn,
  walSegmentFileName,
} from '../../main/engine/replication/lsn.js';

const MB16 = 16 * 1024 * 1024;
const day = 24 * 60 * 60 * 1000;
const now = new Date('2026-03-01T00:00:00.000Z');
const seg = (timeline: number, n: number) => walSegmentFileName(timeline, BigInt(n), MB16);
const lsnOf = (n: number, offset = 0x28) =>
  formatLsn(segmentStartLsn(BigInt(n), MB16) + BigInt(offset));

/** 60 days of one node: a backup a day at 01:00, four WAL segments a day, a restore point every 6 hours. */
function sixtyDays(): RetentionInput & { backupIds: string[] } {
  const objects: RetentionObject[] = [];
  const add = (key: string, bytes = 100, modified = now) => objects.push({ key, bytes, modified });
  const backups = [];
  const restorePoints = [];
  for (let i = 0; i < 60; i++) {
    const dayStart = now.getTime() - (60 - i) * day;
    const backupId = `b${String(i).padStart(2, '0')}`;
    const startedAt = new Date(dayStart + 60 * 60 * 1000).toISOString();
    backups.push({ backupId, startedAt, startLsn: lsnOf(i * 4 + 1), timeline: 1 });
    add(layout.backupRecord('c1', 'n1', backupId), 300);
    add(layout.backupManifest('c1', 'n1', backupId), 1000);
    add(layout.backupArchive('c1', 'n1', backupId, 'base.tar.lz4'), 50_000);
    for (let s = 1; s <= 4; s++) add(layout.walSegment('c1', 'n1', seg(1, i * 4 + s)), 2000);
    for (let h = 0; h < 4; h++) {
      const createdAt = new Date(dayStart + h * 6 * 60 * 60 * 1000);
      const name = `rp-${i}-${h}`;
      restorePoints.push({ clusterId: 'c1', name, createdAt: createdAt.toISOString() });
      add(layout.restorePoint('c1', createdAt, name), 200);
    }
  }
  add(layout.walPartial('c1', 'n1', seg(1, 241)), 500);
  add(layout.cluster('c1'), 100);
  add(layout.node('c1', 'n1'), 100);
  return {
    now,
    retentionDays: 35,
    objects,
    nodes: [{ clusterId: 'c1', nodeId: 'n1', segmentSize: MB16, backups, gaps: [] }],
    restorePoints,
    backupIds: backups.map((b) => b.backupId),
  };
}

describe('planRetention', () => {
  it('keeps the newest backup started at or before the window start and everything newer', () => {
    const input = sixtyDays();
    const plan = planRetention(input);
    expect(plan.windowStart).toBe('2026-01-25T00:00:00.000Z');
    // backup 24 started 35 days and 23 hours ago: the newest at or before the window start
    expect(plan.nodes).toEqual([
      {
        clusterId: 'c1',
        nodeId: 'n1',
        keptBackups: input.backupIds.slice(24),
        deletedBackups: input.backupIds.slice(0, 24),
        walCutoff: { timeline: 1, lsn: lsnOf(97), segment: seg(1, 97) },
      },
    ]);
    const byKind = (kind: string) => plan.deletions.filter((d) => d.kind === kind);
    expect(byKind('backup-record').map((d) => d.backupId)).toEqual(input.backupIds.slice(0, 24));
    expect(byKind('backup-part')).toHaveLength(48);
    // WAL before backup 24's start segment (97) goes; 97 onwards and the partial stay
    expect(byKind('wal-segment').map((d) => d.name)).toEqual(
      Array.from({ length: 96 }, (_, i) => seg(1, i + 1)),
    );
    expect(byKind('wal-partial')).toEqual([]);
    // restore points of the first 25 days (4 a day) are older than the window start
    expect(byKind('restore-point')).toHaveLength(100);
    expect(
      byKind('restore-point').every(
        (d) => input.restorePoints.find((p) => p.name === d.name)!.createdAt < plan.windowStart,
      ),
    ).toBe(true);
    expect(plan.totals).toEqual({
      objects: plan.deletions.length,
      bytes: plan.deletions.reduce((s, d) => s + d.bytes, 0),
    });
    expect(plan.totals.objects).toBe(24 * 3 + 96 + 100);
  });

  it('orders deletions: restore points, then each backup record before its parts, then WAL', () => {
    const plan = planRetention(sixtyDays());
    const kinds = plan.deletions.map((d) => d.kind);
    const lastPoint = kinds.lastIndexOf('restore-point');
    const firstBackup = kinds.indexOf('backup-record');
    const firstWal = kinds.indexOf('wal-segment');
    expect(lastPoint).toBeLessThan(firstBackup);
    expect(kinds.lastIndexOf('backup-part')).toBeLessThan(firstWal);
    for (const [i, d] of plan.deletions.entries()) {
      if (d.kind === 'backup-part')
        expect(
          plan.deletions.findIndex((r) => r.kind === 'backup-record' && r.backupId === d.backupId),
        ).toBeLessThan(i);
    }
  });

  it('deletes nothing of a node whose backups all lie inside the window', () => {
    const input = sixtyDays();
    const young = input.nodes[0]!.backups.slice(30).map((b) => ({ ...b }));
    const plan = planRetention({ ...input, nodes: [{ ...input.nodes[0]!, backups: young }] });
    // the oldest backup (day 30) is younger than the window: the node's history is kept whole
    expect(plan.nodes[0]).toMatchObject({ deletedBackups: [], walCutoff: null });
    // only restore points older than the window go
    expect(plan.deletions.filter((d) => d.kind !== 'restore-point')).toEqual([]);
    expect(plan.deletions).toHaveLength(100);
  });

  it('a longer window keeps everything; restore points the index lost are still found by their day', () => {
    expect(planRetention({ ...sixtyDays(), retentionDays: 90 }).deletions).toEqual([]);
    // the index forgot the points (a delete missed a zone): listed points of days before the window still go
    const plan = planRetention({ ...sixtyDays(), restorePoints: [] });
    expect(
      plan.deletions.filter((d) => d.kind === 'restore-point').map((d) => d.key.slice(27, 35)),
    ).toEqual(expect.arrayContaining(['20251231', '20260124']));
    expect(plan.deletions.filter((d) => d.kind === 'restore-point')).toHaveLength(100);
  });

  it('removes leftovers of backups that never completed only once they are old', () => {
    const input = sixtyDays();
    const old = new Date(now.getTime() - 40 * day);
    const recent = new Date(now.getTime() - 2 * day);
    const objects = [
      ...input.objects,
      { key: layout.backupArchive('c1', 'n1', 'crashed', 'base.tar'), bytes: 10, modified: old },
      { key: layout.backupArchive('c1', 'n1', 'running', 'base.tar'), bytes: 10, modified: recent },
    ];
    const plan = planRetention({ ...input, objects });
    expect(
      plan.deletions.filter((d) => d.kind === 'orphan-backup-part').map((d) => d.backupId),
    ).toEqual(['crashed']);
  });

  it('cuts WAL and history files along timelines: older timelines go, the kept backup’s timeline history stays', () => {
    const backups = [
      {
        backupId: 'old',
        startedAt: new Date(now.getTime() - 50 * day).toISOString(),
        startLsn: lsnOf(2),
        timeline: 1,
      },
      {
        backupId: 'mid',
        startedAt: new Date(now.getTime() - 40 * day).toISOString(),
        startLsn: lsnOf(6),
        timeline: 2,
      },
      {
        backupId: 'new',
        startedAt: new Date(now.getTime() - 10 * day).toISOString(),
        startLsn: lsnOf(12),
        timeline: 3,
      },
    ];
    const objects: RetentionObject[] = [];
    const add = (key: string) => objects.push({ key, bytes: 10, modified: now });
    for (const b of backups) add(layout.backupRecord('c1', 'n1', b.backupId));
    for (let n = 1; n <= 5; n++) add(layout.walSegment('c1', 'n1', seg(1, n)));
    for (let n = 5; n <= 10; n++) add(layout.walSegment('c1', 'n1', seg(2, n)));
    for (let n = 10; n <= 14; n++) add(layout.walSegment('c1', 'n1', seg(3, n)));
    add(layout.walHistory('c1', 'n1', 2));
    add(layout.walHistory('c1', 'n1', 3));
    const gaps = [
      { timeline: 1, fromLsn: lsnOf(3, 0), toLsn: lsnOf(4, 0) },
      { timeline: 2, fromLsn: lsnOf(8, 0), toLsn: lsnOf(9, 0) },
    ];
    const plan = planRetention({
      now,
      retentionDays: 35,
      objects,
      nodes: [{ clusterId: 'c1', nodeId: 'n1', segmentSize: MB16, backups, gaps }],
      restorePoints: [],
    });
    expect(plan.nodes[0]).toMatchObject({
      keptBackups: ['mid', 'new'],
      deletedBackups: ['old'],
      walCutoff: { timeline: 2, segment: seg(2, 6) },
    });
    expect(plan.deletions.filter((d) => d.kind === 'wal-segment').map((d) => d.name)).toEqual([
      ...[1, 2, 3, 4, 5].map((n) => seg(1, n)),
      seg(2, 5),
    ]);
    // timeline 2 is the oldest kept backup's: its history stays
    expect(plan.deletions.filter((d) => d.kind === 'wal-history')).toEqual([]);
    expect(plan.deletions.filter((d) => d.kind === 'wal-gap').map((d) => d.name)).toEqual([
      `1:${lsnOf(3, 0)}`,
    ]);
  });
});
