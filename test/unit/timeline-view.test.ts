import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Catalog } from '../../main/engine/catalog/catalog.js';
import type { CatalogIndex } from '../../main/engine/catalog/catalog-index.js';
import type {
  BaseBackupRecord,
  NodeRecord,
  RestorePointRecord,
} from '../../main/engine/catalog/records.js';
import {
  bucketPoints,
  buildTimelineView,
  exactPointsLimit,
  LsnClock,
  nearestRestorablePoint,
} from '../../main/engine/catalog/timeline-view.js';
import { TidemarkError } from '../../main/engine/errors.js';
import {
  formatLsn,
  segmentStartLsn,
  walSegmentFileName,
} from '../../main/engine/replication/lsn.js';
import { repositoryConfigSchema } from '../../main/engine/repository/repository-config.js';
import { Repository } from '../../main/engine/repository/repository.js';
import { MemoryZone } from '../support/memory-zone.js';
import { tempDir } from '../support/temp-dir.js';

const segmentSize = 16 * 1024 * 1024;
const scrypt = { N: 2 ** 10, r: 8, p: 1 };
const t0 = Date.parse('2025-03-01T00:00:00.000Z');
const iso = (offsetSeconds: number) => new Date(t0 + offsetSeconds * 1000).toISOString();
const lsnOfSegment = (n: number) => formatLsn(segmentStartLsn(BigInt(n), segmentSize));
const segment = (n: number) => walSegmentFileName(1, BigInt(n), segmentSize);

function nodeRecord(nodeId: string, role: NodeRecord['role']): NodeRecord {
  return {
    clusterId: 'c',
    nodeId,
    distNodeId: Number(nodeId.slice(1)),
    groupId: role === 'coordinator' ? 0 : Number(nodeId.slice(1)),
    role,
    name: `host-${nodeId}`,
    port: 5432,
    systemIdentifier: `7${nodeId.slice(1)}`,
    serverVersionNum: 150000,
    walSegmentSize: segmentSize,
    firstSeenAt: iso(0),
    removedAt: null,
  };
}

function backupRecord(
  nodeId: string,
  backupId: string,
  start: [number, number],
  end: [number, number],
): BaseBackupRecord {
  return {
    backupId,
    clusterId: 'c',
    nodeId,
    label: backupId,
    startLsn: lsnOfSegment(start[0]),
    endLsn: lsnOfSegment(end[0]),
    timeline: 1,
    endTimeline: 1,
    startedAt: iso(start[1]),
    endedAt: iso(end[1]),
    compression: 'lz4',
    archives: [{ name: 'base.tar.lz4', tablespaceOid: null, tablespacePath: null, bytes: 1000 }],
    manifestBytes: 24,
    dataBytes: 5000,
    serverConfig: {
      serverVersion: '15.8',
      serverVersionNum: 150008,
      systemIdentifier: '7',
      parameters: {},
      extensions: [],
      sharedPreloadLibraries: [],
      dataChecksums: true,
      bootstrapSuperuser: 'postgres',
    },
    degradedZones: [],
  };
}

function point(
  name: string,
  atSeconds: number,
  status: RestorePointRecord['status'],
  nodeLsns: Record<string, string>,
): RestorePointRecord {
  return {
    clusterId: 'c',
    name,
    label: null,
    createdAt: iso(atSeconds),
    status,
    coordinatorLsn: nodeLsns.n1 ?? null,
    nodeLsns,
    nodeTimelines: Object.fromEntries(Object.keys(nodeLsns).map((k) => [k, 1])),
    error: status === 'failed' ? 'lock timeout on worker n2' : null,
  };
}

function indexWith(points: RestorePointRecord[], walSegments: string[]): CatalogIndex {
  return {
    version: 1,
    repositoryId: 'r',
    builtAt: iso(0),
    clusters: {
      c: {
        record: {
          clusterId: 'c',
          name: 'c',
          createdAt: iso(0),
          coordinator: { host: 'h', port: 5432, database: 'postgres' },
          citusVersion: '13.2',
        },
        nodes: {
          n1: {
            record: nodeRecord('n1', 'coordinator'),
            backups: [backupRecord('n1', 'b1', [0, -60], [0, 0])],
            walSegments,
            walPartials: {},
            histories: [],
            gaps: [],
          },
        },
        restorePoints: points,
      },
    },
  };
}

