import { execFile } from 'node:child_process';
import { chmod, mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backupNode, type NodeBackupProgress } from '../../main/engine/backup/base-backup-job.js';
import { WalArchiver } from '../../main/engine/backup/wal-archiver.js';
import { layout } from '../../main/engine/catalog/layout.js';
import { baseBackupRecordSchema } from '../../main/engine/catalog/records.js';
import { parseLsn, segmentStartOf } from '../../main/engine/replication/lsn.js';
import { createTestRepository, endpointOf, type TestRepository } from '../support/backup-fixtures.js';
import { configureRecovery, restoreByHand } from '../support/backup-manual-restore.js';
import { PgInstance, postgresAvailable, runPg } from '../support/postgres.js';
import { tempDir } from '../support/temp-dir.js';

const exec = promisify(execFile);
const segmentSize = 16 * 1024 * 1024;

const checksumQuery = `SELECT (SELECT count(*) FROM pgbench_accounts) AS accounts,
  (SELECT sum(abalance) FROM pgbench_accounts) AS balance,
  (SELECT count(*) FROM marker) AS markers,
  (SELECT md5(string_agg(note, ',' ORDER BY id)) FROM marker) AS marker_md5,
  (SELECT md5(string_agg(v, ',' ORDER BY id)) FROM in_tablespace) AS ts_md5`;

