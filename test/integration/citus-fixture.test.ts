import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CitusTestCluster, waitFor } from '../support/citus-cluster.js';
import { postgresAvailable } from '../support/postgres.js';
import { tempDir } from '../support/temp-dir.js';

const citusLoadError = 'Citus can only be loaded via shared_preload_libraries';

describe.skipIf(!postgresAvailable())('Citus fixture on PostgreSQL 15', () => {
  let cluster: CitusTestCluster;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let createdAt: Date;

  beforeAll(async () => {
    dir = await tempDir('tidemark-citus-fixture-');
    createdAt = new Date(Date.now() - 1000);
    cluster = await CitusTestCluster.create({ dir: dir.path });
  });

  afterAll(async () => {
    await cluster?.stop();
    await dir?.cleanup();
  });

  it('gives every node the synced catalog with Citus 13.2 columns', async () => {
    const columns = await cluster.coordinator.query<{ column_name: string; udt_name: string }>(
      `SELECT column_name, udt_name FROM information_schema.columns
        WHERE table_schema = 'pg_catalog' AND table_name = 'pg_dist_node' ORDER BY ordinal_position`,
    );
    expect(columns.map((c) => `${c.column_name} ${c.udt_name}`)).toEqual([
      'nodeid int4',
      'groupid int4',
      'nodename text',
      'nodeport int4',
      'noderack text',
      'hasmetadata bool',
      'isactive bool',
      'noderole noderole',
      'nodecluster name',
      'metadatasynced bool',
      'shouldhaveshards bool',
      'nodeisclone bool',
      'nodeprimarynodeid int4',
    ]);
    const expected = [
      {
        nodeid: 1,
        groupid: 0,
        nodename: '127.0.0.1',
        nodeport: cluster.coordinator.port,
        noderole: 'primary',
        hasmetadata: true,
        metadatasynced: true,
      },
      ...cluster.workers.map((w, i) => ({
        nodeid: i + 2,
        groupid: i + 1,
        nodename: '127.0.0.1',
        nodeport: w.port,
        noderole: 'primary',
        hasmetadata: true,
        metadatasynced: true,
      })),
    ];
    for (const [index, node] of cluster.nodes.entries()) {
      const rows = await node.query(
        'SELECT nodeid, groupid, nodename, nodeport, noderole::text AS noderole, hasmetadata, metadatasynced FROM pg_catalog.pg_dist_node ORDER BY nodeid',
      );
      expect(rows).toEqual(expected);
      expect(await node.query('SELECT groupid FROM pg_catalog.pg_dist_local_group')).toEqual([
        { groupid: index },
      ]);
      expect(
        await node.query(`SELECT extversion FROM pg_extension WHERE extname = 'citus'`),
      ).toEqual([]);
      const [version] = await node.query<{ v: string }>('SELECT citus_version() AS v');
      expect(version?.v).toMatch(/^Citus 13\.2\.2 on x86_64-pc-linux-gnu, .*\(fixture\)$/);
    }
  });

  it('refuses direct catalog writes with the real error unless session_replication_role = replica', async () => {
    for (const node of cluster.nodes) {
      const client = new pg.Client(node.connectionConfig());
      await client.connect();
      try {
        for (const sql of [
          'UPDATE pg_catalog.pg_dist_node SET nodeport = nodeport + 1 WHERE nodeid = 2',
          `INSERT INTO pg_catalog.pg_dist_poolinfo VALUES (2, 'host=elsewhere')`,
          'DELETE FROM pg_catalog.pg_dist_authinfo',
        ]) {
          await expect(client.query(sql)).rejects.toMatchObject({
            message: citusLoadError,
            code: 'XX000',
          });
        }
        await client.query('BEGIN');
        await client.query('SET LOCAL session_replication_role = replica');
        const updated = await client.query(
          'UPDATE pg_catalog.pg_dist_node SET nodename = $1, nodeport = 5999 WHERE nodeid = 2',
          ['restored-w1'],
        );
        expect(updated.rowCount).toBe(1);
        const { rows } = await client.query(
          'SELECT nodename, nodeport FROM pg_catalog.pg_dist_node WHERE nodeid = 2',
        );
        expect(rows).toEqual([{ nodename: 'restored-w1', nodeport: 5999 }]);
        await client.query('ROLLBACK');
      } finally {
        await client.end();
      }
    }
  });

  it('reports every node pair healthy through citus_check_cluster_node_health', async () => {
    const rows = await cluster.coordinator.query('SELECT * FROM citus_check_cluster_node_health()');
    const ports = cluster.nodes.map((n) => n.port);
    expect(rows).toHaveLength(9);
    expect(rows.map((r) => `${r.from_nodeport}>${r.to_nodeport}`).sort()).toEqual(
      ports.flatMap((f) => ports.map((t) => `${f}>${t}`)).sort(),
    );
    expect(
      rows.every(
        (r) =>
          r.result === true && r.from_nodename === '127.0.0.1' && r.to_nodename === '127.0.0.1',
      ),
    ).toBe(true);
  });

  it('commits a distributed write on both workers and every reference copy', async () => {
    await cluster.distributedWrite(1, 'one');
    for (const [index, node] of cluster.nodes.entries()) {
      const [counts] = await node.query<{ dist: string; ref: string; prepared: string }>(
        `SELECT (SELECT count(*) FROM dist_rows WHERE id = 1) AS dist, (SELECT count(*) FROM ref_rows WHERE id = 1) AS ref,
                (SELECT count(*) FROM pg_prepared_xacts) AS prepared`,
      );
      expect(counts).toEqual({ dist: index === 0 ? '0' : '1', ref: '1', prepared: '0' });
    }
  });

  it('blocks the 2PC commit decision while the restore point locks are held', async () => {
    const holder = new pg.Client(cluster.coordinator.connectionConfig());
    await holder.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('LOCK TABLE pg_catalog.pg_dist_transaction IN EXCLUSIVE MODE');
      const write = cluster.distributedWrite(2, 'two');
      const waiting = await waitFor(async () => {
        const rows = await cluster.coordinator.query(
          `SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'CALL citus_fixture_distributed_write%'`,
        );
        return rows.length === 1;
      });
      expect(waiting).toBe(true);
      expect(await cluster.coordinator.query('SELECT id FROM ref_rows WHERE id = 2')).toEqual([]);
      for (const worker of cluster.workers)
        expect(await worker.query('SELECT gid FROM pg_prepared_xacts')).toEqual([]);
      await holder.query('COMMIT');
      await write;
    } finally {
      await holder.end();
    }
    for (const worker of cluster.workers)
      expect(await worker.query('SELECT id FROM dist_rows WHERE id = 2')).toEqual([{ id: '2' }]);
  });

  it('settles left-over prepared transactions with recover_prepared_transactions', async () => {
    await cluster.distributedWrite(3, 'decided', 'local_commit');
    await cluster.distributedWrite(4, 'undecided', 'prepare');
    for (const worker of cluster.workers) {
      expect(await worker.query('SELECT count(*)::int AS n FROM pg_prepared_xacts')).toEqual([
        { n: 2 },
      ]);
      expect(await worker.query('SELECT id FROM dist_rows WHERE id IN (3, 4)')).toEqual([]);
    }
    expect(await cluster.coordinator.query('SELECT recover_prepared_transactions() AS n')).toEqual([
      { n: 4 },
    ]);
    for (const node of cluster.nodes) {
      expect(await node.query('SELECT id FROM ref_rows WHERE id IN (3, 4)')).toEqual([{ id: '3' }]);
      expect(await node.query('SELECT count(*)::int AS n FROM pg_prepared_xacts')).toEqual([
        { n: 0 },
      ]);
    }
    expect(
      await cluster.coordinator.query('SELECT count(*)::int AS n FROM pg_dist_transaction'),
    ).toEqual([{ n: 0 }]);
    expect(await cluster.coordinator.query('SELECT recover_prepared_transactions() AS n')).toEqual([
      { n: 0 },
    ]);
  });

  it('moves a node with citus_update_node on every metadata copy', async () => {
    const worker = cluster.workers[1]!;
    await cluster.coordinator.query('SELECT citus_update_node(3, $1, $2)', [
      'localhost',
      worker.port,
    ]);
    try {
      for (const node of cluster.nodes) {
        expect(
          await node.query(
            'SELECT nodename, metadatasynced FROM pg_catalog.pg_dist_node WHERE nodeid = 3',
          ),
        ).toEqual([{ nodename: 'localhost', metadatasynced: true }]);
      }
      const health = await cluster.coordinator.query(
        'SELECT bool_and(result) AS ok, count(*)::int AS n FROM citus_check_cluster_node_health()',
      );
      expect(health).toEqual([{ ok: true, n: 9 }]);
    } finally {
      await cluster.coordinator.query('SELECT citus_update_node(3, $1, $2)', [
        '127.0.0.1',
        worker.port,
      ]);
    }
  });

  it('writes a named restore point on every node, returning the coordinator record end', async () => {
    await Promise.all(
      cluster.nodes.map((node) => node.query('CREATE EXTENSION IF NOT EXISTS pg_walinspect')),
    );
    const before = await Promise.all(
      cluster.nodes.map((n) =>
        n.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn'),
      ),
    );
    const [point] = await cluster.coordinator.query<{ lsn: string }>(
      `SELECT citus_create_restore_point('fixture-point-1')::text AS lsn`,
    );
    for (const [index, node] of cluster.nodes.entries()) {
      await node.query('SELECT pg_switch_wal()');
      const records = await node.query<{ end_lsn: string; description: string }>(
        `SELECT end_lsn::text, description FROM pg_get_wal_records_info($1, pg_current_wal_flush_lsn())
          WHERE resource_manager = 'XLOG' AND record_type = 'RESTORE_POINT'`,
        [before[index]![0]!.lsn],
      );
      expect(records.map((r) => r.description)).toEqual(['fixture-point-1']);
      if (index === 0) expect(records[0]!.end_lsn).toBe(point!.lsn);
    }
  });

  it('refuses restore points where Citus refuses them', async () => {
    await expect(
      cluster.workers[0]!.query(`SELECT citus_create_restore_point('on-a-worker')`),
    ).rejects.toMatchObject({
      message: 'operation is not allowed on this node',
    });
    await expect(
      cluster.coordinator.query('SELECT citus_create_restore_point($1)', ['x'.repeat(64)]),
    ).rejects.toMatchObject({
      message: 'value too long for restore point (maximum 63 characters)',
    });
    await cluster.coordinator.query(`CREATE ROLE fixture_plain LOGIN PASSWORD 'pw'`);
    const plain = new pg.Client({
      ...cluster.coordinator.connectionConfig(),
      user: 'fixture_plain',
      password: 'pw',
    });
    await plain.connect();
    try {
      await expect(
        plain.query(`SELECT citus_create_restore_point('not-super')`),
      ).rejects.toMatchObject({ code: '42501' });
    } finally {
      await plain.end();
    }
  });

  it('logs the nodes’ internal connections with a Citus-style application name', async () => {
    const entries = await cluster.connectionLog(cluster.workers[0]!, { since: createdAt });
    const internal = entries.filter((e) => e.applicationName?.startsWith('citus_internal gpid='));
    expect(internal.length).toBeGreaterThan(0);
    // gpid = source node id * 10^10 + backend pid: metadata syncs came from the coordinator
    // (node 1); the health check also connected from each worker (nodes 2 and 3)
    const sources = new Set(
      internal.map((e) => Math.floor(Number(e.applicationName!.split('=')[1]) / 1e10)),
    );
    expect([...sources].sort()).toEqual([1, 2, 3]);
    expect(internal[0]).toMatchObject({
      remoteHost: '127.0.0.1',
      user: 'postgres',
      database: 'postgres',
      replication: false,
    });
    expect(
      await cluster.connectionLog(cluster.workers[0]!, { since: new Date(Date.now() + 60_000) }),
    ).toEqual([]);
  });
});
