import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  clusterConfigSchema,
  type ClusterConfig,
} from '../../main/engine/cluster/cluster-config.js';
import { connectClusterNode } from '../../main/engine/cluster/connect.js';
import {
  backupTargets,
  describeNode,
  diffTopology,
  discoverTopology,
  resolveNodeAddress,
  type ClusterTopology,
} from '../../main/engine/cluster/discovery.js';
import {
  preflightPassed,
  runPreflight,
  type PreflightCheck,
  type PreflightTarget,
} from '../../main/engine/cluster/preflight.js';
import { MemorySecretStore } from '../../main/engine/secrets/secret-store.js';
import { CitusTestCluster } from '../support/citus-cluster.js';
import { freePort } from '../support/free-port.js';
import { postgresAvailable, runPg, testPassword } from '../support/postgres.js';
import { tempDir } from '../support/temp-dir.js';

describe.skipIf(!postgresAvailable())('cluster connection, discovery and preflight', () => {
  let cluster: CitusTestCluster;
  let dir: Awaited<ReturnType<typeof tempDir>>;
  const secrets = new MemorySecretStore();
  const open: pg.Client[] = [];

  const config = (
    coordinator: Partial<ClusterConfig['coordinator']> = {},
    id = 'fixture',
  ): ClusterConfig =>
    clusterConfigSchema.parse({
      id,
      name: 'Fixture cluster',
      coordinator: {
        host: '127.0.0.1',
        port: cluster.coordinator.port,
        user: 'postgres',
        sslmode: 'disable',
        ...coordinator,
      },
      repositoryId: 'repo',
    });

  const connect = async (
    cfg: ClusterConfig,
    address?: { host: string; port: number },
  ): Promise<pg.Client> => {
    const client = await connectClusterNode(cfg, secrets, address ? { address } : {});
    open.push(client);
    return client;
  };

  /** What the backup flow does: discover, then reach every backup node at its resolved address. */
  const preflight = async (cfg: ClusterConfig): Promise<PreflightCheck[]> => {
    const coordinator = await connect(cfg);
    const topology = await discoverTopology(coordinator, cfg.coordinator);
    const targets: PreflightTarget[] = await Promise.all(
      backupTargets(topology).map(async (node) => {
        const address = resolveNodeAddress(node, cfg.nodeOverrides);
        return {
          node: describeNode(node),
          role: node.role,
          client: await connect(cfg, address),
          openReplication: () => connectClusterNode(cfg, secrets, { address, replication: true }),
        };
      }),
    );
    return runPreflight(targets);
  };

  const byId = (checks: PreflightCheck[], id: string) => checks.filter((c) => c.id === id);

  beforeAll(async () => {
    dir = await tempDir('tidemark-cluster-preflight-');
    cluster = await CitusTestCluster.create({ dir: dir.path });
    for (const id of ['fixture', 'backup-role', 'no-repl-role'])
      await secrets.set(`cluster/${id}/password`, testPassword);
    await cluster.createRole('tm_backup', testPassword);
    await cluster.createRole('tm_norepl', testPassword, { replication: false });
  });

  afterAll(async () => {
    await Promise.all(open.map((c) => c.end().catch(() => undefined)));
    await cluster?.stop();
    await dir?.cleanup();
  });

  it('maps connection failures to clear errors naming the node', async () => {
    const where = `127.0.0.1:${cluster.coordinator.port}`;
    await secrets.set('cluster/wrong-pw/password', 'not-the-password');
    await expect(connect(config({}, 'wrong-pw'))).rejects.toMatchObject({
      code: 'authentication_failed',
      message: expect.stringContaining(`${where} rejected the password of user "postgres"`),
    });
    await expect(connect(config({}, 'no-secret'))).rejects.toMatchObject({
      code: 'authentication_failed',
      message: expect.stringContaining('none is stored'),
    });
    const closedPort = await freePort();
    await expect(connect(config({ port: closedPort }))).rejects.toMatchObject({
      code: 'connection_failed',
      retryable: true,
      message: expect.stringContaining(`127.0.0.1:${closedPort}: connection refused`),
    });
    await expect(connect(config({ database: 'nope' }))).rejects.toMatchObject({
      code: 'not_found',
      message: expect.stringContaining('Database "nope" does not exist'),
    });
    // The test servers have no TLS: require fails clearly, prefer falls back to plain text.
    await expect(connect(config({ sslmode: 'require' }))).rejects.toMatchObject({
      code: 'connection_failed',
      message: expect.stringContaining('does not accept TLS'),
    });
    const preferred = await connect(config({ sslmode: 'prefer' }));
    expect(
      (await preferred.query('SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()')).rows,
    ).toEqual([{ ssl: false }]);
  });

  it('discovers the coordinator and the workers with roles, versions and the system identifier', async () => {
    const client = await connect(config());
    const topology = await discoverTopology(client, {
      host: '127.0.0.1',
      port: cluster.coordinator.port,
    });
    const [sysid] = await cluster.coordinator.query<{ id: string }>(
      'SELECT system_identifier::text AS id FROM pg_control_system()',
    );
    expect(topology).toMatchObject({
      citusVersion: '13.2.2',
      citusExtensionVersion: null,
      serverVersion: expect.stringMatching(/^15\./),
      systemIdentifier: sysid!.id,
      coordinatorRegistered: true,
    });
    expect(topology.serverVersionNum).toBeGreaterThanOrEqual(150000);
    expect(
      topology.nodes.map((n) => [
        n.nodeId,
        n.groupId,
        n.role,
        n.name,
        n.port,
        n.isActive,
        n.hasMetadata,
      ]),
    ).toEqual([
      [1, 0, 'coordinator', '127.0.0.1', cluster.coordinator.port, true, true],
      [2, 1, 'worker', '127.0.0.1', cluster.workers[0]!.port, true, true],
      [3, 2, 'worker', '127.0.0.1', cluster.workers[1]!.port, true, true],
    ]);
    expect(backupTargets(topology)).toEqual(topology.nodes);
  });

  it('takes the connected node as coordinator when pg_dist_node has no coordinator row', async () => {
    const client = await connect(config());
    await client.query('BEGIN');
    try {
      await client.query('SET LOCAL session_replication_role = replica');
      await client.query('DELETE FROM pg_catalog.pg_dist_node WHERE groupid = 0');
      const topology = await discoverTopology(client, { host: 'coord.example', port: 5432 });
      expect(topology.coordinatorRegistered).toBe(false);
      expect(topology.nodes[0]).toEqual({
        nodeId: 0,
        groupId: 0,
        name: 'coord.example',
        port: 5432,
        role: 'coordinator',
        isActive: true,
        hasMetadata: true,
        nodeRole: 'primary',
      });
      expect(topology.nodes.slice(1).map((n) => n.role)).toEqual(['worker', 'worker']);
    } finally {
      await client.query('ROLLBACK');
    }
  });

  it('refuses a worker as the cluster address', async () => {
    const worker = cluster.workers[0]!;
    const client = await connect(config({ port: worker.port }));
    await expect(
      discoverTopology(client, { host: '127.0.0.1', port: worker.port }),
    ).rejects.toMatchObject({
      code: 'invalid_input',
      message: expect.stringContaining(
        `127.0.0.1:${worker.port} is a Citus worker (group 1), not the coordinator`,
      ),
    });
  });

  it('diffs two discoveries when a node moves', async () => {
    const client = await connect(config());
    const at = { host: '127.0.0.1', port: cluster.coordinator.port };
    const before: ClusterTopology = await discoverTopology(client, at);
    await client.query('SELECT citus_update_node(3, $1, $2)', [
      'localhost',
      cluster.workers[1]!.port,
    ]);
    try {
      const after = await discoverTopology(client, at);
      const diff = diffTopology(before, after);
      expect(diff.added).toEqual([]);
      expect(diff.removed).toEqual([]);
      expect(diff.changed.map((c) => [c.nodeId, c.fields, c.after.name])).toEqual([
        [3, ['name'], 'localhost'],
      ]);
    } finally {
      await client.query('SELECT citus_update_node(3, $1, $2)', [
        '127.0.0.1',
        cluster.workers[1]!.port,
      ]);
    }
  });

  it('passes a healthy cluster with a superuser', async () => {
    const checks = await preflight(config());
    const failing = checks.filter((c) => c.status !== 'ok');
    expect(failing).toEqual([]);
    expect(preflightPassed(checks)).toBe(true);
    expect(new Set(checks.map((c) => c.node)).size).toBe(3);
    expect(byId(checks, 'superuser')).toHaveLength(1);
    expect(byId(checks, 'replication-connection')[0]!.message).toMatch(/system \d+, timeline 1/);
  });

  it('fails the coordinator for a backup role that is not a superuser, with the exact fix', async () => {
    const checks = await preflight(config({ user: 'tm_backup' }, 'backup-role'));
    expect(
      checks.filter((c) => c.status !== 'ok').map((c) => [c.id, c.node, c.status, c.fix]),
    ).toEqual([
      [
        'superuser',
        `coordinator 127.0.0.1:${cluster.coordinator.port} (node 1)`,
        'fail',
        'ALTER ROLE tm_backup SUPERUSER;',
      ],
    ]);
    expect(preflightPassed(checks)).toBe(false);
  });

  it('fails every node for a role without REPLICATION, with the exact fix', async () => {
    const checks = await preflight(config({ user: 'tm_norepl' }, 'no-repl-role'));
    for (const id of ['replication-role', 'replication-connection']) {
      expect(byId(checks, id).map((c) => [c.status, c.fix])).toEqual(
        Array(3).fill(['fail', 'ALTER ROLE tm_norepl REPLICATION;']),
      );
    }
    expect(byId(checks, 'replication-connection')[0]!.message).toMatch(
      /superuser or replication role/,
    );
  });

  it('fails a worker with max_wal_senders = 0 and warns about a node without data checksums', async () => {
    const [w1, w2] = [cluster.workers[0]!, cluster.workers[1]!];
    await w1.query('ALTER SYSTEM SET max_wal_senders = 0');
    await w1.restart();
    await w2.stop();
    await runPg('pg_checksums', ['--disable', '-D', w2.dataDir]);
    await w2.start();
    try {
      const checks = await preflight(config());
      const w1Label = `worker 127.0.0.1:${w1.port} (node 2)`;
      const w2Label = `worker 127.0.0.1:${w2.port} (node 3)`;
      const problems = checks.filter((c) => c.status !== 'ok');
      expect(problems.map((c) => [c.id, c.node, c.status])).toEqual([
        ['wal-senders', w1Label, 'fail'],
        ['replication-connection', w1Label, 'fail'],
        ['data-checksums', w2Label, 'warn'],
      ]);
      expect(problems[0]!.fix).toMatch(/^ALTER SYSTEM SET max_wal_senders = 4;/);
      expect(problems[1]!.message).toMatch(/max_wal_senders \(currently 0\)/);
      expect(problems[1]!.fix).toBe(problems[0]!.fix);
      expect(problems[2]!.fix).toBe(
        `pg_checksums --enable -D ${w2.dataDir}   # with PostgreSQL stopped on this node`,
      );
      expect(preflightPassed(checks)).toBe(false);
      expect(preflightPassed(checks.filter((c) => c.node !== w1Label))).toBe(true);
    } finally {
      await w1.query('ALTER SYSTEM RESET max_wal_senders');
      await w1.restart();
    }
  });

  it('warns when a node clock is off by more than a second', async () => {
    const client = await connect(config());
    const target: PreflightTarget = {
      node: 'coordinator',
      role: 'coordinator',
      client,
      openReplication: () => connectClusterNode(config(), secrets, { replication: true }),
    };
    const skewed = await runPreflight([target], { now: () => Date.now() + 5000 });
    const [clock] = byId(skewed, 'clock-skew');
    expect(clock).toMatchObject({
      status: 'warn',
      message: expect.stringMatching(/^Clock is (4\.9|5\.0)\d\d s behind this workstation/),
    });
    expect(byId(await runPreflight([target]), 'clock-skew')[0]!.status).toBe('ok');
  });
});
