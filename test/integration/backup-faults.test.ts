import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backupNode, type NodeBackupOptions } from '../../main/engine/backup/base-backup-job.js';
import type { NodeEndpoint } from '../../main/engine/backup/node-endpoint.js';
import { WalArchiver } from '../../main/engine/backup/wal-archiver.js';
import { TidemarkError } from '../../main/engine/errors.js';
import { layout } from '../../main/engine/catalog/layout.js';
import { ReplicationConnection } from '../../main/engine/replication/replication-connection.js';
import { S3Zone } from '../../main/engine/repository/zones/s3-zone.js';
import { createTestRepository, endpointOf, type TestRepository } from '../support/backup-fixtures.js';
import { PgInstance, postgresAvailable } from '../support/postgres.js';
import { startS3rver, type S3rverHandle } from '../support/s3rver.js';
import { tempDir } from '../support/temp-dir.js';

async function backupError(repo: TestRepository, endpoint: NodeEndpoint, options: NodeBackupOptions = {}): Promise<TidemarkError> {
  const archiver = new WalArchiver({ endpoint, repository: repo.repository, catalog: repo.catalog, reconnectInitialMs: 200 });
  try {
    await backupNode({ endpoint, repository: repo.repository, catalog: repo.catalog, archiver }, { walTimeoutMs: 15_000, ...options });
  } catch (err) {
    if (err instanceof TidemarkError) return err;
    throw err;
  } finally {
    await archiver.stop();
  }
  throw new Error('the backup succeeded');
}

/** Names the node as the brief asks: cluster, node id, role and host:port. */
function expectNamesNode(err: TidemarkError, pg: PgInstance, clusterId: string): void {
  expect(err.message).toContain(`Cluster "${clusterId}" node n1 (coordinator ${pg.host}:${pg.port})`);
  expect(err.details).toMatchObject({ clusterId, nodeId: 'n1', node: `${pg.host}:${pg.port}` });
}