describe.skipIf(!postgresAvailable())('base backup of a node into the repository', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  let pg: PgInstance;
  let repo: TestRepository;
  let archiver: WalArchiver;
  let restored: PgInstance | undefined;

  beforeAll(async () => {
    dir = await tempDir('tidemark-backup-');
    pg = await PgInstance.create({
      dir: join(dir.path, 'pg'),
      conf: { shared_preload_libraries: `'pg_stat_statements'`, max_prepared_transactions: 7 },
    });
    const tsDir = join(dir.path, 'ts');
    await mkdir(tsDir);
    await chmod(tsDir, 0o700);
    if (process.getuid?.() === 0) await exec('chown', ['postgres:postgres', tsDir]);
    await pg.query(`CREATE TABLESPACE extra LOCATION '${tsDir}'`);
    await pg.query('CREATE TABLE in_tablespace (id int PRIMARY KEY, v text) TABLESPACE extra');
    await pg.query("INSERT INTO in_tablespace SELECT g, 'ts ' || g FROM generate_series(1, 5000) g");
    await pg.pgbench(['-i', '-s', '2', '-q']);
    await pg.query('CREATE TABLE marker (id int PRIMARY KEY, note text)');
    await pg.query('CREATE DATABASE appdb');
    await pg.query('CREATE EXTENSION pgcrypto', [], 'appdb');
    repo = await createTestRepository(join(dir.path, 'repo'), { folderZones: 2 });
    archiver = new WalArchiver({ endpoint: endpointOf(pg), repository: repo.repository, catalog: repo.catalog, flushIntervalMs: 500 });
  });

  afterAll(async () => {
    await restored?.stop('immediate');
    await archiver?.stop();
    await repo?.close();
    await pg?.stop();
    await dir?.cleanup();
  });

  it('takes an uncompressed backup that, restored by hand from the repository, verifies, starts and has the same data', async () => {
    const progress: NodeBackupProgress[] = [];
    expect(archiver.isRunning).toBe(false);
    const record = await backupNode(
      { endpoint: endpointOf(pg), repository: repo.repository, catalog: repo.catalog, archiver, onProgress: (p) => progress.push(p) },
      { compression: 'none' },
    );
    // the backup started the node's WAL stream, which keeps running
    expect(archiver.status().state).toBe('streaming');
    expect(progress.map((p) => p.phase)).toEqual(expect.arrayContaining(['starting wal stream', 'capturing configuration', 'streaming', 'waiting for wal', 'recording']));
    const last = progress.filter((p) => p.phase === 'streaming').at(-1)!;
    expect(last.bytesDone).toBeGreaterThan(20 * 1024 * 1024);
    expect(last.bytesTotal).toBeGreaterThan(0);

    // the completion record is in the catalog and in the repository
    expect(repo.catalog.node('c1', 'n1')!.backups.map((b) => b.backupId)).toEqual([record.backupId]);
    const stored = await repo.repository.readRecord(layout.backupRecord('c1', 'n1', record.backupId), baseBackupRecordSchema);
    expect(stored).toEqual(record);
    expect(record).toMatchObject({ compression: 'none', timeline: 1, endTimeline: 1, degradedZones: [] });
    expect(record.backupId).toMatch(/^\d{8}t\d{6}z-[0-9a-f]{4}$/);
    const [tablespace] = await pg.query<{ oid: string }>("SELECT oid::text FROM pg_tablespace WHERE spcname = 'extra'");
    expect(record.archives).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ name: 'base.tar', tablespaceOid: null, tablespacePath: null }),
        expect.objectContaining({ name: `${tablespace!.oid}.tar`, tablespaceOid: Number(tablespace!.oid), tablespacePath: join(dir.path, 'ts') }),
      ]),
    );
    expect(parseLsn(record.endLsn)).toBeGreaterThan(parseLsn(record.startLsn));
    // WAL is stored past the end: the backup can become consistent from the repository alone
    expect(parseLsn(archiver.status().storedLsn!)).toBeGreaterThanOrEqual(parseLsn(record.endLsn));

    // what restore needs and the physical backup lacks
    const config = record.serverConfig;
    const [identity] = await pg.query<{ sysid: string }>('SELECT system_identifier::text AS sysid FROM pg_control_system()');
    expect(config.systemIdentifier).toBe(identity!.sysid);
    expect(config.serverVersionNum).toBeGreaterThanOrEqual(150000);
    expect(config.dataChecksums).toBe(true);
    expect(config.bootstrapSuperuser).toBe('postgres');
    expect(config.sharedPreloadLibraries).toEqual(['pg_stat_statements']);
    expect(config.parameters.max_prepared_transactions).toEqual({ value: '7', source: 'configuration file' });
    expect(config.parameters.wal_level).toEqual({ value: 'replica', source: 'configuration file' });
    // source `override` is captured too (Citus raises max_prepared_transactions that way)
    expect(config.parameters.data_directory).toEqual({ value: pg.dataDir, source: 'override' });
    for (const name of ['max_connections', 'max_worker_processes', 'max_wal_senders', 'max_locks_per_transaction']) expect(config.parameters[name], name).toBeDefined();
    expect(config.parameters.shared_buffers).toEqual({ value: '65536kB', source: 'configuration file' });
    expect(config.extensions).toEqual(expect.arrayContaining([
      { database: 'postgres', name: 'plpgsql', version: expect.any(String) },
      { database: 'appdb', name: 'pgcrypto', version: expect.any(String) },
      { database: 'template1', name: 'plpgsql', version: expect.any(String) },
    ]));
    expect(config.extensions.some((e) => e.database === 'template0')).toBe(false);

    // rows written after the backup come back through the archived WAL
    await pg.query("INSERT INTO marker SELECT g, 'after backup ' || g FROM generate_series(1, 700) g");
    await pg.pgbench(['-t', '100', '-c', '2', '-n']);
    const [switched] = await pg.query<{ lsn: string }>('SELECT pg_switch_wal()::text AS lsn');
    await archiver.waitUntilStored(segmentStartOf(parseLsn(switched!.lsn), segmentSize) + BigInt(segmentSize), 1, { timeoutMs: 30_000 });
    const [expected] = await pg.query(checksumQuery);

    const manual = await restoreByHand(repo.repository, repo.catalog, record, join(dir.path, 'restore-none'));
    const verified = await runPg('pg_verifybackup', ['-m', manual.manifest, '-w', manual.walDir, manual.dataDir]);
    expect(verified).toContain('backup successfully verified');
    expect(await readFile(join(manual.dataDir, 'backup_label'), 'utf8')).toContain(`LABEL: ${record.label}`);
    await configureRecovery(manual);
    restored = await PgInstance.adopt(join(dir.path, 'restore-none'), manual.dataDir);
    await restored.start();
    for (let i = 0; i < 100; i++) {
      const [row] = await restored.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r');
      if (row?.r === false) break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const [actual] = await restored.query(checksumQuery);
    expect(actual).toEqual(expected);
    expect(Number(actual!.markers)).toBe(700);
    await restored.stop('immediate');
    restored = undefined;
  });

  it('takes an lz4 backup by default, whose archives decompress into a tree that matches the manifest', async () => {
    const record = await backupNode({ endpoint: endpointOf(pg), repository: repo.repository, catalog: repo.catalog, archiver });
    expect(record.compression).toBe('lz4');
    expect(record.archives.map((a) => a.name)).toContain('base.tar.lz4');
    const base = record.archives.find((a) => a.name === 'base.tar.lz4')!;
    // compressed: far smaller than the data
    expect(base.bytes).toBeLessThan(record.dataBytes / 2);
    const manual = await restoreByHand(repo.repository, repo.catalog, record, join(dir.path, 'restore-lz4'));
    const verified = await runPg('pg_verifybackup', ['-m', manual.manifest, '-w', manual.walDir, manual.dataDir]);
    expect(verified).toContain('backup successfully verified');
    expect(repo.catalog.node('c1', 'n1')!.backups).toHaveLength(2);
  });
});
