import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, type Engine } from '../../main/engine/engine.js';
import { layout } from '../../main/engine/catalog/layout.js';
import { MemoryJobStore } from '../../main/engine/jobs/job-store.js';
import { createLogger } from '../../main/engine/log/logger.js';
import { MemorySecretStore } from '../../main/engine/secrets/secret-store.js';
import { JsonFileSettingsStore } from '../../main/engine/settings/settings-store.js';
import { CitusTestCluster } from '../support/citus-cluster.js';
import { testPassword } from '../support/postgres.js';
import { tempDir } from '../support/temp-dir.js';

/**
 * The whole product path on real parts: a Citus-compatible cluster (coordinator + 2 workers)
 * backed up by the engine into a two-zone repository, restore points created while
 * distributed 2PC transactions run, and a point-in-time restore into a new local cluster.
 */
describe('point-in-time restore of a cluster, end to end', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  let cluster: CitusTestCluster;
  let engine: Engine;
  const zones = { a: '', b: '' };
  let pointName = '';

  beforeAll(async () => {
    dir = await tempDir('tidemark-pitr-');
    cluster = await CitusTestCluster.create({ dir: join(dir.path, 'source') });
    zones.a = join(dir.path, 'zone-a');
    zones.b = join(dir.path, 'zone-b');
    await mkdir(zones.a);
    await mkdir(zones.b);
    const paths = { config: join(dir.path, 'config'), data: join(dir.path, 'data'), logs: join(dir.path, 'logs') };
    engine = await createEngine({
      paths,
      settings: new JsonFileSettingsStore(join(paths.config, 'settings.json')),
      secrets: new MemorySecretStore(),
      logger: createLogger(),
      shell: 'web',
      version: 'test',
      jobStore: new MemoryJobStore(),
    });
    await engine.repositories.create(
      {
        id: 'r1',
        name: 'Two folder zones',
        zones: [
          { kind: 'folder', id: 'zone-a', name: 'Zone A', path: zones.a },
          { kind: 'folder', id: 'zone-b', name: 'Zone B', path: zones.b },
        ],
      },
      { passphrase: 'correct horse battery staple' },
    );
    await engine.clusters.add({
      id: 'prod',
      name: 'Production',
      coordinator: { host: cluster.coordinator.host, port: cluster.coordinator.port, database: 'postgres', user: 'postgres', sslmode: 'disable' },
      password: testPassword,
      repositoryId: 'r1',
    });
  });

  afterAll(async () => {
    await engine?.close();
    await cluster?.stop();
    await dir?.cleanup();
  });

  it('restores exactly the data of the chosen point on every node, without touching the source', async () => {
    await engine.backups.startWalStreams('prod');
    const backup = await engine.jobs.wait(engine.backups.backupCluster('prod').id);
    expect(backup.state, JSON.stringify(backup.error)).toBe('succeeded');

    for (let id = 1; id <= 20; id++) await cluster.distributedWrite(id, `before-${id}`);
    // 2PC writes keep running while the point is created: each must come back whole or not at all.
    let writing = true;
    const concurrent = (async () => {
      for (let id = 1000; writing; id++) await cluster.distributedWrite(id, `during-${id}`);
    })();
    await new Promise((r) => setTimeout(r, 200));
    const point = await engine.clusters.restorePoints.create('prod', { label: 'before migration 42' });
    writing = false;
    await concurrent;
    for (let id = 21; id <= 40; id++) await cluster.distributedWrite(id, `after-${id}`);

    const deadline = Date.now() + 90_000;
    for (;;) {
      await engine.clusters.restorePoints.updateRestorability('prod');
      const found = engine.clusters.restorePoints.list('prod', {}).then((r) => r.find((p) => p.name === point.name));
      if ((await found)?.status === 'restorable') break;
      if (Date.now() > deadline) throw new Error(`restore point ${point.name} never became restorable`);
      await new Promise((r) => setTimeout(r, 500));
    }

    pointName = point.name;
    const plan = await engine.restores.plan('prod', { kind: 'point', name: point.name });
    expect(plan.nodes).toHaveLength(3);

    // Zone A's copy of the coordinator's base archive is damaged: the restore reads zone B.
    const coordinatorPlan = plan.nodes.find((n) => n.role === 'coordinator')!;
    const archiveKey = layout.backupArchive('prod', coordinatorPlan.nodeId, coordinatorPlan.backup.backupId, coordinatorPlan.backup.archives.at(-1)!.name);
    const damaged = join(zones.a, archiveKey);
    const bytes = await readFile(damaged);
    bytes[Math.floor(bytes.length / 2)]! ^= 0xff;
    await writeFile(damaged, bytes);

    const restoreStartedAt = new Date();
    const { job } = await engine.restores.start({ clusterId: 'prod', target: { kind: 'point', name: point.name }, provisioner: { kind: 'local', dir: join(dir.path, 'restored') } });
    const restored = await engine.jobs.wait(job.id);
    expect(restored.state, JSON.stringify(restored.error)).toBe('succeeded');
    const restoreEndedAt = new Date();
    const record = (await engine.restores.records.get(job.id))!;
    expect(record.state).toBe('succeeded');
    expect(record.checklist.length).toBeGreaterThan(0);

    const query = async (nodeId: string, sql: string) => {
      const node = record.nodes.find((n) => n.nodeId === nodeId)!;
      const client = new pg.Client({ host: '127.0.0.1', port: node.port, user: 'postgres', password: testPassword, database: 'postgres' });
      await client.connect();
      try {
        return (await client.query(sql)).rows;
      } finally {
        await client.end();
      }
    };
    const workers = record.nodes.filter((n) => n.role === 'worker');
    expect(workers).toHaveLength(2);
    const idsOn = async (nodeId: string, table: string) => (await query(nodeId, `SELECT id FROM ${table} ORDER BY id`)).map((r) => Number(r.id));
    const coordinatorIds = await idsOn(record.nodes.find((n) => n.role === 'coordinator')!.nodeId, 'ref_rows');
    const copies = [coordinatorIds];
    for (const w of workers) copies.push(await idsOn(w.nodeId, 'dist_rows'), await idsOn(w.nodeId, 'ref_rows'));
    for (const ids of copies) {
      // every write committed before the point, none after it
      for (let id = 1; id <= 20; id++) expect(ids).toContain(id);
      for (let id = 21; id <= 40; id++) expect(ids).not.toContain(id);
      // a distributed transaction is all-or-nothing across every copy
      expect(ids.filter((id) => id >= 1000)).toEqual(copies[0]!.filter((id) => id >= 1000));
    }
    // Citus metadata names the new nodes only, and the cluster is healthy.
    const coordinatorId = record.nodes.find((n) => n.role === 'coordinator')!.nodeId;
    const distNodes = await query(coordinatorId, 'SELECT nodeport FROM pg_dist_node ORDER BY nodeport');
    expect(distNodes.map((r) => Number(r.nodeport)).sort()).toEqual(record.nodes.map((n) => n.port).sort());
    const health = await query(coordinatorId, 'SELECT result FROM citus_check_cluster_node_health()');
    expect(health.every((r) => r.result === true)).toBe(true);

    // No source node received a connection during the restore other than Tidemark's own WAL streams.
    for (const node of cluster.nodes) {
      const connections = await cluster.connectionLog(node, { since: restoreStartedAt, until: restoreEndedAt });
      const foreign = connections.filter((c) => !(c.applicationName ?? '').startsWith('tidemark'));
      expect(foreign, `unexpected connections on source port ${node.port}: ${JSON.stringify(foreign)}`).toEqual([]);
    }
    // The source is unchanged: every row is still there.
    const sourceRows = await cluster.coordinator.query<{ n: string }>('SELECT count(*) AS n FROM ref_rows WHERE id BETWEEN 1 AND 40');
    expect(Number(sourceRows[0]!.n)).toBe(40);
  });

  it('refuses targets it cannot restore exactly, before creating anything', async () => {
    const target = join(dir.path, 'refused');
    await expect(engine.restores.plan('prod', { kind: 'time', at: new Date('2001-01-01T00:00:00Z') })).rejects.toMatchObject({ code: 'target_unreachable' });
    await expect(engine.restores.plan('prod', { kind: 'point', name: 'no-such-point' })).rejects.toMatchObject({ code: 'target_unreachable' });
    await expect(engine.restores.start({ clusterId: 'prod', target: { kind: 'time', at: new Date(Date.now() + 3_600_000) }, provisioner: { kind: 'local', dir: target } })).rejects.toMatchObject({ code: 'target_unreachable' });
    await expect(readdir(target)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('an archive damaged in every zone: refused before anything is created with a full verify, and otherwise fails loudly and removes what it created', async () => {
    expect(pointName).not.toBe('');
    const plan = await engine.restores.plan('prod', { kind: 'point', name: pointName });
    const worker = plan.nodes.find((n) => n.role === 'worker')!;
    const archiveKey = layout.backupArchive('prod', worker.nodeId, worker.backup.backupId, worker.backup.archives.at(-1)!.name);
    for (const zone of [zones.a, zones.b]) {
      const bytes = await readFile(join(zone, archiveKey));
      bytes[Math.floor(bytes.length / 2)]! ^= 0xff; // a middle chunk: header and final chunk stay sound
      await writeFile(join(zone, archiveKey), bytes);
    }
    const target = { kind: 'point', name: pointName } as const;

    const verified = join(dir.path, 'refused-by-verify');
    const refused = await engine.jobs.wait((await engine.restores.start({ clusterId: 'prod', target, provisioner: { kind: 'local', dir: verified }, fullVerify: true })).job.id);
    expect(refused.state).toBe('failed');
    expect(refused.error).toMatchObject({ code: 'corrupt_object' });
    expect(refused.error?.message).toContain(archiveKey);
    await expect(readdir(verified)).rejects.toMatchObject({ code: 'ENOENT' });

    const unverified = join(dir.path, 'failed-mid-restore');
    const failed = await engine.jobs.wait((await engine.restores.start({ clusterId: 'prod', target, provisioner: { kind: 'local', dir: unverified } })).job.id);
    expect(failed.state).toBe('failed');
    expect(failed.error).toMatchObject({ code: 'corrupt_object' });
    expect(failed.error?.message).toContain(archiveKey);
    expect(await readdir(unverified).catch(() => [])).toEqual([]);
  });
});