describe.skipIf(!postgresAvailable())('backup faults on real servers', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  let pg: PgInstance;
  let repo: TestRepository;

  beforeAll(async () => {
    dir = await tempDir('tidemark-backupfaults-');
    pg = await PgInstance.create({ dir: join(dir.path, 'pg'), conf: { max_wal_senders: 3, max_replication_slots: 3 } });
    await pg.query("CREATE ROLE norepl LOGIN PASSWORD 'pw-norepl'");
    await pg.query("CREATE ROLE nohba LOGIN REPLICATION PASSWORD 'pw-nohba'");
    await writeFile(
      join(pg.dataDir, 'pg_hba.conf'),
      [
        'local all all trust',
        'host all all 127.0.0.1/32 scram-sha-256',
        'host replication postgres 127.0.0.1/32 scram-sha-256',
        'host replication norepl 127.0.0.1/32 scram-sha-256',
        '',
      ].join('\n'),
    );
    await pg.query('SELECT pg_reload_conf()');
    await pg.pgbench(['-i', '-s', '3', '-q']);
    repo = await createTestRepository(join(dir.path, 'repo'));
  });

  afterAll(async () => {
    await repo?.close();
    await pg?.stop();
    await dir?.cleanup();
  });

  it('role without REPLICATION', async () => {
    const err = await backupError(repo, endpointOf(pg, { clusterId: 'f-norepl', user: 'norepl', password: 'pw-norepl' }));
    expect(err.code).toBe('permission_denied');
    expectNamesNode(err, pg, 'f-norepl');
    expect(err.message).toContain('ALTER ROLE "norepl" REPLICATION');
  });

  it('no replication line in pg_hba.conf', async () => {
    const err = await backupError(repo, endpointOf(pg, { clusterId: 'f-nohba', user: 'nohba', password: 'pw-nohba' }));
    expect(err.code).toBe('permission_denied');
    expectNamesNode(err, pg, 'f-nohba');
    expect(err.message).toContain('host replication nohba');
  });

  it('wrong password', async () => {
    const err = await backupError(repo, endpointOf(pg, { clusterId: 'f-pw', password: 'not-the-password' }));
    expect(err.code).toBe('authentication_failed');
    expectNamesNode(err, pg, 'f-pw');
    expect(err.message).not.toContain('not-the-password');
  });

  it('TLS required but the server has none', async () => {
    const endpoint = { ...endpointOf(pg, { clusterId: 'f-tls' }), tls: { mode: 'require' as const } };
    const err = await backupError(repo, endpoint);
    expect(err.code).toBe('connection_failed');
    expectNamesNode(err, pg, 'f-tls');
    expect(err.message).toMatch(/does not accept TLS .*Turn on ssl/);
  });

  it('max_replication_slots exhausted', async () => {
    for (const name of ['other_a', 'other_b', 'other_c']) await pg.query('SELECT pg_create_physical_replication_slot($1)', [name]);
    try {
      const err = await backupError(repo, endpointOf(pg, { clusterId: 'f-slots' }));
      expect(err.code).toBe('preflight_failed');
      expectNamesNode(err, pg, 'f-slots');
      expect(err.message).toMatch(/no free replication slot.*max_replication_slots/);
    } finally {
      for (const name of ['other_a', 'other_b', 'other_c']) await pg.query('SELECT pg_drop_replication_slot($1)', [name]);
    }
  });

  it('max_wal_senders exhausted: the stream gets the last sender, the backup none', async () => {
    const holders = await Promise.all(
      [1, 2].map(() => ReplicationConnection.open({ host: pg.host, port: pg.port, user: pg.user, password: pg.password, ssl: { mode: 'disable' }, applicationName: 'holder', connectTimeoutMs: 5000 })),
    );
    try {
      const err = await backupError(repo, endpointOf(pg, { clusterId: 'f-senders' }));
      expect(err.code).toBe('preflight_failed');
      expectNamesNode(err, pg, 'f-senders');
      expect(err.message).toMatch(/no free WAL sender.*raise max_wal_senders/);
      expect(repo.catalog.node('f-senders', 'n1')!.backups).toEqual([]);
    } finally {
      await Promise.all(holders.map((h) => h.close()));
    }
  });

  it('wal_level = minimal', async () => {
    const minimal = await PgInstance.create({ dir: join(dir.path, 'minimal'), conf: { wal_level: 'minimal', max_wal_senders: 0 } });
    try {
      const err = await backupError(repo, endpointOf(minimal, { clusterId: 'f-minimal' }));
      expect(err.code).toBe('preflight_failed');
      expectNamesNode(err, minimal, 'f-minimal');
      expect(err.message).toContain('wal_level = replica');
    } finally {
      await minimal.stop();
    }
  });

  it('the node stops mid-backup: the backup fails cleanly, nothing is marked complete, a retry succeeds', async () => {
    const endpoint = endpointOf(pg, { clusterId: 'f-stop' });
    const archiver = new WalArchiver({ endpoint, repository: repo.repository, catalog: repo.catalog, reconnectInitialMs: 200, reconnectMaxMs: 1000 });
    let stopping: Promise<void> | undefined;
    const err = await backupNode(
      {
        endpoint,
        repository: repo.repository,
        catalog: repo.catalog,
        archiver,
        onProgress: (p) => {
          if (!stopping && (p.bytesDone ?? 0) > 8 * 1024 * 1024) stopping = pg.stop('fast');
        },
      },
      { compression: 'none', maxRateKbPerSec: 8192, walTimeoutMs: 30_000 },
    ).then(
      () => null,
      (e: unknown) => e as TidemarkError,
    );
    await stopping;
    expect(err).toBeInstanceOf(TidemarkError);
    expect(err!.code).toBe('connection_failed');
    expect(err!.retryable).toBe(true);
    expectNamesNode(err!, pg, 'f-stop');
    expect(repo.catalog.node('f-stop', 'n1')!.backups).toEqual([]);
    const listing = await repo.repository.list(layout.backupsPrefix('f-stop', 'n1'));
    expect(listing.objects.some((o) => o.key.endsWith('/backup.json'))).toBe(false);

    await pg.start();
    const record = await backupNode({ endpoint, repository: repo.repository, catalog: repo.catalog, archiver }, { compression: 'none', walTimeoutMs: 30_000 });
    expect(repo.catalog.node('f-stop', 'n1')!.backups.map((b) => b.backupId)).toEqual([record.backupId]);
    await archiver.stop();
  });

  describe('with an S3 zone', () => {
    let s3: S3rverHandle;
    beforeAll(async () => {
      s3 = await startS3rver();
    });
    afterAll(async () => {
      await s3?.dispose();
    });

    it('a zone that disappears mid-backup: the backup completes in the other zone, which is recorded', async () => {
      const s3Options = {
        id: 's3',
        endpoint: s3.endpoint,
        region: s3.region,
        bucket: s3.bucket,
        forcePathStyle: true,
        accessKeyId: s3.accessKeyId,
        secretAccessKey: s3.secretAccessKey,
        maxAttempts: 1,
        connectTimeoutMs: 1000,
        idleTimeoutMs: 3000,
      };
      const twoZones = await createTestRepository(join(dir.path, 'repo-s3'), {
        extraZones: [
          {
            config: { kind: 's3', id: 's3', name: 's3', endpoint: s3.endpoint, region: s3.region, bucket: s3.bucket, prefix: '', forcePathStyle: true, accessKeyId: s3.accessKeyId },
            zone: () => new S3Zone(s3Options),
          },
        ],
      });
      const endpoint = endpointOf(pg, { clusterId: 'f-zone' });
      const archiver = new WalArchiver({ endpoint, repository: twoZones.repository, catalog: twoZones.catalog });
      let killed: Promise<void> | undefined;
      const record = await backupNode(
        {
          endpoint,
          repository: twoZones.repository,
          catalog: twoZones.catalog,
          archiver,
          onProgress: (p) => {
            if (!killed && (p.bytesDone ?? 0) > 8 * 1024 * 1024) killed = s3.kill();
          },
        },
        { compression: 'none', maxRateKbPerSec: 8192, walTimeoutMs: 30_000 },
      );
      await killed;
      expect(killed).toBeDefined();
      expect(record.degradedZones).toEqual(['s3']);
      expect(twoZones.catalog.node('f-zone', 'n1')!.backups.map((b) => b.backupId)).toEqual([record.backupId]);
      // the folder zone alone holds the whole backup
      const archive = await twoZones.repository.readObject(layout.backupArchive('f-zone', 'n1', record.backupId, 'base.tar'));
      expect(archive.length).toBe(record.archives.find((a) => a.name === 'base.tar')!.bytes);
      await archiver.stop();
      await twoZones.close();
    });
  });
});
