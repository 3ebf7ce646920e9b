import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Catalog } from '../../main/engine/catalog/catalog.js';
import { layout } from '../../main/engine/catalog/layout.js';
import type { BaseBackupRecord } from '../../main/engine/catalog/records.js';
import {
  formatLsn,
  segmentStartLsn,
  walSegmentFileName,
} from '../../main/engine/replication/lsn.js';
import type { Repository } from '../../main/engine/repository/repository.js';
import type { RepositoryManager } from '../../main/engine/repository/repository-manager.js';
import { folderKeys, managerIn } from '../support/repo-manager-fixture.js';
import { tempDir } from '../support/temp-dir.js';

const MB16 = 16 * 1024 * 1024;
const day = 24 * 60 * 60 * 1000;
const now = new Date('2026-06-01T00:00:00.000Z');
const seg = (n: number) => walSegmentFileName(1, BigInt(n), MB16);
const lsnOf = (n: number) => formatLsn(segmentStartLsn(BigInt(n), MB16) + 0x28n);

let root: { path: string; cleanup: () => Promise<void> };
let manager: RepositoryManager;
let zonePaths: string[];

/**
 * 60 days of one node written through the repository and the catalog: a base backup a day
 * (record, manifest, archive), two WAL segments a day (tiny stand-ins), two restore points a day.
 */
async function writeSixtyDays(repository: Repository, catalog: Catalog): Promise<void> {
  await catalog.putCluster({
    clusterId: 'c1',
    name: 'prod',
    createdAt: new Date(now.getTime() - 61 * day).toISOString(),
    coordinator: { host: 'db', port: 5432, database: 'app' },
    citusVersion: '13.2',
  });
  await catalog.putNode({
    clusterId: 'c1',
    nodeId: 'n1',
    distNodeId: 1,
    groupId: 0,
    role: 'coordinator',
    name: 'db',
    port: 5432,
    systemIdentifier: '7',
    serverVersionNum: 150000,
    walSegmentSize: MB16,
    firstSeenAt: new Date(now.getTime() - 61 * day).toISOString(),
    removedAt: null,
  });
  for (let i = 0; i < 60; i++) {
    const dayStart = now.getTime() - (60 - i) * day;
    const backupId = `b${String(i).padStart(2, '0')}`;
    await repository.putObject(
      layout.backupArchive('c1', 'n1', backupId, 'base.tar'),
      Buffer.from(`archive ${i}`),
    );
    await repository.putObject(
      layout.backupManifest('c1', 'n1', backupId),
      Buffer.from(`manifest ${i}`),
    );
    const record: BaseBackupRecord = {
      backupId,
      clusterId: 'c1',
      nodeId: 'n1',
      label: backupId,
      startLsn: lsnOf(i * 2 + 1),
      endLsn: lsnOf(i * 2 + 1),
      timeline: 1,
      endTimeline: 1,
      startedAt: new Date(dayStart + 60 * 60 * 1000).toISOString(),
      endedAt: new Date(dayStart + 2 * 60 * 60 * 1000).toISOString(),
      compression: 'none',
      archives: [{ name: 'base.tar', tablespaceOid: null, tablespacePath: null, bytes: 9 }],
      manifestBytes: 10,
      dataBytes: 9,
      serverConfig: {
        serverVersion: '15',
        serverVersionNum: 150000,
        systemIdentifier: '7',
        parameters: {},
        extensions: [],
        sharedPreloadLibraries: [],
        dataChecksums: true,
        bootstrapSuperuser: 'postgres',
      },
      degradedZones: [],
    };
    await catalog.putBackup(record);
    for (const s of [i * 2 + 1, i * 2 + 2]) {
      await repository.putObject(layout.walSegment('c1', 'n1', seg(s)), Buffer.from(`wal ${s}`));
      catalog.noteWalSegment('c1', 'n1', seg(s));
    }
    for (const h of [0, 12]) {
      await catalog.putRestorePoint({
        clusterId: 'c1',
        name: `rp-${i}-${h}`,
        label: null,
        createdAt: new Date(dayStart + h * 60 * 60 * 1000).toISOString(),
        status: h === 12 && i % 10 === 0 ? 'failed' : 'restorable',
        coordinatorLsn: lsnOf(i * 2 + 1),
        nodeLsns: { n1: lsnOf(i * 2 + 1) },
        nodeTimelines: { n1: 1 },
        error: null,
      });
    }
  }
  await repository.putObject(layout.walPartial('c1', 'n1', seg(121)), Buffer.from('partial'));
  catalog.noteWalPartial('c1', 'n1', seg(121), 7);
  await catalog.flush();
}

