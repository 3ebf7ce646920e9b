import { existsSync } from 'node:fs';
import { readFile, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ServerConfig } from '../../main/engine/catalog/records.js';
import { TidemarkError } from '../../main/engine/errors.js';
import { restoreCluster, type ClusterRestoreRequest, type ClusterRestoreResult } from '../../main/engine/restore/cluster-recovery.js';
import { LocalProvisioner } from '../../main/engine/restore/local-provisioner.js';
import type { NodeRestoreProgress } from '../../main/engine/restore/restore-progress.js';
import type { NodeRestoreSource } from '../../main/engine/restore/restore-source.js';
import { parseConnectionLog } from '../support/citus-cluster.js';
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
import { PgInstance, postgresAvailable, runPg, testPassword } from '../support/postgres.js';
import { tempDir } from '../support/temp-dir.js';

interface Source {
  instance: PgInstance;
  walDir: string;
  backups: { plain: string; lz4: string };
  config: ServerConfig;
  pointLsn: string;
  nodeLsn: string;
}

/** Stops a restored server and removes its folder (what a "remove restored cluster" action would do). */
async function removeRestored(result: ClusterRestoreResult, baseDirs: string[]): Promise<void> {
  for (const node of result.nodes) await runPg('pg_ctl', ['-D', node.dataDir, '-m', 'immediate', '-w', 'stop']).catch(() => undefined);
  for (const dir of baseDirs) await rm(dir, { recursive: true, force: true });
}

async function restoredQuery<T extends pg.QueryResultRow>(result: ClusterRestoreResult, text: string): Promise<T[]> {
  const node = result.nodes[0];
  if (!node) throw new Error('no node');
  // over TCP with the source's password: the final pg_hba allows localhost with scram-sha-256
  const client = new pg.Client({ host: node.host, port: node.port, user: 'postgres', password: testPassword, database: 'postgres' });
  await client.connect();
  try {
    return (await client.query<T>(text)).rows;
  } finally {
    await client.end();
  }
}

