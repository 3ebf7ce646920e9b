/**
 * The baseline a DBA would run with PostgreSQL's own tools: extract the `pg_basebackup -Ft` tar,
 * `restore_command = 'cp <archive>/%f %p'` from the plain WAL archive, `recovery_target_name`,
 * promote at the target, and wait until the server answers out of recovery.
 */
import { appendFile, chown, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { postgresWritableDir } from '../../test/support/folder-restore-source.js';
import { freePort } from '../../test/support/free-port.js';
import { runPg } from '../../test/support/postgres.js';
import { mustRun } from './bench-kit.js';

export interface PublicToolsRestoreInput {
  /** the `base.tar` pg_basebackup wrote (readable by the postgres OS user) */
  baseTar: string;
  /** the folder archive_command copied the node's WAL into */
  walArchiveDir: string;
  pointName: string;
  /** the node's folder (created): data/, server.log, the socket */
  dir: string;
  /** performance.now() of the shared start (a cluster's nodes start together) */
  startedAt: number;
  /** give up after this long */
  timeoutMs?: number;
}

export interface PublicToolsRestoreResult {
  dataDir: string;
  socketDir: string;
  port: number;
  logFile: string;
  /** ms from the start: the tar is extracted, the server is started, it answers out of recovery */
  extractedMs: number;
  startedMs: number;
  promotedMs: number;
}

/** The DBA's commands run as the server's OS user (as root: postgres). */
function asServerUser(command: string, args: string[]): [string, string[]] {
  return process.getuid?.() === 0 ? ['runuser', ['-u', 'postgres', '--', command, ...args]] : [command, args];
}

export async function restoreWithPublicTools(input: PublicToolsRestoreInput): Promise<PublicToolsRestoreResult> {
  const dataDir = join(input.dir, 'data');
  const logFile = join(input.dir, 'server.log');
  await postgresWritableDir(input.dir);
  await postgresWritableDir(dataDir);
  await mustRun(...asServerUser('tar', ['-xf', input.baseTar, '-C', dataDir]));
  const extractedMs = performance.now() - input.startedAt;

  const port = await freePort();
  await appendFile(
    join(dataDir, 'postgresql.auto.conf'),
    [
      // its own port and socket, no TCP, no archiving into the source's archive
      `port = ${port}`,
      `listen_addresses = ''`,
      `unix_socket_directories = '${input.dir}'`,
      `archive_mode = off`,
      `restore_command = 'cp ${input.walArchiveDir}/%f %p'`,
      `recovery_target_name = '${input.pointName}'`,
      `recovery_target_action = 'promote'`,
      '',
    ].join('\n'),
  );
  await writeFile(join(dataDir, 'recovery.signal'), '');
  if (process.getuid?.() === 0) {
    const [uid, gid] = await Promise.all([mustRun('id', ['-u', 'postgres']), mustRun('id', ['-g', 'postgres'])]);
    for (const file of ['recovery.signal', 'postgresql.auto.conf']) await chown(join(dataDir, file), Number(uid), Number(gid));
  }
  await runPg('pg_ctl', ['-D', dataDir, '-l', logFile, '-W', 'start']);
  const startedMs = performance.now() - input.startedAt;

  const deadline = performance.now() + (input.timeoutMs ?? 600_000);
  for (;;) {
    const client = new pg.Client({ host: input.dir, port, user: 'postgres', database: 'postgres' });
    try {
      await client.connect();
      const { rows } = await client.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r');
      if (rows[0]?.r === false) break;
    } catch {
      // starting up, or still replaying without hot standby connections
    } finally {
      await client.end().catch(() => undefined);
    }
    if (performance.now() > deadline) throw new Error(`the baseline restore in ${input.dir} was not promoted in time; see ${logFile}`);
    await sleep(50);
  }
  return { dataDir, socketDir: input.dir, port, logFile, extractedMs, startedMs, promotedMs: performance.now() - input.startedAt };
}