/** What must remain with a 35-day window: computed from the rule, not from the planner. */
function expectedRemaining(all: string[]): string[] {
  const windowStart = now.getTime() - 35 * day;
  // backup i started at day i + 1 h; the newest started at or before the window start is day 24
  const keptFrom = 24;
  return all.filter((key) => {
    const backup = /\/backups\/b(\d\d)\//.exec(key);
    if (backup) return Number(backup[1]) >= keptFrom;
    const wal = /\/wal\/00000001\/([0-9A-F]{24})$/.exec(key);
    if (wal) return parseInt(wal[1]!.slice(16), 16) >= keptFrom * 2 + 1;
    const point = /\/restore-points\/\d{8}\/rp-(\d+)-(\d+)\.json$/.exec(key);
    if (point)
      return (
        now.getTime() - (60 - Number(point[1])) * day + Number(point[2]) * 60 * 60 * 1000 >=
        windowStart
      );
    return true;
  });
}

beforeAll(async () => {
  root = await tempDir('tidemark-repo-retention-');
  zonePaths = [join(root.path, 'zone-a'), join(root.path, 'zone-b')];
  for (const p of zonePaths) await mkdir(p);
  ({ manager } = managerIn(join(root.path, 'machine')));
  await manager.create(
    {
      id: 'prod',
      name: 'Production',
      zones: zonePaths.map((path, i) => ({ kind: 'folder', id: `z${i}`, name: `zone ${i}`, path })),
    },
    { passphrase: 'correct horse battery' },
  );
  const { repository, catalog } = await manager.open('prod');
  await writeSixtyDays(repository, catalog);
});
afterAll(async () => {
  await manager?.close();
  await root?.cleanup();
});

describe('retention over a 60-day history', () => {
  it('with the lock, deletes nothing and refuses a shorter window', async () => {
    const before = await Promise.all(zonePaths.map(folderKeys));
    await manager.setLocked('prod', true, 'legal hold');
    const dry = await manager.planPrune('prod', { now });
    expect(dry.locked).toBe(true);
    expect(dry.plan.deletions.length).toBeGreaterThan(0);
    await expect(manager.prune('prod', { now })).rejects.toMatchObject({
      code: 'locked',
      message: expect.stringContaining('legal hold'),
    });
    await expect(manager.setRetentionDays('prod', 10)).rejects.toMatchObject({ code: 'locked' });
    // a longer window is always allowed
    expect((await manager.setRetentionDays('prod', 40)).retentionDays).toBe(40);
    expect(await Promise.all(zonePaths.map(folderKeys))).toEqual(before);
    await manager.setLocked('prod', false, 'hold lifted');
    expect((await manager.setRetentionDays('prod', 35)).retentionDays).toBe(35);
  });

  it('the dry run lists exactly what the prune deletes, and exactly the expected objects remain in every zone', async () => {
    const before = await Promise.all(zonePaths.map(folderKeys));
    expect(before[0]).toEqual(before[1]);
    const dry = await manager.planPrune('prod', { now });
    expect(await Promise.all(zonePaths.map(folderKeys))).toEqual(before);
    const expected = expectedRemaining(before[0]!);
    expect(dry.plan.deletions.map((d) => d.key).sort()).toEqual(
      before[0]!.filter((k) => !expected.includes(k)).sort(),
    );
    expect(dry.plan.totals.bytes).toBeGreaterThan(0);

    const result = await manager.prune('prod', { now });
    expect(result.deleted).toBe(dry.plan.deletions.length);
    expect(result.incomplete).toEqual([]);
    for (const path of zonePaths) expect(await folderKeys(path)).toEqual(expected);
    // sanity of the expectation itself: 36 backups × 3 objects, WAL from segment 49, points of the window
    expect(expected.filter((k) => k.endsWith('/backup.json'))).toHaveLength(36);
    expect(expected.filter((k) => /\/wal\/00000001\/[0-9A-F]{24}$/.test(k))).toHaveLength(120 - 48);
    expect(expected).toContain(layout.walPartial('c1', 'n1', seg(121)));
    expect(expected).toContain(layout.cluster('c1'));

    // the local index followed, and a rebuild from the zones agrees with it
    const { catalog } = await manager.open('prod');
    const node = catalog.node('c1', 'n1')!;
    expect(node.backups.map((b) => b.backupId)).toEqual(
      Array.from({ length: 36 }, (_, i) => `b${i + 24}`),
    );
    expect(node.walSegments[0]).toBe(seg(49));
    const pointsBefore = catalog.restorePoints('c1').map((p) => p.name);
    await catalog.rebuild();
    expect(catalog.node('c1', 'n1')!.backups.map((b) => b.backupId)).toEqual(
      node.backups.map((b) => b.backupId),
    );
    expect(catalog.restorePoints('c1').map((p) => p.name)).toEqual(pointsBefore);

    // a second run finds nothing more to do
    expect((await manager.planPrune('prod', { now })).plan.deletions).toEqual([]);
  });
});