describe.skipIf(!postgresAvailable())('single-node point-in-time restore (local provisioner)', () => {
  let root: { path: string; cleanup: () => Promise<void> };
  let source: Source;

  beforeAll(async () => {
    root = await tempDir('tidemark-restore-');
    const walDir = await postgresWritableDir(join(root.path, 'wal-archive'));
    const tsDir = await postgresWritableDir(join(root.path, 'source-ts1'));
    const instance = await PgInstance.create({
      dir: join(root.path, 'source'),
      conf: {
        archive_mode: 'on',
        archive_command: `'cp %p ${walDir}/%f'`,
        log_connections: 'on',
        log_line_prefix: `'%m [%p] '`,
        log_timezone: `'UTC'`,
        max_prepared_transactions: 10,
        cluster_name: `'src'`,
      },
    });
    await sourceQuery(instance, `CREATE TABLESPACE ts1 LOCATION '${tsDir}'`);
    await sourceQuery(instance, 'CREATE TABLE items (id int PRIMARY KEY, note text); CREATE TABLE ts_items (id int) TABLESPACE ts1');
    await sourceQuery(instance, `INSERT INTO items SELECT g, 'before backup' FROM generate_series(1, 50) g; INSERT INTO ts_items SELECT generate_series(1, 50)`);
    const config = await captureServerConfig(instance);
    const backups = { plain: join(root.path, 'backup-plain'), lz4: join(root.path, 'backup-lz4') };
    await takeBaseBackup(instance, backups.plain);
    await takeBaseBackup(instance, backups.lz4, 'server-lz4');

    // After the backups: rows before the point, one transaction left prepared at the point.
    await sourceQuery(instance, `INSERT INTO items SELECT g, 'before point' FROM generate_series(51, 150) g; INSERT INTO ts_items SELECT generate_series(51, 150)`);
    await sourceQuery(instance, `BEGIN; INSERT INTO items VALUES (1000, 'prepared'); PREPARE TRANSACTION 'tx_at_point'`);
    const [created] = await sourceQuery<{ point: string }>(instance, `SELECT pg_create_restore_point('p1')::text AS point`);
    // The INSERT position: pg_current_wal_lsn() (the write position) may still be before the point's record.
    const [after] = await sourceQuery<{ node: string }>(instance, `SELECT pg_current_wal_insert_lsn()::text AS node`);
    if (!created || !after) throw new Error('no restore point');
    const point = { point: created.point, node: after.node };
    await sourceQuery(instance, `INSERT INTO items SELECT g, 'after point' FROM generate_series(151, 250) g; INSERT INTO ts_items SELECT generate_series(151, 250)`);
    await sourceQuery(instance, `COMMIT PREPARED 'tx_at_point'`);
    await waitArchived(instance, point.node);
    source = { instance, walDir, backups, config, pointLsn: point.point, nodeLsn: point.node };
  });

  afterAll(async () => {
    await source?.instance.stop('immediate');
    await root?.cleanup();
  });

  async function nodeSource(backup: 'plain' | 'lz4', extra: Partial<Parameters<typeof openFolderRestoreSource>[0]> = {}): Promise<NodeRestoreSource> {
    return openFolderRestoreSource({ nodeId: 'n1', backupDir: source.backups[backup], walDir: source.walDir, serverConfig: source.config, targetLsn: source.nodeLsn, ...extra });
  }

  function request(restoreSource: NodeRestoreSource, baseDir: string, overrides: Partial<ClusterRestoreRequest> = {}): ClusterRestoreRequest {
    return {
      point: { name: 'p1', coordinatorLsn: source.pointLsn, nodeLsns: { n1: source.nodeLsn } },
      nodes: [{ source: restoreSource, spec: { nodeId: 'n1', baseDir, port: 0, tablespaces: {} }, role: 'coordinator', distNodeId: null }],
      provisioner: new LocalProvisioner(),
      ...overrides,
    };
  }

  it('restores exactly the rows before the point, without ever connecting to the source', async () => {
    const baseDir = join(root.path, 'restore-plain', 'n1');
    const phases = new Set<string>();
    const since = new Date();
    const result = await restoreCluster(request(await nodeSource('plain'), baseDir, { onProgress: (p: NodeRestoreProgress) => phases.add(p.phase) }));
    const until = new Date();
    try {
      expect(result.nodes[0]?.pausedAtLsn).toBe(source.pointLsn);
      const [items] = await restoredQuery<{ n: number; max: number; pitr: boolean }>(result, `SELECT count(*)::int AS n, max(id) AS max, pg_is_in_recovery() AS pitr FROM items`);
      expect(items).toEqual({ n: 150, max: 150, pitr: false });
      const [ts] = await restoredQuery<{ n: number; max: number; location: string }>(
        result,
        `SELECT count(*)::int AS n, max(id) AS max, pg_tablespace_location((SELECT oid FROM pg_tablespace WHERE spcname = 'ts1')) AS location FROM ts_items`,
      );
      expect(ts?.n).toBe(150);
      expect(ts?.max).toBe(150);
      expect(ts?.location.startsWith(join(baseDir, 'tablespaces'))).toBe(true);
      // the transaction prepared at the point is still prepared (max_prepared_transactions carried)
      expect(await restoredQuery(result, `SELECT gid FROM pg_prepared_xacts`)).toEqual([{ gid: 'tx_at_point' }]);
      const [settings] = await restoredQuery<{ archive_mode: string; cluster_name: string; spl: string }>(
        result,
        `SELECT current_setting('archive_mode') AS archive_mode, current_setting('cluster_name') AS cluster_name, (SELECT source FROM pg_settings WHERE name = 'archive_command') AS spl`,
      );
      // the source's archive_command is not set at all: the restored node cannot write into the source's archive
      expect(settings).toEqual({ archive_mode: 'off', cluster_name: 'restored-src', spl: 'default' });

      expect([...phases]).toEqual(expect.arrayContaining(['extracting', 'replaying', 'paused', 'promoting', 'restarting', 'ready']));
      expect(existsSync(join(baseDir, 'wal-spool'))).toBe(false);
      const hba = await readFile(join(baseDir, 'data', 'pg_hba.conf'), 'utf8');
      expect(hba).toContain('host all all 127.0.0.1/32 scram-sha-256');
      expect(existsSync(join(baseDir, 'data', 'pg_hba.conf.source'))).toBe(true);
      expect(result.checklist.map((c) => c.id)).toEqual(expect.arrayContaining(['redirect-clients', 'access-rules', 'logins', 'monitoring']));
      expect(result.connectionString).toBe(`postgresql://postgres@127.0.0.1:${result.nodes[0]?.port}/postgres`);

      // Isolation: every connection the source logged during the restore was this test's own.
      const connections = parseConnectionLog(await readFile(source.instance.logFile, 'utf8'), { since, until });
      expect(connections.filter((c) => c.applicationName !== testApplicationName)).toEqual([]);
      // and the restored node (now on timeline 2) never archived into the source's archive
      expect((await readdir(source.walDir)).filter((f) => f.startsWith('00000002'))).toEqual([]);
    } finally {
      await removeRestored(result, [baseDir]);
    }
  });

  it('restores the same point twice, side by side, from the server-lz4 backup', async () => {
    const dirs = [join(root.path, 'side-a', 'n1'), join(root.path, 'side-b', 'n1')];
    const results = await Promise.all(dirs.map(async (dir) => restoreCluster(request(await nodeSource('lz4'), dir))));
    try {
      expect(results[0]?.nodes[0]?.port).not.toBe(results[1]?.nodes[0]?.port);
      for (const result of results) {
        const [items] = await restoredQuery<{ n: number; max: number }>(result, 'SELECT count(*)::int AS n, max(id) AS max FROM items');
        expect(items).toEqual({ n: 150, max: 150 });
      }
    } finally {
      for (const [i, result] of results.entries()) await removeRestored(result, [dirs[i] as string]);
    }
  });

  it('fails loudly with target_unreachable when the point is not in the WAL, and leaves nothing behind', async () => {
    const baseDir = join(root.path, 'restore-unreachable', 'n1');
    const error = await restoreCluster({ ...request(await nodeSource('plain'), baseDir), point: { name: 'never-created', coordinatorLsn: null, nodeLsns: { n1: source.nodeLsn } } }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TidemarkError);
    expect((error as TidemarkError).code).toBe('target_unreachable');
    expect((error as TidemarkError).message).toContain('never-created');
    expect((error as TidemarkError).message).toContain('node n1');
    expect((error as TidemarkError).message).toMatch(/Last replayed LSN: [0-9A-F]+\/[0-9A-F]+/);
    expect(existsSync(baseDir)).toBe(false);
    expect(await postgresProcessesFor(baseDir)).toEqual([]);
  });

  it('keeps the failed node, stopped, when asked to (for inspection)', async () => {
    const baseDir = join(root.path, 'restore-kept', 'n1');
    const error = await restoreCluster({
      ...request(await nodeSource('plain'), baseDir, { options: { keepFailedNodes: true } }),
      point: { name: 'never-created', coordinatorLsn: null, nodeLsns: { n1: source.nodeLsn } },
    }).catch((e: unknown) => e);
    try {
      expect((error as TidemarkError).code).toBe('target_unreachable');
      expect((error as TidemarkError).message).toContain(`kept (stopped) for inspection: n1: ${baseDir}`);
      expect(await readFile(join(baseDir, 'server.log'), 'utf8')).toContain('recovery ended before configured recovery target was reached');
      expect(await postgresProcessesFor(baseDir)).toEqual([]);
    } finally {
      await rm(baseDir, { recursive: true, force: true });
    }
  });

  it('fails loudly with target_unreachable when a planned WAL file is missing, and leaves nothing behind', async () => {
    const baseDir = join(root.path, 'restore-missing-wal', 'n1');
    const full = await nodeSource('plain');
    const removed = full.walFiles[full.walFiles.length - 1] as string;
    const gappy: NodeRestoreSource = { ...full, openWal: async (name, signal) => (name === removed ? null : full.openWal(name, signal)) };
    const error = await restoreCluster(request(gappy, baseDir)).catch((e: unknown) => e);
    expect((error as TidemarkError).code).toBe('target_unreachable');
    expect((error as TidemarkError).message).toContain(removed);
    expect(existsSync(baseDir)).toBe(false);
    expect(await postgresProcessesFor(baseDir)).toEqual([]);
  });

  it('fails loudly, naming the parameter, when replay refuses a setting lower than on the source', async () => {
    const baseDir = join(root.path, 'restore-low-parameter', 'n1');
    // a capture that missed max_prepared_transactions: the restored node would get the default 0
    const parameters = Object.fromEntries(Object.entries(source.config.parameters).filter(([name]) => name !== 'max_prepared_transactions'));
    const lowered = await nodeSource('plain', { serverConfig: { ...source.config, parameters } });
    const error = await restoreCluster(request(lowered, baseDir)).catch((e: unknown) => e);
    expect((error as TidemarkError).code).toBe('preflight_failed');
    expect((error as TidemarkError).message).toContain('max_prepared_transactions = 0');
    expect((error as TidemarkError).message).toContain('node n1');
    expect(existsSync(baseDir)).toBe(false);
  });

  it('cancels mid-restore and leaves nothing behind', async () => {
    const baseDir = join(root.path, 'restore-cancelled', 'n1');
    const controller = new AbortController();
    const error = await restoreCluster(
      request(await nodeSource('lz4'), baseDir, {
        signal: controller.signal,
        onProgress: (p) => {
          if (p.phase === 'replaying') controller.abort();
        },
      }),
    ).catch((e: unknown) => e);
    expect((error as TidemarkError).code).toBe('cancelled');
    expect(existsSync(baseDir)).toBe(false);
    expect(await postgresProcessesFor(baseDir)).toEqual([]);
  });

  it('refuses before creating anything when the target folder is not empty', async () => {
    const baseDir = join(root.path, 'source');
    const error = await restoreCluster(request(await nodeSource('plain'), baseDir)).catch((e: unknown) => e);
    expect((error as TidemarkError).code).toBe('preflight_failed');
    expect((error as TidemarkError).message).toContain('is not empty');
    expect(await source.instance.query('SELECT 1 AS ok')).toEqual([{ ok: 1 }]);
  });
});
