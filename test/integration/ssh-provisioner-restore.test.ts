import { existsSync } from 'node:fs';
import { chown, mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ServerConfig } from '../../main/engine/catalog/records.js';
import { TidemarkError } from '../../main/engine/errors.js';
import { restoreCluster } from '../../main/engine/restore/cluster-recovery.js';
import type {
  ClusterRestoreRequest,
  ClusterRestoreResult,
} from '../../main/engine/restore/cluster-recovery.js';
import type { NodeRestoreSource } from '../../main/engine/restore/restore-source.js';
import { SshProvisioner } from '../../main/engine/restore/ssh-provisioner.js';
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
import { sshdAvailable, startSshd } from '../support/sshd.js';
import type { TestSshd } from '../support/sshd.js';
import { tempDir } from '../support/temp-dir.js';

/**
 * The whole restore (plan → extract → spool → pause at the point → promote → final settings →
 * restart) driven through the SSH provisioner: the orchestrator never touches the target's
 * files itself, so this shows the provisioner is a complete one.
 */
describe.skipIf(!postgresAvailable() || !sshdAvailable())(
  'point-in-time restore through the SSH provisioner',
  () => {
    let root: { path: string; cleanup: () => Promise<void> };
    let sshd: TestSshd;
    let instance: PgInstance;
    let remote: string;
    let walDir: string;
    let backupDir: string;
    let config: ServerConfig;
    let pointLsn: string;
    let nodeLsn: string;
    const provisioners: SshProvisioner[] = [];

    beforeAll(async () => {
      root = await tempDir('tidemark-ssh-restore-');
      await mkdir(join(root.path, 'sshd'), { mode: 0o777 });
      sshd = await startSshd(join(root.path, 'sshd'));
      remote = await postgresWritableDir(join(root.path, 'remote'));
      if (sshd.user !== 'postgres')
        await chown(remote, process.getuid?.() ?? 0, process.getgid?.() ?? 0);
      walDir = await postgresWritableDir(join(root.path, 'wal-archive'));
      const tsDir = await postgresWritableDir(join(root.path, 'source-ts1'));
      instance = await PgInstance.create({
        dir: join(root.path, 'source'),
        conf: {
          archive_mode: 'on',
          archive_command: `'cp %p ${walDir}/%f'`,
          log_connections: 'on',
          log_line_prefix: `'%m [%p] '`,
          log_timezone: `'UTC'`,
          max_prepared_transactions: 5,
        },
      });
      await sourceQuery(instance, `CREATE TABLESPACE ts1 LOCATION '${tsDir}'`);
      await sourceQuery(
        instance,
        'CREATE TABLE items (id int PRIMARY KEY, note text); CREATE TABLE ts_items (id int) TABLESPACE ts1',
      );
      await sourceQuery(
        instance,
        `INSERT INTO items SELECT g, 'before backup' FROM generate_series(1, 50) g; INSERT INTO ts_items SELECT generate_series(1, 50)`,
      );
      config = await captureServerConfig(instance);
      backupDir = join(root.path, 'backup');
      await takeBaseBackup(instance, backupDir);
      await sourceQuery(
        instance,
        `INSERT INTO items SELECT g, 'before point' FROM generate_series(51, 150) g; INSERT INTO ts_items SELECT generate_series(51, 150)`,
      );
      const [created] = await sourceQuery<{ point: string }>(
        instance,
        `SELECT pg_create_restore_point('p1')::text AS point`,
      );
      const [after] = await sourceQuery<{ node: string }>(
        instance,
        `SELECT pg_current_wal_insert_lsn()::text AS node`,
      );
      if (!created || !after) throw new Error('no restore point');
      pointLsn = created.point;
      nodeLsn = after.node;
      await sourceQuery(
        instance,
        `INSERT INTO items SELECT g, 'after point' FROM generate_series(151, 250) g; INSERT INTO ts_items SELECT generate_series(151, 250)`,
      );
      await waitArchived(instance, nodeLsn);
    });

    afterAll(async () => {
      await Promise.all(provisioners.map((p) => p.close()));
      await instance?.stop('immediate');
      await sshd?.stop();
      await root?.cleanup();
    });

    function provisioner(): SshProvisioner {
      const p = new SshProvisioner({
        hosts: [
          {
            host: '127.0.0.1',
            port: sshd.port,
            user: sshd.user,
            auth: { privateKeyPath: sshd.privateKeyPath },
            hostKey: { sha256: sshd.hostKeyFingerprint },
            baseDir: remote,
            nodes: ['n1'],
          },
        ],
      });
      provisioners.push(p);
      return p;
    }

    async function request(baseDir: string, pointName = 'p1'): Promise<ClusterRestoreRequest> {
      const source: NodeRestoreSource = await openFolderRestoreSource({
        nodeId: 'n1',
        backupDir,
        walDir,
        serverConfig: config,
        targetLsn: nodeLsn,
      });
      return {
        point: { name: pointName, coordinatorLsn: pointLsn, nodeLsns: { n1: nodeLsn } },
        nodes: [
          {
            source,
            spec: { nodeId: 'n1', baseDir: join(remote, baseDir), port: 0, tablespaces: {} },
            role: 'coordinator',
            distNodeId: null,
          },
        ],
        provisioner: provisioner(),
      };
    }

    async function restoredQuery<T extends pg.QueryResultRow>(
      result: ClusterRestoreResult,
      text: string,
    ): Promise<T[]> {
      const node = result.nodes[0];
      if (!node) throw new Error('no node');
      const client = new pg.Client({
        host: node.host,
        port: node.port,
        user: 'postgres',
        password: testPassword,
        database: 'postgres',
      });
      await client.connect();
      try {
        return (await client.query<T>(text)).rows;
      } finally {
        await client.end();
      }
    }

    it('restores exactly the rows before the point onto the SSH host, without touching the source', async () => {
      const since = new Date();
      const phases = new Set<string>();
      const req = await request('n1');
      const result = await restoreCluster({ ...req, onProgress: (p) => phases.add(p.phase) });
      const until = new Date();
      const base = join(remote, 'n1');
      try {
        expect(result.nodes[0]).toMatchObject({
          host: '127.0.0.1',
          dataDir: join(base, 'data'),
          socketDir: base,
          pausedAtLsn: pointLsn,
        });
        const [items] = await restoredQuery<{ n: number; max: number; pitr: boolean }>(
          result,
          'SELECT count(*)::int AS n, max(id) AS max, pg_is_in_recovery() AS pitr FROM items',
        );
        expect(items).toEqual({ n: 150, max: 150, pitr: false });
        const [ts] = await restoredQuery<{ n: number; location: string }>(
          result,
          `SELECT count(*)::int AS n, pg_tablespace_location((SELECT oid FROM pg_tablespace WHERE spcname = 'ts1')) AS location FROM ts_items`,
        );
        expect(ts?.n).toBe(150);
        expect(ts?.location.startsWith(join(base, 'tablespaces'))).toBe(true);
        expect([...phases]).toEqual(
          expect.arrayContaining([
            'extracting',
            'replaying',
            'paused',
            'promoting',
            'restarting',
            'ready',
          ]),
        );
        expect(existsSync(join(base, 'wal-spool'))).toBe(false);
        const connections = parseConnectionLog(await readFile(instance.logFile, 'utf8'), {
          since,
          until,
        });
        expect(connections.filter((c) => c.applicationName !== testApplicationName)).toEqual([]);
      } finally {
        await runPg('pg_ctl', ['-D', join(base, 'data'), '-m', 'immediate', '-w', 'stop']).catch(
          () => undefined,
        );
      }
    });

    it('fails loudly when the point is not in the WAL, and leaves nothing on the host', async () => {
      const error = await restoreCluster(await request('unreachable', 'never-created')).catch(
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(TidemarkError);
      expect((error as TidemarkError).code).toBe('target_unreachable');
      expect((error as TidemarkError).message).toContain('never-created');
      expect(existsSync(join(remote, 'unreachable'))).toBe(false);
      expect(await postgresProcessesFor(join(remote, 'unreachable'))).toEqual([]);
      expect(await readdir(remote)).not.toContain('unreachable');
    });
  },
);
