import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Catalog } from '../../main/engine/catalog/catalog.js';
import { layout } from '../../main/engine/catalog/layout.js';
import type { RestorePointRecord } from '../../main/engine/catalog/records.js';
import { repositoryConfigSchema, type RepositoryConfig } from '../../main/engine/repository/repository-config.js';
import { Repository } from '../../main/engine/repository/repository.js';
import { FolderZone } from '../../main/engine/repository/zones/folder-zone.js';
import { tempDir } from '../support/temp-dir.js';

const scrypt = { N: 2 ** 10, r: 8, p: 1 };
let root: { path: string; cleanup: () => Promise<void> };

beforeAll(async () => {
  root = await tempDir('tidemark-repo-');
});
afterAll(() => root.cleanup());

async function fixture(name: string) {
  const paths = ['a', 'b'].map((z) => join(root.path, name, z));
  for (const p of paths) await mkdir(p, { recursive: true });
  const config: RepositoryConfig = repositoryConfigSchema.parse({
    id: name,
    name,
    zones: paths.map((path, i) => ({ kind: 'folder', id: `z${i}`, name: `zone ${i}`, path })),
  });
  const zones = () => config.zones.map((z) => new FolderZone({ id: z.id, path: (z as { path: string }).path }));
  return { config, zones, paths };
}

describe('Repository', () => {
  it('initialises every zone, refuses to initialise twice, and opens with the passphrase only', async () => {
    const { config, zones } = await fixture('r-init');
    const repo = await Repository.init({ config, zones: zones(), secret: { passphrase: 'correct horse battery' }, keyringOptions: { scrypt } });
    await repo.putObject('clusters/c1/cluster.json', Buffer.from('hello'));
    await repo.close();
    await expect(Repository.init({ config, zones: zones(), secret: { passphrase: 'another passphrase' }, keyringOptions: { scrypt } })).rejects.toMatchObject({ code: 'conflict' });
    await expect(Repository.open({ config, zones: zones(), secret: { passphrase: 'wrong passphrase!' } })).rejects.toMatchObject({ code: 'wrong_passphrase' });
    const again = await Repository.open({ config, zones: zones(), secret: { passphrase: 'correct horse battery' } });
    expect((await again.readObject('clusters/c1/cluster.json')).toString()).toBe('hello');
    await again.close();
  });

  it('streams large objects through encryption to every zone and reads them back from either', async () => {
    const { config, zones, paths } = await fixture('r-stream');
    const repo = await Repository.init({ config, zones: zones(), secret: { passphrase: 'correct horse battery' }, keyringOptions: { scrypt } });
    const data = Buffer.alloc(5 * 1024 * 1024 + 17, 7);
    const result = await repo.putObject('clusters/c1/nodes/n1/backups/b1/archives/base.tar', Readable.from([data.subarray(0, 100), data.subarray(100)]));
    expect(result.stored.sort()).toEqual(['z0', 'z1']);
    const [za] = zones();
    const viaA = await repo.readObject('clusters/c1/nodes/n1/backups/b1/archives/base.tar');
    expect(viaA.equals(data)).toBe(true);
    // The stored bytes are ciphertext, and zone B alone authenticates.
    await repo.authenticateIn(zones()[1]!, 'clusters/c1/nodes/n1/backups/b1/archives/base.tar');
    expect(za).toBeDefined();
    await rm(join(paths[0]!, 'clusters'), { recursive: true });
    expect((await repo.readObject('clusters/c1/nodes/n1/backups/b1/archives/base.tar')).equals(data)).toBe(true);
    await repo.close();
  });

  it('lock blocks deletion; rekey changes the passphrase without rewriting data; the recovery kit has no secret', async () => {
    const { config, zones } = await fixture('r-lock');
    const repo = await Repository.init({ config, zones: zones(), secret: { passphrase: 'first passphrase' }, keyringOptions: { scrypt } });
    await repo.putRecord('clusters/c1/cluster.json', { x: 1 });
    await repo.setLocked(true, 'dba', 'audit hold');
    await expect(repo.delete('clusters/c1/cluster.json')).rejects.toMatchObject({ code: 'locked', message: expect.stringContaining('audit hold') });
    await repo.setLocked(false, 'dba');
    await repo.rekey({ passphrase: 'first passphrase' }, { passphrase: 'second passphrase' }, { scrypt });
    const kit = repo.recoveryKit();
    expect(kit).not.toContain('second passphrase');
    await repo.close();
    await expect(Repository.open({ config, zones: zones(), secret: { passphrase: 'first passphrase' } })).rejects.toMatchObject({ code: 'wrong_passphrase' });
    const reopened = await Repository.open({ config, zones: zones(), secret: { passphrase: 'second passphrase' } });
    expect(JSON.parse((await reopened.readObject('clusters/c1/cluster.json')).toString())).toEqual({ x: 1 });
    await reopened.delete('clusters/c1/cluster.json');
    await reopened.close();
  });
});

