import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Catalog } from '../../main/engine/catalog/catalog.js';
import type { BaseBackupRecord, RestorePointRecord } from '../../main/engine/catalog/records.js';
import {
  formatLsn,
  parseLsn,
  segmentNumberOf,
  segmentOffsetOf,
  walSegmentFileName,
} from '../../main/engine/replication/lsn.js';
import { CitusTestCluster } from '../support/citus-cluster.js';
import {
  createClusterHarness,
  fixtureClusterInput,
  type ClusterHarness,
} from '../support/cluster-harness.js';
import { postgresAvailable, type PgInstance } from '../support/postgres.js';
import { tempDir } from '../support/temp-dir.js';

const clusterId = 'fixture';
const segmentSize = 16 * 1024 * 1024;

describe.skipIf(!postgresAvailable())('restore point service', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let cluster: CitusTestCluster;
  let harness: ClusterHarness;
  let catalog: Catalog;
  /** node id → instance */
  const instances = new Map<string, PgInstance>();
  /** node id → WAL position before any point: where the simulated base backups end */
  const backupEnds = new Map<string, bigint>();

  beforeAll(async () => {
    dir = await tempDir('tidemark-restore-point-service-');
    cluster = await CitusTestCluster.create({ dir: join(dir.path, 'citus') });
    await Promise.all(cluster.nodes.map((node) => node.query('CREATE EXTENSION pg_walinspect')));
    harness = await createClusterHarness(dir.path);
    await harness.manager.add({ ...fixtureClusterInput(cluster, 'Fixture'), id: clusterId });
    catalog = (await harness.repositories.open('repo')).catalog;
    for (const node of cluster.nodes) {
      const id = `n${await cluster.nodeIdOf(node)}`;
      instances.set(id, node);
      const [row] = await node.query<{ lsn: string }>(
        'SELECT pg_current_wal_flush_lsn()::text AS lsn',
      );
      backupEnds.set(id, parseLsn(row!.lsn));
    }
  });

  afterAll(async () => {
    await harness?.close();
    await cluster?.stop();
    await dir?.cleanup();
  });

  /** The end of the RESTORE_POINT record named `name` in a node's WAL since `from`. */
  const restorePointRecordEnd = async (node: PgInstance, name: string, from: bigint) => {
    const rows = await node.query<{ end_lsn: string }>(
      `SELECT end_lsn::text FROM pg_get_wal_records_info($1, pg_current_wal_flush_lsn())
        WHERE resource_manager = 'XLOG' AND record_type = 'RESTORE_POINT' AND description = $2`,
      [formatLsn(from), `${name}`],
    );
    expect(rows).toHaveLength(1);
    return parseLsn(rows[0]!.end_lsn);
  };

  it('creates points under concurrent 2PC writes, recording every node’s LSN and timeline', async () => {
    const announced: RestorePointRecord[] = [];
    harness.manager.on('restorePointCreated', (point) => announced.push(point));
    let writing = true;
    let written = 0;
    const writer = (async () => {
      for (let id = 1; writing; id++) {
        await cluster.distributedWrite(id, `row ${id}`);
        written++;
      }
    })();
    const points: RestorePointRecord[] = [];
    try {
      for (let i = 0; i < 4; i++) {
        points.push(
          await harness.manager.restorePoints.create(
            clusterId,
            i === 0 ? { label: 'before migration 42' } : {},
          ),
        );
      }
    } finally {
      writing = false;
      await writer;
    }
    expect(written).toBeGreaterThan(0);
    expect(announced.map((p) => p.name)).toEqual(points.map((p) => p.name));
    expect(points[0]?.label).toBe('before migration 42');
    expect(points[1]?.label).toBeNull();

    const ids = [...instances.keys()].sort();
    let previous: Record<string, bigint> = Object.fromEntries([...backupEnds]);
    for (const point of points) {
      expect(point).toMatchObject({ clusterId, status: 'created', error: null });
      expect(point.name).toMatch(/^tidemark-\d{8}T\d{6}Z-[0-9a-f]{8}$/);
      expect(Object.keys(point.nodeLsns).sort()).toEqual(ids);
      expect(point.nodeTimelines).toEqual(Object.fromEntries(ids.map((id) => [id, 1])));
      for (const id of ids) {
        const lsn = parseLsn(point.nodeLsns[id]!);
        // each node's recorded LSN is at or after its own restore point record, and moves forward
        expect(lsn).toBeGreaterThanOrEqual(
          await restorePointRecordEnd(instances.get(id)!, point.name, previous[id]!),
        );
        expect(lsn).toBeGreaterThan(previous[id]!);
      }
      previous = Object.fromEntries(ids.map((id) => [id, parseLsn(point.nodeLsns[id]!)]));
    }
    // the coordinator's point (what Citus returned) is covered by its recorded LSN
    const coordinatorId = `n${await cluster.nodeIdOf(cluster.coordinator)}`;
    for (const point of points) {
      expect(parseLsn(point.coordinatorLsn!)).toBeLessThanOrEqual(
        parseLsn(point.nodeLsns[coordinatorId]!),
      );
    }
    // kept in the catalog, in the zone as well
    const listed = await harness.manager.restorePoints.list(clusterId);
    expect(listed.map((p) => p.name)).toEqual(points.map((p) => p.name));
    expect(await harness.manager.restorePoints.count(clusterId)).toBe(4);
    const { repository } = await harness.repositories.open('repo');
    const keys = (await repository.list(`clusters/${clusterId}/restore-points/`)).objects.map(
      (o) => o.key,
    );
    for (const point of points)
      expect(keys.some((k) => k.endsWith(`/${point.name}.json`))).toBe(true);
  });

  it('lists by time range, status and limit', async () => {
    const all = await harness.manager.restorePoints.list(clusterId);
    const second = all[1]!;
    const third = all[2]!;
    const range = { from: new Date(second.createdAt), to: new Date(third.createdAt) };
    expect((await harness.manager.restorePoints.list(clusterId, range)).map((p) => p.name)).toEqual(
      [second.name, third.name],
    );
    expect(await harness.manager.restorePoints.count(clusterId, range)).toBe(2);
    expect(await harness.manager.restorePoints.list(clusterId, { limit: 1 })).toEqual([all[0]]);
    expect(await harness.manager.restorePoints.list(clusterId, { status: 'failed' })).toEqual([]);
  });

  it('records a failed point, with a clear error, when a worker is down', async () => {
    const worker = cluster.workers[1]!;
    const workerId = `n${await cluster.nodeIdOf(worker)}`;
    await worker.stop();
    try {
      const error = await harness.manager.restorePoints
        .create(clusterId, { label: 'during outage' })
        .then(
          () => expect.fail('the point should have failed'),
          (err: unknown) => err as { code: string; message: string },
        );
      expect(error).toMatchObject({ code: 'connection_failed' });
      expect(error.message).toMatch(/^Restore point "tidemark-[^"]+" was not created: /);
      expect(error.message).toContain(
        `worker 127.0.0.1:${worker.port} (node ${workerId.slice(1)}) cannot be reached`,
      );
      expect(error.message).toContain('connection refused');
      const failed = await harness.manager.restorePoints.list(clusterId, { status: 'failed' });
      expect(failed).toHaveLength(1);
      expect(failed[0]).toMatchObject({
        status: 'failed',
        label: 'during outage',
        coordinatorLsn: null,
        nodeLsns: {},
        error: error.message,
      });
    } finally {
      await worker.start();
    }
    // and works again once the worker is back
    const point = await harness.manager.restorePoints.create(clusterId);
    expect(point.status).toBe('created');
  });

  it('becomes restorable only when every node’s archived WAL has passed its LSN', async () => {
    const points = await harness.manager.restorePoints.list(clusterId, { status: 'created' });
    const [first, second] = points as [RestorePointRecord, RestorePointRecord];
    const ids = [...instances.keys()];

    // Without base backups nothing is restorable, however much WAL there is.
    expect(
      (await harness.manager.restorePoints.updateRestorability(clusterId)).becameRestorable,
    ).toEqual([]);
    for (const id of ids) await catalog.putBackup(simulatedBackup(id, backupEnds.get(id)!));

    const archiveUpTo = (id: string, lsn: bigint) => {
      // complete segments from the backup's to the one before `lsn`'s, and that one as a partial
      const start = segmentNumberOf(backupEnds.get(id)!, segmentSize);
      const last = segmentNumberOf(lsn, segmentSize);
      for (let segment = start; segment < last; segment++)
        catalog.noteWalSegment(clusterId, id, walSegmentFileName(1, segment, segmentSize));
      catalog.noteWalPartial(
        clusterId,
        id,
        walSegmentFileName(1, last, segmentSize),
        segmentOffsetOf(lsn, segmentSize),
      );
    };
    const restorableNames = async () =>
      (await harness.manager.restorePoints.list(clusterId, { status: 'restorable' })).map(
        (p) => p.name,
      );
    const becoming: string[][] = [];
    harness.manager.on('restorePointsRestorable', ({ points: changed }) =>
      becoming.push(changed.map((p) => p.name)),
    );

    // Every node but the last has archived past the second point; the last one stops 1 byte short of the first.
    const [lagging, ...others] = ids as [string, ...string[]];
    for (const id of others) archiveUpTo(id, parseLsn(second.nodeLsns[id]!));
    archiveUpTo(lagging, parseLsn(first.nodeLsns[lagging]!) - 1n);
    await harness.manager.restorePoints.updateRestorability(clusterId);
    expect(await restorableNames()).toEqual([]);

    // The lagging node reaches the first point's LSN exactly: only the first point flips.
    archiveUpTo(lagging, parseLsn(first.nodeLsns[lagging]!));
    const update = await harness.manager.restorePoints.updateRestorability(clusterId);
    expect(update.becameRestorable.map((p) => p.name)).toEqual([first.name]);
    expect(await restorableNames()).toEqual([first.name]);
    expect(becoming).toEqual([[first.name]]);

    // ... and then the second point's: the second flips; failed points never do.
    archiveUpTo(lagging, parseLsn(second.nodeLsns[lagging]!));
    await harness.manager.restorePoints.updateRestorability(clusterId);
    expect(await restorableNames()).toEqual([first.name, second.name]);
    expect(
      (await harness.manager.restorePoints.list(clusterId, { status: 'failed' })).map(
        (p) => p.status,
      ),
    ).toEqual(['failed']);

    // the status is stored in the zone: a rebuilt index still knows it
    await catalog.rebuild();
    expect(
      (await harness.manager.restorePoints.list(clusterId, { status: 'restorable' })).map(
        (p) => p.name,
      ),
    ).toEqual([first.name, second.name]);
  });

  function simulatedBackup(nodeId: string, end: bigint): BaseBackupRecord {
    const at = new Date().toISOString();
    return {
      backupId: `b-${nodeId}`,
      clusterId,
      nodeId,
      label: 'simulated',
      startLsn: formatLsn(end - 0x1000n),
      endLsn: formatLsn(end),
      timeline: 1,
      endTimeline: 1,
      startedAt: at,
      endedAt: at,
      compression: 'none',
      archives: [],
      manifestBytes: 0,
      dataBytes: 0,
      serverConfig: {
        serverVersion: '15',
        serverVersionNum: 150000,
        systemIdentifier: '1',
        parameters: {},
        extensions: [],
        sharedPreloadLibraries: [],
        dataChecksums: true,
        bootstrapSuperuser: 'postgres',
      },
      degradedZones: [],
    };
  }
});
