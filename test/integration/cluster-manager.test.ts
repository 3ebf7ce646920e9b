import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { methods } from '../../main/api/contract/index.js';
import { clusterHandlers } from '../../main/api/handlers/cluster-handlers.js';
import type { TopologyRefresh } from '../../main/engine/cluster/topology-refresh.js';
import type { PreflightCheck } from '../../main/engine/cluster/preflight.js';
import { applyCitusFixture, CitusTestCluster, citusNodeConf } from '../support/citus-cluster.js';
import {
  createClusterHarness,
  fixtureClusterInput,
  type ClusterHarness,
} from '../support/cluster-harness.js';
import { freePort } from '../support/free-port.js';
import { PgInstance, postgresAvailable, testPassword } from '../support/postgres.js';
import { tempDir } from '../support/temp-dir.js';

describe.skipIf(!postgresAvailable())('cluster manager', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let cluster: CitusTestCluster;
  let harness: ClusterHarness;
  let extraWorker: PgInstance | undefined;

  beforeAll(async () => {
    dir = await tempDir('tidemark-cluster-manager-');
    cluster = await CitusTestCluster.create({ dir: join(dir.path, 'citus') });
    await cluster.createRole('tm_norepl', testPassword, { replication: false });
    harness = await createClusterHarness(dir.path);
  });

  afterAll(async () => {
    await harness?.close();
    await extraWorker?.stop('immediate');
    await cluster?.stop();
    await dir?.cleanup();
  });

  const nodeIds = async () => ({
    coordinator: `n${await cluster.nodeIdOf(cluster.coordinator)}`,
    workers: await Promise.all(cluster.workers.map(async (w) => `n${await cluster.nodeIdOf(w)}`)),
  });

  it('adds a cluster: discovers its nodes, checks them, and records them in the repository catalog', async () => {
    const added: string[] = [];
    harness.manager.on('clusterAdded', ({ clusterId }) => added.push(clusterId));
    const result = await harness.manager.add(fixtureClusterInput(cluster, 'Fixture Cluster'));
    const ids = await nodeIds();

    expect(result.cluster.config.id).toBe('fixture-cluster');
    expect(result.cluster.passwordSet).toBe(true);
    expect(result.citusVersion).toBe('13.2.2');
    expect(result.nodes.map((n) => n.nodeId).sort()).toEqual(
      [ids.coordinator, ...ids.workers].sort(),
    );
    expect(result.nodes.find((n) => n.role === 'coordinator')).toMatchObject({
      nodeId: ids.coordinator,
      port: cluster.coordinator.port,
      groupId: 0,
    });
    expect(result.checks.filter((c) => c.status === 'fail')).toEqual([]);
    // every node was checked, the coordinator also for superuser
    for (const id of ['wal-level', 'wal-senders', 'replication-connection', 'clock-skew'])
      expect(result.checks.filter((c) => c.id === id)).toHaveLength(3);
    expect(result.checks.filter((c) => c.id === 'superuser')).toHaveLength(1);
    expect(added).toEqual(['fixture-cluster']);

    // settings: the config without any secret; the password only in the secret store
    const settings = await harness.settings.get();
    expect(settings.clusters.map((c) => c.id)).toEqual(['fixture-cluster']);
    expect(JSON.stringify(settings)).not.toContain(testPassword);
    expect(await harness.secrets.get('cluster/fixture-cluster/password')).toBe(testPassword);

    // catalog: cluster and node records, with each node's own system identifier
    const { catalog, repository } = await harness.repositories.open('repo');
    expect(catalog.cluster('fixture-cluster')?.record).toMatchObject({
      name: 'Fixture Cluster',
      citusVersion: '13.2.2',
      coordinator: { host: '127.0.0.1', port: cluster.coordinator.port, database: 'postgres' },
    });
    const records = catalog.nodes('fixture-cluster').map((n) => n.record);
    expect(records).toHaveLength(3);
    for (const [instance, id] of [
      [cluster.coordinator, ids.coordinator],
      ...cluster.workers.map((w, i) => [w, ids.workers[i]] as const),
    ] as const) {
      const [row] = await instance.query<{ sysid: string }>(
        'SELECT system_identifier::text AS sysid FROM pg_control_system()',
      );
      const record = records.find((r) => r.nodeId === id);
      expect(record).toMatchObject({
        systemIdentifier: row?.sysid,
        walSegmentSize: 16 * 1024 * 1024,
        serverVersionNum: expect.any(Number),
        port: instance.port,
        removedAt: null,
      });
    }
    // written to the zone, not only to the local index
    const listing = await repository.list('clusters/fixture-cluster/');
    expect(listing.objects.map((o) => o.key).sort()).toEqual(
      [
        'clusters/fixture-cluster/cluster.json',
        ...[ids.coordinator, ...ids.workers].map(
          (id) => `clusters/fixture-cluster/nodes/${id}/node.json`,
        ),
      ].sort(),
    );
    expect((await harness.manager.list()).map((c) => c.config.id)).toEqual(['fixture-cluster']);
  });

  it('answers the API through the contract, without any secret', async () => {
    const handlers = clusterHandlers({ clusters: harness.manager });
    const list = methods['clusters.list'].output.parse(await handlers['clusters.list']({}));
    expect(list).toEqual([expect.objectContaining({ passwordSet: true })]);
    const check = methods['clusters.check'].output.parse(
      await handlers['clusters.check']({ id: 'fixture-cluster' }),
    );
    expect(check.passed).toBe(true);
    const points = methods['restorePoints.list'].output.parse(
      await handlers['restorePoints.list']({
        clusterId: 'fixture-cluster',
        from: new Date(0).toISOString(),
      }),
    );
    expect(points).toEqual({ points: [], total: 0 });
    expect(JSON.stringify([list, check])).not.toContain(testPassword);
    // an empty password is refused by the contract
    expect(
      methods['clusters.add'].input.safeParse({
        ...fixtureClusterInput(cluster, 'x'),
        password: '',
      }).success,
    ).toBe(false);
  });

  it('refuses a role without REPLICATION, shows the fix, and stores nothing', async () => {
    const attempt = harness.manager.add({
      ...fixtureClusterInput(cluster, 'No replication', 'tm_norepl'),
      id: 'norepl',
    });
    const error = await attempt.then(
      () => expect.fail('the add should have been refused'),
      (err: unknown) =>
        err as { code: string; message: string; details: { checks: PreflightCheck[] } },
    );
    expect(error).toMatchObject({ code: 'preflight_failed' });
    expect(error.message).toContain('Cluster "No replication" was not added');
    expect(error.message).toContain('ALTER ROLE tm_norepl REPLICATION;');
    const roleChecks = error.details.checks.filter((c) => c.id === 'replication-role');
    expect(roleChecks).toHaveLength(3);
    expect(
      roleChecks.every((c) => c.status === 'fail' && c.fix === 'ALTER ROLE tm_norepl REPLICATION;'),
    ).toBe(true);
    // not a superuser either: restore points would be impossible
    expect(error.details.checks.find((c) => c.id === 'superuser')).toMatchObject({
      status: 'fail',
      fix: 'ALTER ROLE tm_norepl SUPERUSER;',
    });

    expect((await harness.settings.get()).clusters.map((c) => c.id)).not.toContain('norepl');
    expect(await harness.secrets.has('cluster/norepl/password')).toBe(false);
    const { catalog } = await harness.repositories.open('repo');
    expect(catalog.cluster('norepl')).toBeUndefined();
  });

  it('refuses an unreachable coordinator with the connection error', async () => {
    const closed = await freePort();
    const input = fixtureClusterInput(cluster, 'Nowhere');
    await expect(
      harness.manager.add({ ...input, coordinator: { ...input.coordinator, port: closed } }),
    ).rejects.toMatchObject({
      code: 'connection_failed',
      message: expect.stringContaining(`127.0.0.1:${closed}: connection refused`),
    });
    expect((await harness.settings.get()).clusters).toHaveLength(1);
  });

  it('checks every node, and reports an unreachable node with the override to set', async () => {
    const result = await harness.manager.check('fixture-cluster');
    expect(result.passed).toBe(true);
    expect(new Set(result.checks.map((c) => c.node)).size).toBe(3);

    // Point this workstation at a closed port for the first worker: the check says which node and how to fix it.
    const worker = cluster.workers[0] as PgInstance;
    const closed = await freePort();
    await harness.manager.setNodeOverride(
      'fixture-cluster',
      { name: worker.host, port: worker.port },
      { host: '127.0.0.1', port: closed },
    );
    const broken = await harness.manager.check('fixture-cluster');
    expect(broken.passed).toBe(false);
    const failed = broken.checks.filter((c) => c.status === 'fail');
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({
      id: 'node-reachable',
      node: expect.stringContaining(`worker 127.0.0.1:${worker.port}`),
      message: expect.stringContaining(`127.0.0.1:${closed}: connection refused`),
      fix: expect.stringContaining(`address override for 127.0.0.1:${worker.port}`),
    });
    const config = await harness.manager.setNodeOverride(
      'fixture-cluster',
      { name: worker.host, port: worker.port },
      null,
    );
    expect(config.nodeOverrides).toEqual({});
    expect((await harness.manager.check('fixture-cluster')).passed).toBe(true);

    // a wrong password is a failed check with its fix, not an exception
    await harness.secrets.set('cluster/fixture-cluster/password', 'wrong');
    const denied = await harness.manager.check('fixture-cluster');
    expect(denied.checks).toEqual([
      expect.objectContaining({
        id: 'coordinator-reachable',
        status: 'fail',
        message: expect.stringContaining('rejected the password'),
        fix: expect.stringContaining('TIDEMARK_SECRET_CLUSTER_FIXTURE_CLUSTER_PASSWORD'),
      }),
    ]);
    await harness.secrets.set('cluster/fixture-cluster/password', testPassword);
  });

  it('records a new worker and a removed one, and announces both', async () => {
    const changes: TopologyRefresh[] = [];
    harness.manager.on('topologyChanged', (change) => changes.push(change));
    expect(await harness.manager.refreshTopology('fixture-cluster')).toMatchObject({
      added: [],
      removed: [],
      moved: [],
    });
    expect(changes).toHaveLength(0);

    extraWorker = await PgInstance.create({
      dir: join(dir.path, 'citus', 'worker-3'),
      conf: citusNodeConf,
    });
    await applyCitusFixture(extraWorker);
    await cluster.coordinator.query('SELECT citus_add_node($1, $2)', [
      extraWorker.host,
      extraWorker.port,
    ]);
    const newId = `n${await cluster.nodeIdOf(extraWorker)}`;

    const added = await harness.manager.refreshTopology('fixture-cluster');
    expect(added.added).toEqual([
      {
        nodeId: newId,
        role: 'worker',
        name: '127.0.0.1',
        port: extraWorker.port,
        groupId: expect.any(Number),
      },
    ]);
    expect(changes.map((c) => c.added.map((n) => n.nodeId))).toEqual([[newId]]);
    const { catalog } = await harness.repositories.open('repo');
    const [sysid] = await extraWorker.query<{ s: string }>(
      'SELECT system_identifier::text AS s FROM pg_control_system()',
    );
    expect(catalog.node('fixture-cluster', newId)?.record).toMatchObject({
      systemIdentifier: sysid?.s,
      removedAt: null,
    });

    // The node leaves pg_dist_node (as citus_remove_node would do).
    await cluster.coordinator.query(
      `BEGIN; SET LOCAL session_replication_role = replica;
       DELETE FROM pg_catalog.pg_dist_node WHERE nodeport = ${extraWorker.port}; COMMIT;`,
    );
    const removed = await harness.manager.refreshTopology('fixture-cluster');
    expect(removed.removed.map((n) => n.nodeId)).toEqual([newId]);
    expect(removed.added).toEqual([]);
    const record = catalog.node('fixture-cluster', newId)?.record;
    expect(record?.removedAt).toEqual(removed.at);
    expect(changes).toHaveLength(2);
    // still there in the zone: its backups would be kept
    const { repository } = await harness.repositories.open('repo');
    expect(
      (await repository.list(`clusters/fixture-cluster/nodes/${newId}/`)).objects,
    ).toHaveLength(1);
    await extraWorker.stop();
  });

  it('removes a cluster from Tidemark but keeps everything in the repository', async () => {
    const second = await harness.manager.add({
      ...fixtureClusterInput(cluster, 'Second'),
      id: 'second',
    });
    expect(second.cluster.config.id).toBe('second');
    const { repository } = await harness.repositories.open('repo');
    const before = (await repository.list('clusters/second/')).objects.map((o) => o.key).sort();
    expect(before.length).toBeGreaterThanOrEqual(4);

    const removedEvents: string[] = [];
    harness.manager.on('clusterRemoved', ({ clusterId }) => removedEvents.push(clusterId));
    const result = await harness.manager.remove('second');
    expect(result.message).toContain('nothing was deleted');
    expect(result.message).toContain('repository "repo"');
    expect(result.zones).toEqual([`Zone A: folder ${harness.zonePath}`]);
    expect(removedEvents).toEqual(['second']);
    expect((await harness.manager.list()).map((c) => c.config.id)).toEqual(['fixture-cluster']);
    expect(await harness.secrets.has('cluster/second/password')).toBe(false);
    expect((await repository.list('clusters/second/')).objects.map((o) => o.key).sort()).toEqual(
      before,
    );
    await expect(harness.manager.check('second')).rejects.toMatchObject({ code: 'not_found' });

    // Added again under the same id and repository, it continues where it was.
    const again = await harness.manager.add({
      ...fixtureClusterInput(cluster, 'Second'),
      id: 'second',
    });
    expect(again.nodes).toHaveLength(3);
    await harness.manager.remove('second');
  });
});
