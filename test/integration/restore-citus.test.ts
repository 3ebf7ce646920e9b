import { readFile, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { restoreCluster, type ClusterRestoreNode, type ClusterRestoreResult } from '../../main/engine/restore/cluster-recovery.js';
import { LocalProvisioner } from '../../main/engine/restore/local-provisioner.js';
import { CitusTestCluster, parseConnectionLog } from '../support/citus-cluster.js';
import {
  captureServerConfig,
  openFolderRestoreSource,
  postgresProcessesFor,
  postgresWritableDir,
  sourceQuery,
  takeBaseBackup,
  testApplicationName,
  waitArchived,
} from '../support/folder-restore-source.js';
import { postgresAvailable, runPg, testPassword, type PgInstance } from '../support/postgres.js';
import { tempDir } from '../support/temp-dir.js';

interface Write {
  id: number;
  start: number;
  end: number;
}

const nodeIds = ['coordinator', 'worker-1', 'worker-2'] as const;

describe.skipIf(!postgresAvailable())('Citus cluster restore to a restore point (fixture, local provisioner)', () => {
  let root: { path: string; cleanup: () => Promise<void> };
  let cluster: CitusTestCluster;
  const walDirs: Record<string, string> = {};
  const backupDirs: Record<string, string> = {};
  let restoreNodes: () => Promise<ClusterRestoreNode[]>;
  let point: { name: string; coordinatorLsn: string; nodeLsns: Record<string, string> };
  let pointWindow: { start: number; end: number };
  const writes: Write[] = [];

  beforeAll(async () => {
    root = await tempDir('tidemark-citus-restore-');
    for (const id of nodeIds) walDirs[id] = await postgresWritableDir(join(root.path, 'archive', id));
    const archiving = (id: string) => ({ conf: { archive_mode: 'on', archive_command: `'cp %p ${walDirs[id]}/%f'` } });
    cluster = await CitusTestCluster.create({
      dir: join(root.path, 'source'),
      coordinator: archiving('coordinator'),
      workerNodes: [archiving('worker-1'), archiving('worker-2')],
    });
    const instances: Record<string, PgInstance> = { coordinator: cluster.coordinator, 'worker-1': cluster.workers[0] as PgInstance, 'worker-2': cluster.workers[1] as PgInstance };
    const configs = Object.fromEntries(await Promise.all(nodeIds.map(async (id) => [id, await captureServerConfig(instances[id] as PgInstance)] as const)));
    const distNodeIds = Object.fromEntries(await Promise.all(nodeIds.map(async (id) => [id, await cluster.nodeIdOf(instances[id] as PgInstance)] as const)));
    for (const id of nodeIds) {
      backupDirs[id] = join(root.path, 'backups', id);
      await takeBaseBackup(instances[id] as PgInstance, backupDirs[id] as string, id === 'coordinator' ? 'server-lz4' : 'none');
    }

    // Before the point: committed writes, one whose workers are left prepared after the
    // coordinator committed (recovery must commit them), one rolled back after PREPARE.
    for (let id = 1; id <= 20; id++) await cluster.distributedWrite(id, 'before');
    await cluster.distributedWrite(500, 'decided', 'local_commit');
    await cluster.distributedWrite(501, 'undecided', 'prepare');

    // 2PC writes keep running while the point is created.
    let stop = false;
    const writer = (async () => {
      for (let id = 1000; !stop; id++) {
        const start = Date.now();
        await cluster.distributedWrite(id, 'concurrent');
        writes.push({ id, start, end: Date.now() });
      }
    })();
    await sleep(300);
    const start = Date.now();
    const [created] = await cluster.coordinator.query<{ lsn: string }>(`SELECT citus_create_restore_point('nightly-1')::text AS lsn`);
    const end = Date.now();
    const nodeLsns: Record<string, string> = {};
    for (const id of nodeIds) {
      const [row] = await (instances[id] as PgInstance).query<{ lsn: string }>('SELECT pg_current_wal_insert_lsn()::text AS lsn');
      nodeLsns[id] = row?.lsn as string;
    }
    await sleep(300);
    stop = true;
    await writer;
    for (let id = 2000; id < 2010; id++) await cluster.distributedWrite(id, 'after');
    await Promise.all(nodeIds.map((id) => waitArchived(instances[id] as PgInstance, nodeLsns[id] as string)));

    point = { name: 'nightly-1', coordinatorLsn: created?.lsn as string, nodeLsns };
    pointWindow = { start, end };
    restoreNodes = async () =>
      Promise.all(
        nodeIds.map(async (id) => ({
          source: await openFolderRestoreSource({ nodeId: id, backupDir: backupDirs[id] as string, walDir: walDirs[id] as string, serverConfig: configs[id]!, targetLsn: nodeLsns[id] as string }),
          spec: { nodeId: id, baseDir: '', port: 0, tablespaces: {} },
          role: id === 'coordinator' ? ('coordinator' as const) : ('worker' as const),
          distNodeId: distNodeIds[id] as number,
        })),
      );
  });

  afterAll(async () => {
    await cluster?.stop();
    await root?.cleanup();
  });

  async function onNode<T extends pg.QueryResultRow>(result: ClusterRestoreResult, nodeId: string, text: string): Promise<T[]> {
    const node = result.nodes.find((n) => n.nodeId === nodeId);
    if (!node) throw new Error(`no node ${nodeId}`);
    const client = new pg.Client({ host: node.host, port: node.port, user: 'postgres', password: testPassword, database: 'postgres' });
    await client.connect();
    try {
      return (await client.query<T>(text)).rows;
    } finally {
      await client.end();
    }
  }

  async function remove(result: ClusterRestoreResult, dir: string): Promise<void> {
    for (const node of result.nodes) await runPg('pg_ctl', ['-D', node.dataDir, '-m', 'immediate', '-w', 'stop']).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }

  it('lands every node on the point: exact rows, all-or-nothing 2PC, new addresses, no connection to the source', async () => {
    const dir = join(root.path, 'restored');
    const nodes = (await restoreNodes()).map((n) => ({ ...n, spec: { ...n.spec, baseDir: join(dir, n.spec.nodeId) } }));
    const sourceRows = await cluster.coordinator.query<{ n: number }>('SELECT count(*)::int AS n FROM ref_rows');
    const since = new Date();
    const result = await restoreCluster({ point, nodes, provisioner: new LocalProvisioner() });
    const until = new Date();
    try {
      // Every node paused exactly on the point before anything was promoted.
      expect(result.nodes.find((n) => n.nodeId === 'coordinator')?.pausedAtLsn).toBe(point.coordinatorLsn);

      // Copies of each write: dist_rows on both workers, ref_rows on all three nodes.
      const copies = new Map<number, number>();
      for (const id of nodeIds) {
        const tables = id === 'coordinator' ? ['ref_rows'] : ['dist_rows', 'ref_rows'];
        for (const table of tables) {
          for (const row of await onNode<{ id: string }>(result, id, `SELECT id FROM ${table}`)) copies.set(Number(row.id), (copies.get(Number(row.id)) ?? 0) + 1);
        }
      }
      for (let id = 1; id <= 20; id++) expect(copies.get(id), `write ${id}`).toBe(5);
      expect(copies.get(500), 'decided before the point, committed by recovery').toBe(5);
      expect(copies.has(501), 'rolled back before the point').toBe(false);
      for (let id = 2000; id < 2010; id++) expect(copies.has(id), `write ${id} after the point`).toBe(false);
      const before = writes.filter((w) => w.end < pointWindow.start);
      const after = writes.filter((w) => w.start > pointWindow.end);
      expect(before.length).toBeGreaterThan(0);
      for (const w of before) expect(copies.get(w.id), `concurrent write ${w.id} finished before the point`).toBe(5);
      for (const w of after) expect(copies.has(w.id), `concurrent write ${w.id} started after the point`).toBe(false);
      for (const [id, count] of copies) expect([5], `write ${id} is all-or-nothing`).toContain(count);
      for (const id of nodeIds) expect(await onNode(result, id, 'SELECT gid FROM pg_prepared_xacts')).toEqual([]);

      // Metadata on every node names the new nodes only.
      const expected = result.nodes.map((n) => `127.0.0.1:${n.port}`).sort();
      for (const id of nodeIds) {
        const rows = await onNode<{ a: string }>(result, id, `SELECT nodename || ':' || nodeport AS a FROM pg_dist_node ORDER BY 1`);
        expect(rows.map((r) => r.a).sort(), `pg_dist_node on ${id}`).toEqual(expected);
      }
      expect(result.citus?.health).toHaveLength(9);
      expect(result.citus?.health.every((p) => p.result === true)).toBe(true);
      const [health] = await onNode<{ ok: boolean }>(result, 'coordinator', 'SELECT bool_and(result) AS ok FROM citus_check_cluster_node_health()');
      expect(health?.ok).toBe(true);
      expect(result.citus?.metadata.map((m) => m.database)).toEqual(['postgres', 'postgres', 'postgres']);

      // The source: unchanged, and no connection from a restored node ever arrived.
      expect(await sourceQuery<{ n: number }>(cluster.coordinator, 'SELECT count(*)::int AS n FROM ref_rows')).toEqual(sourceRows);
      for (const instance of cluster.nodes) {
        const connections = parseConnectionLog(await readFile(instance.logFile, 'utf8'), { since, until: new Date() });
        expect(connections.filter((c) => c.applicationName !== testApplicationName), `connections at source port ${instance.port}`).toEqual([]);
      }
      expect(until.getTime()).toBeGreaterThan(since.getTime());
    } finally {
      await remove(result, dir);
    }
  });

  it('cancelled while the nodes replay: every node removed, nothing left running', async () => {
    const dir = join(root.path, 'cancelled');
    const nodes = (await restoreNodes()).map((n) => ({ ...n, spec: { ...n.spec, baseDir: join(dir, n.spec.nodeId) } }));
    const controller = new AbortController();
    const phases: string[] = [];
    const error = await restoreCluster({
      point,
      nodes,
      provisioner: new LocalProvisioner(),
      signal: controller.signal,
      onProgress: (p) => {
        phases.push(`${p.nodeId}:${p.phase}`);
        if (p.phase === 'replaying') controller.abort();
      },
    }).catch((e: unknown) => e);
    expect((error as { code?: string }).code).toBe('cancelled');
    expect(await readdir(dir).catch(() => [])).toEqual([]);
    expect(await postgresProcessesFor(dir)).toEqual([]);
    expect(await sourceQuery(cluster.coordinator, 'SELECT 1 AS ok')).toEqual([{ ok: 1 }]);
  });
});