describe('Catalog', () => {
  it('answers from the local index and rebuilds the same index from one zone', async () => {
    const { config, zones, paths } = await fixture('r-catalog');
    const repo = await Repository.init({ config, zones: zones(), secret: { passphrase: 'correct horse battery' }, keyringOptions: { scrypt } });
    const catalog = await Catalog.open(repo, join(root.path, 'r-catalog', 'index.json'));
    await catalog.putCluster({ clusterId: 'c1', name: 'prod', createdAt: new Date().toISOString(), coordinator: { host: 'db', port: 5432, database: 'app' }, citusVersion: '13.2' });
    await catalog.putNode({ clusterId: 'c1', nodeId: 'n1', distNodeId: 1, groupId: 0, role: 'coordinator', name: 'db', port: 5432, systemIdentifier: '1', serverVersionNum: 150018, walSegmentSize: 16777216, firstSeenAt: new Date().toISOString(), removedAt: null });
    const seg = '000000010000000000000003';
    await repo.putObject(layout.walSegment('c1', 'n1', seg), Buffer.alloc(16));
    catalog.noteWalSegment('c1', 'n1', seg);
    await repo.putObject(layout.walPartial('c1', 'n1', '000000010000000000000004'), Buffer.alloc(1234));
    catalog.noteWalPartial('c1', 'n1', '000000010000000000000004', 1234);
    const base = Date.parse('2026-11-01T00:00:00Z');
    const points: RestorePointRecord[] = [];
    for (let i = 0; i < 30; i++) {
      points.push({ clusterId: 'c1', name: `p${i}`, label: null, createdAt: new Date(base + i * 60_000).toISOString(), status: i % 3 === 0 ? 'failed' : 'restorable', coordinatorLsn: '0/1000000', nodeLsns: { n1: '0/1000000' }, nodeTimelines: { n1: 1 }, error: null });
    }
    for (const p of points.reverse()) await catalog.putRestorePoint(p);
    expect(catalog.restorePoints('c1').map((p) => p.name).slice(0, 3)).toEqual(['p0', 'p1', 'p2']);
    expect(catalog.restorePoints('c1', { from: new Date(base + 5 * 60_000), to: new Date(base + 7 * 60_000) }).map((p) => p.name)).toEqual(['p5', 'p6', 'p7']);
    expect(catalog.latestRestorePointAtOrBefore('c1', new Date(base + 9 * 60_000 + 30_000))?.name).toBe('p8');
    expect(catalog.countRestorePoints('c1')).toBe(30);
    const before = structuredClone(catalog.cluster('c1'));
    await catalog.close();

    // A new machine with only zone B and the passphrase.
    await rm(paths[0]!, { recursive: true });
    await mkdir(paths[0]!);
    const repo2 = await Repository.open({ config: { ...config, zones: [config.zones[1]!] }, zones: [zones()[1]!], secret: { passphrase: 'correct horse battery' } });
    const rebuilt = await Catalog.open(repo2, join(root.path, 'r-catalog', 'fresh-index.json'));
    expect(rebuilt.cluster('c1')).toEqual(before);
    await rebuilt.close();
    await repo2.close();
    await repo.close();
  });

  it('lists and counts 50,400 restore points quickly', async () => {
    const { config, zones } = await fixture('r-many');
    const repo = await Repository.init({ config, zones: zones(), secret: { passphrase: 'correct horse battery' }, keyringOptions: { scrypt } });
    const catalog = await Catalog.open(repo, join(root.path, 'r-many', 'index.json'));
    await catalog.putCluster({ clusterId: 'c1', name: 'prod', createdAt: new Date().toISOString(), coordinator: { host: 'db', port: 5432, database: 'app' }, citusVersion: null });
    const cluster = catalog.cluster('c1')!;
    const base = Date.parse('2026-10-01T00:00:00Z');
    // 35 days at one point a minute, put straight into the index (writing 50k objects is the zones' business)
    for (let i = 0; i < 50_400; i++) {
      cluster.restorePoints.push({ clusterId: 'c1', name: `p${i}`, label: null, createdAt: new Date(base + i * 60_000).toISOString(), status: 'restorable', coordinatorLsn: '0/1', nodeLsns: {}, nodeTimelines: {}, error: null });
    }
    const t0 = performance.now();
    for (let i = 0; i < 1000; i++) {
      catalog.latestRestorePointAtOrBefore('c1', new Date(base + ((i * 7919) % 50_400) * 60_000 + 1));
      catalog.countRestorePoints('c1', new Date(base + i * 60_000), new Date(base + (i + 1440) * 60_000));
    }
    const perQueryMs = (performance.now() - t0) / 2000;
    console.log(`restore-point lookups over 50,400 points: ${(perQueryMs * 1000).toFixed(1)} µs each`);
    expect(catalog.restorePoints('c1', { from: new Date(base + 100 * 60_000), limit: 10 })).toHaveLength(10);
    expect(catalog.countRestorePoints('c1')).toBe(50_400);
    await catalog.close();
    await repo.close();
  });
});