describe('timeline view', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  let catalog: Catalog;

  async function openCatalog(index?: CatalogIndex): Promise<Catalog> {
    const config = repositoryConfigSchema.parse({
      id: 'r',
      name: 'r',
      zones: [{ kind: 'folder', id: 'z0', name: 'z0', path: '/unused' }],
    });
    const repository = await Repository.init({
      config,
      zones: [new MemoryZone('z0')],
      secret: { passphrase: 'unit test passphrase' },
      keyringOptions: { scrypt },
    });
    const path = join(dir.path, 'index.json');
    if (index) await writeFile(path, JSON.stringify({ ...index, repositoryId: 'r' }));
    return Catalog.open(repository, path);
  }

  beforeEach(async () => {
    dir = await tempDir('tidemark-timeline-');
  });

  afterEach(async () => {
    await catalog?.close();
    await dir.cleanup();
  });

  /** Two nodes; one hour; segments 1..10 on n1, n2 missing segment 5; a recorded gap on n1 later. */
  async function smallCluster(): Promise<void> {
    catalog = await openCatalog();
    await catalog.putCluster({
      clusterId: 'c',
      name: 'c',
      createdAt: iso(0),
      coordinator: { host: 'h', port: 5432, database: 'postgres' },
      citusVersion: '13.2',
    });
    await catalog.putNode(nodeRecord('n2', 'worker'));
    await catalog.putNode(nodeRecord('n1', 'coordinator'));
    await catalog.putBackup(backupRecord('n1', 'b1', [1, 0], [2, 60]));
    await catalog.putBackup(backupRecord('n2', 'b2', [1, 0], [2, 60]));
    for (let n = 1; n <= 10; n++) {
      catalog.noteWalSegment('c', 'n1', segment(n));
      if (n !== 5) catalog.noteWalSegment('c', 'n2', segment(n));
    }
    catalog.noteWalPartial('c', 'n1', segment(11), 1024);
    // a point every 6 minutes at segment n+2: LSN and time grow together
    for (let i = 0; i < 8; i++) {
      const lsn = lsnOfSegment(i + 2);
      const status = i === 3 ? 'failed' : i < 6 ? 'restorable' : 'created';
      await catalog.putRestorePoint(point(`p${i}`, 360 * (i + 1), status, { n1: lsn, n2: lsn }));
    }
    await catalog.putGap({
      clusterId: 'c',
      nodeId: 'n1',
      timeline: 1,
      fromLsn: lsnOfSegment(8),
      toLsn: lsnOfSegment(9),
      detectedAt: iso(3000),
      reason: 'slot lost WAL (max_slot_wal_keep_size)',
    });
  }

  it('shows backups, WAL coverage with gaps, and every point of a short range', async () => {
    await smallCluster();
    const view = buildTimelineView(catalog, {
      clusterId: 'c',
      retentionDays: 35,
      now: new Date(t0 + 3600_000),
      buckets: 6,
    });

    expect(view.window.from).toBe(new Date(t0 + 3600_000 - 35 * 86_400_000).toISOString());
    expect(view.range).toEqual({ from: view.window.from, to: iso(3600) });
    expect(view.nodes.map((n) => [n.nodeId, n.role])).toEqual([
      ['n1', 'coordinator'],
      ['n2', 'worker'],
    ]);
    const [n1, n2] = view.nodes;
    expect(n1!.backups).toEqual([
      expect.objectContaining({
        backupId: 'b1',
        storedBytes: 1024,
        compression: 'lz4',
        startedAt: iso(0),
      }),
    ]);

    // n1: segments 1..10 plus 1 kB of segment 11, in one piece; its recorded gap still shows
    expect(n1!.wal.coverage).toHaveLength(1);
    expect(n1!.wal.coverage[0]).toMatchObject({
      fromLsn: lsnOfSegment(1),
      toLsn: formatLsn(segmentStartLsn(11n, segmentSize) + 1024n),
    });
    expect(n1!.wal.gaps).toEqual([
      expect.objectContaining({
        source: 'recorded',
        fromLsn: lsnOfSegment(8),
        toLsn: lsnOfSegment(9),
        affectsRestore: true,
        from: iso(2520),
        to: iso(2880),
      }),
    ]);
    // n2: two pieces around the missing segment 5, whose times come from the points at segments 5 and 6
    expect(n2!.wal.coverage.map((c) => [c.fromLsn, c.toLsn])).toEqual([
      [lsnOfSegment(1), lsnOfSegment(5)],
      [lsnOfSegment(6), lsnOfSegment(11)],
    ]);
    expect(n2!.wal.gaps).toEqual([
      expect.objectContaining({
        source: 'detected',
        timeline: 1,
        fromLsn: lsnOfSegment(5),
        toLsn: lsnOfSegment(6),
        from: iso(1440),
        to: iso(1800),
        affectsRestore: true,
      }),
    ]);
    expect(n2!.wal.gaps[0]!.reason).toContain(segment(5));

    expect(view.restorePoints).toMatchObject({ total: 8, restorable: 5, created: 2, failed: 1 });
    expect(view.restorePoints.points?.map((p) => p.name)).toEqual([
      'p0',
      'p1',
      'p2',
      'p3',
      'p4',
      'p5',
      'p6',
      'p7',
    ]);
    expect(view.failedPoints).toEqual([
      expect.objectContaining({ name: 'p3', error: 'lock timeout on worker n2' }),
    ]);
    expect(view.earliestRestorable?.name).toBe('p0');
    expect(view.latestRestorable?.name).toBe('p5');
    expect(view.extent).toEqual({ from: iso(0), to: iso(2880) });
  });

  it('narrows to a range: only what overlaps it, and buckets that add up', async () => {
    await smallCluster();
    const view = buildTimelineView(catalog, {
      clusterId: 'c',
      retentionDays: 35,
      now: new Date(t0 + 3600_000),
      from: new Date(t0 + 600_000),
      to: new Date(t0 + 1800_000),
      buckets: 4,
    });
    // points p1..p4 (720 s .. 1800 s, `to` inclusive)
    expect(view.restorePoints.points?.map((p) => p.name)).toEqual(['p1', 'p2', 'p3', 'p4']);
    expect(view.restorePoints.buckets).toEqual([
      { from: iso(600), to: iso(900), restorable: 1, created: 0, failed: 0 },
      { from: iso(900), to: iso(1200), restorable: 1, created: 0, failed: 0 },
      { from: iso(1200), to: iso(1500), restorable: 0, created: 0, failed: 1 },
      { from: iso(1500), to: iso(1800), restorable: 1, created: 0, failed: 0 },
    ]);
    // the backups ended at 60 s, before the range
    expect(view.nodes[0]!.backups).toEqual([]);
    expect(view.nodes[0]!.backupCount).toBe(1);
    // n1's recorded gap (2520 s – 2880 s) lies after the range
    expect(view.nodes[0]!.wal.gaps).toEqual([]);
    expect(view.nodes[1]!.wal.gaps).toHaveLength(1);
  });

  it('refuses a range that ends before it starts', async () => {
    await smallCluster();
    expect(() =>
      buildTimelineView(catalog, {
        clusterId: 'c',
        retentionDays: 35,
        now: new Date(t0),
        from: new Date(t0),
        to: new Date(t0 - 1),
      }),
    ).toThrow(TidemarkError);
  });

  it('snaps a time to the latest restorable point at or before it, as the planner would', async () => {
    await smallCluster();
    // p3 (1440 s) failed: a time just after it snaps back to p2 (1080 s)
    expect(nearestRestorablePoint(catalog, 'c', new Date(t0 + 1500_000))).toMatchObject({
      point: { name: 'p2' },
      distanceSeconds: 420,
      earliest: null,
    });
    expect(nearestRestorablePoint(catalog, 'c', new Date(t0 + 360_000))).toMatchObject({
      point: { name: 'p0' },
      distanceSeconds: 0,
    });
    // p6, p7 are only `created`: the latest restorable is p5
    expect(nearestRestorablePoint(catalog, 'c', new Date(t0 + 7200_000))).toMatchObject({
      point: { name: 'p5' },
      distanceSeconds: 7200 - 2160,
    });
    expect(nearestRestorablePoint(catalog, 'c', new Date(t0 + 10_000))).toMatchObject({
      point: null,
      distanceSeconds: null,
      earliest: { name: 'p0' },
    });
  });

  it(`sends the points one by one up to ${exactPointsLimit}, and only counts above`, async () => {
    const points = (n: number) =>
      Array.from({ length: n }, (_, i) =>
        point(`rp-${i}`, 60 * i, 'restorable', { n1: formatLsn(BigInt(i + 1) * 4096n) }),
      );
    for (const [n, exact] of [
      [exactPointsLimit, true],
      [exactPointsLimit + 1, false],
    ] as const) {
      catalog = await openCatalog(indexWith(points(n), []));
      const view = buildTimelineView(catalog, {
        clusterId: 'c',
        retentionDays: 35,
        now: new Date(t0 + n * 60_000),
      });
      expect(view.restorePoints.total).toBe(n);
      expect(view.restorePoints.points?.length ?? null).toBe(exact ? n : null);
      await catalog.close();
    }
  });

  it('sends 35 days at one point a minute as counts, not 50,400 points, and fast', async () => {
    const count = 35 * 24 * 60;
    const points: RestorePointRecord[] = [];
    for (let i = 0; i < count; i++) {
      const lsn = formatLsn(BigInt(i + 1) * 4096n * 1024n);
      points.push(
        point(`rp-${i}`, 60 * i, i % 1000 === 999 ? 'failed' : 'restorable', { n1: lsn }),
      );
    }
    const segments = Array.from({ length: count / 4 }, (_, i) => segment(i));
    const index = indexWith(points, segments);
    catalog = await openCatalog(index);
    const now = new Date(t0 + count * 60_000);

    const started = performance.now();
    const view = buildTimelineView(catalog, {
      clusterId: 'c',
      retentionDays: 35,
      now,
      buckets: 200,
    });
    const elapsed = performance.now() - started;

    expect(view.restorePoints.total).toBe(count);
    expect(view.restorePoints.points).toBeNull();
    expect(view.restorePoints.buckets).toHaveLength(200);
    const sum = view.restorePoints.buckets.reduce(
      (s, b) => s + b.restorable + b.failed + b.created,
      0,
    );
    expect(sum).toBe(count);
    expect(view.restorePoints.failed).toBe(50);
    expect(view.failedPoints).toHaveLength(50);
    expect(view.nodes[0]!.wal.coverage).toHaveLength(1);
    expect(JSON.stringify(view).length).toBeLessThan(100_000);
    // measured ~100 ms (including the WAL analysis of 12,600 segments) on the 2-core test machine; the bound leaves room for a loaded CI
    expect(elapsed).toBeLessThan(1500);

    const snapStarted = performance.now();
    expect(nearestRestorablePoint(catalog, 'c', new Date(t0 + 630_000))).toMatchObject({
      point: { name: 'rp-10' },
      distanceSeconds: 30,
    });
    expect(performance.now() - snapStarted).toBeLessThan(50);
  });
});

describe('bucketPoints', () => {
  it('puts a point on a boundary into the later bucket and one at the very end into the last', () => {
    const buckets = bucketPoints(
      [
        { createdAt: iso(0), status: 'restorable' },
        { createdAt: iso(50), status: 'created' },
        { createdAt: iso(100), status: 'failed' },
        { createdAt: iso(101), status: 'failed' },
      ],
      new Date(t0),
      new Date(t0 + 100_000),
      2,
    );
    expect(buckets.map((b) => [b.restorable, b.created, b.failed])).toEqual([
      [1, 0, 0],
      [0, 1, 1],
    ]);
  });
});

describe('LsnClock', () => {
  it('interpolates between anchors, clamps outside them, and never runs backwards', () => {
    const clock = new LsnClock([
      { lsn: 100n, time: 1000 },
      { lsn: 300n, time: 3000 },
      { lsn: 200n, time: 500 }, // a clock that stepped back
    ]);
    expect(clock.timeOf(50n)).toBe(1000);
    expect(clock.timeOf(150n)).toBe(1000);
    expect(clock.timeOf(250n)).toBe(2000);
    expect(clock.timeOf(400n)).toBe(3000);
    expect(new LsnClock([]).timeOf(1n)).toBeNull();
  });
});
