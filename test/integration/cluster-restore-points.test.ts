import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  clusterConfigSchema,
  type ClusterConfig,
} from '../../main/engine/cluster/cluster-config.js';
import { connectClusterNode } from '../../main/engine/cluster/connect.js';
import {
  backupTargets,
  describeNode,
  discoverTopology,
  resolveNodeAddress,
} from '../../main/engine/cluster/discovery.js';
import {
  createRestorePoint,
  newRestorePointName,
  type CreatedRestorePoint,
  type RestorePointNode,
} from '../../main/engine/cluster/restore-points.js';
import { parseLsn } from '../../main/engine/replication/lsn.js';
import { MemorySecretStore } from '../../main/engine/secrets/secret-store.js';
import { CitusTestCluster, waitFor } from '../support/citus-cluster.js';
import { postgresAvailable, testPassword, type PgInstance } from '../support/postgres.js';
import { tempDir } from '../support/temp-dir.js';

describe.skipIf(!postgresAvailable())('consistent restore points', () => {
  let cluster: CitusTestCluster;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let coordinator: pg.Client;
  let nodes: RestorePointNode[];
  const clients: pg.Client[] = [];

  beforeAll(async () => {
    dir = await tempDir('tidemark-restore-points-');
    cluster = await CitusTestCluster.create({ dir: dir.path });
    await Promise.all(cluster.nodes.map((node) => node.query('CREATE EXTENSION pg_walinspect')));
    const secrets = new MemorySecretStore();
    await secrets.set('cluster/fixture/password', testPassword);
    const config: ClusterConfig = clusterConfigSchema.parse({
      id: 'fixture',
      name: 'Fixture',
      coordinator: {
        host: '127.0.0.1',
        port: cluster.coordinator.port,
        user: 'postgres',
        sslmode: 'disable',
      },
      repositoryId: 'repo',
    });
    coordinator = await connectClusterNode(config, secrets);
    clients.push(coordinator);
    const topology = await discoverTopology(coordinator, config.coordinator);
    nodes = await Promise.all(
      backupTargets(topology).map(async (node) => {
        const client = await connectClusterNode(config, secrets, {
          address: resolveNodeAddress(node, config.nodeOverrides),
        });
        clients.push(client);
        return {
          nodeId: node.nodeId,
          name: node.name,
          port: node.port,
          label: describeNode(node),
          client,
        };
      }),
    );
  });

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
    await cluster?.stop();
    await dir?.cleanup();
  });

  /** The RESTORE_POINT record named `name` in a node's WAL since `from`. */
  const restorePointRecord = async (node: PgInstance, name: string, from: string) => {
    const rows = await node.query<{ start_lsn: string; end_lsn: string }>(
      `SELECT start_lsn::text, end_lsn::text FROM pg_get_wal_records_info($1, pg_current_wal_flush_lsn())
        WHERE resource_manager = 'XLOG' AND record_type = 'RESTORE_POINT' AND description = $2`,
      [from, name],
    );
    return rows;
  };

  it('creates consistent points while distributed 2PC writes run, with every node’s WAL position', async () => {
    const start = await Promise.all(
      cluster.nodes.map((n) =>
        n.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn'),
      ),
    );
    let stop = false;
    let written = 0;
    const writer = (async () => {
      const client = new pg.Client(cluster.coordinator.connectionConfig());
      await client.connect();
      try {
        while (!stop)
          await client.query('CALL citus_fixture_distributed_write($1, $2)', [
            ++written,
            `row ${written}`,
          ]);
      } finally {
        await client.end();
      }
    })();

    const points: CreatedRestorePoint[] = [];
    try {
      for (let i = 0; i < 5; i++) {
        const before = written;
        while (written < before + 3) await new Promise((resolve) => setTimeout(resolve, 5));
        points.push(
          await createRestorePoint({
            coordinator,
            nodes,
            name: newRestorePointName(),
            label: `point ${i}`,
          }),
        );
      }
    } finally {
      stop = true;
      await writer;
    }
    expect(written).toBeGreaterThanOrEqual(15);

    // flush the WAL so pg_walinspect can read up to the newest record
    await Promise.all(cluster.nodes.map((n) => n.query('SELECT pg_switch_wal()')));
    for (const point of points) {
      expect(point.label).toMatch(/^point \d$/);
      expect(Date.now() - Date.parse(point.createdAt)).toBeLessThan(120_000);
      expect(Object.keys(point.nodeLsns).map(Number).sort()).toEqual([1, 2, 3]);
      for (const [index, node] of cluster.nodes.entries()) {
        const records = await restorePointRecord(node, point.name, start[index]![0]!.lsn);
        expect(records, `${point.name} on node ${index + 1}`).toHaveLength(1);
        const recordEnd = records[0]!.end_lsn;
        // the coordinator's LSN is exactly the end of its pg_create_restore_point record
        if (index === 0) expect(point.coordinatorLsn).toBe(recordEnd);
        // each node's recorded position is at or past its own restore point
        expect(parseLsn(point.nodeLsns[index + 1]!) >= parseLsn(recordEnd)).toBe(true);
      }
    }

    // every distributed write is on all its copies, and nothing was left prepared
    for (const [index, node] of cluster.nodes.entries()) {
      const [counts] = await node.query<{ dist: number; ref: number; prepared: number }>(
        `SELECT (SELECT count(*)::int FROM dist_rows) AS dist, (SELECT count(*)::int FROM ref_rows) AS ref,
                (SELECT count(*)::int FROM pg_prepared_xacts) AS prepared`,
      );
      expect(counts).toEqual({ dist: index === 0 ? 0 : written, ref: written, prepared: 0 });
    }
  });

  it('retries while a DDL holds the metadata lock, and succeeds once it is released', async () => {
    const holder = new pg.Client(cluster.coordinator.connectionConfig());
    await holder.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('LOCK TABLE pg_catalog.pg_dist_partition IN ACCESS EXCLUSIVE MODE');
      setTimeout(() => void holder.query('COMMIT'), 400);
      const point = await createRestorePoint({
        coordinator,
        nodes,
        name: newRestorePointName(),
        lockTimeoutMs: 150,
        retries: 5,
        backoffMs: 50,
      });
      expect(point.attempts).toBeGreaterThanOrEqual(2);
      expect(Object.keys(point.nodeLsns)).toHaveLength(3);
    } finally {
      await holder.end();
    }
  });

  it('gives up after the retries with a clear lock error, leaving the cluster usable', async () => {
    const holder = new pg.Client(cluster.coordinator.connectionConfig());
    await holder.connect();
    const name = newRestorePointName();
    const start = await Promise.all(
      cluster.nodes.map((n) =>
        n.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn'),
      ),
    );
    try {
      await holder.query('BEGIN');
      await holder.query('LOCK TABLE pg_catalog.pg_dist_partition IN ACCESS EXCLUSIVE MODE');
      const started = Date.now();
      await expect(
        createRestorePoint({
          coordinator,
          nodes,
          name,
          lockTimeoutMs: 150,
          retries: 2,
          backoffMs: 50,
        }),
      ).rejects.toMatchObject({
        code: 'conflict',
        retryable: true,
        message: expect.stringMatching(
          /was not created: Citus metadata on the coordinator stayed locked through 3 attempts \(lock_timeout 150 ms each\)/,
        ),
      });
      expect(Date.now() - started).toBeGreaterThanOrEqual(3 * 150 + 50 + 100);
    } finally {
      await holder.query('ROLLBACK');
      await holder.end();
    }
    // no point was written anywhere, and no dblink connection or lock was left behind
    await Promise.all(cluster.nodes.map((n) => n.query('SELECT pg_switch_wal()')));
    for (const [index, node] of cluster.nodes.entries()) {
      expect(await restorePointRecord(node, name, start[index]![0]!.lsn)).toEqual([]);
    }
    // the coordinator's connections to the workers were closed (their backends exit shortly)
    for (const worker of cluster.workers) {
      const closed = await waitFor(async () => {
        const rows = await worker.query(
          `SELECT 1 FROM pg_stat_activity WHERE application_name LIKE 'citus_internal%'`,
        );
        return rows.length === 0;
      });
      expect(closed).toBe(true);
    }
    expect(
      (
        await coordinator.query(
          `SELECT count(*)::int AS n FROM pg_locks WHERE relation = 'pg_catalog.pg_dist_node'::regclass`,
        )
      ).rows,
    ).toEqual([{ n: 0 }]);
    await cluster.distributedWrite(1_000_000, 'after the timeout');
  });

  it('fails naming the worker that is down', async () => {
    const down = cluster.workers[1]!;
    await down.stop();
    await expect(
      createRestorePoint({ coordinator, nodes, name: newRestorePointName() }),
    ).rejects.toMatchObject({
      code: 'connection_failed',
      details: { nodeId: 3, host: '127.0.0.1', port: down.port },
      message: expect.stringContaining(
        `the coordinator could not reach worker 127.0.0.1:${down.port} (node 3)`,
      ),
    });
  });
});
