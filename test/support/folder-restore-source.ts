import { execFile } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { chmod, chown, mkdir, readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import pg from 'pg';
import type { ServerConfig } from '../../main/engine/catalog/records.js';
import type { CompressionKind } from '../../main/engine/compression/decompressor.js';
import { hotStandbyCriticalParameters } from '../../main/engine/catalog/records.js';
import type { NodeRestoreSource, RestoreArchive } from '../../main/engine/restore/restore-source.js';
import { parseLsn, segmentNumberOf, walSegmentFileName, walSegmentFileNameForLsn } from '../../main/engine/replication/lsn.js';
import { pgBinDir, type PgInstance } from './postgres.js';

const exec = promisify(execFile);

/**
 * A NodeRestoreSource over plain folders: the output of a real `pg_basebackup -Ft` and a WAL
 * archive filled by `archive_command = 'cp %p <dir>/%f'`. The repository-backed source does the
 * same from encrypted zones.
 */
export interface FolderRestoreSourceOptions {
  nodeId: string;
  backupDir: string;
  walDir: string;
  serverConfig: ServerConfig;
  /** the node's LSN at or after the restore point: WAL is planned up to its segment */
  targetLsn: string;
  walSegmentSize?: number;
  /** extra WAL files to plan (e.g. a segment the archive lacks) */
  extraWalFiles?: string[];
}

const archivePattern = /^(base|\d+)\.tar(\.lz4|\.zst|\.gz)?$/;
const compressionBySuffix: Record<string, CompressionKind> = { '': 'none', '.lz4': 'lz4', '.zst': 'zstd', '.gz': 'gzip' };

export async function openFolderRestoreSource(options: FolderRestoreSourceOptions): Promise<NodeRestoreSource> {
  const segmentSize = options.walSegmentSize ?? 16 * 1024 * 1024;
  const manifest = JSON.parse(await readFile(join(options.backupDir, 'backup_manifest'), 'utf8')) as {
    'WAL-Ranges': { Timeline: number; 'Start-LSN': string }[];
    Files: { Size: number }[];
  };
  const range = manifest['WAL-Ranges'][0];
  if (!range) throw new Error('backup_manifest has no WAL range');
  const archives: RestoreArchive[] = [];
  for (const name of (await readdir(options.backupDir)).sort()) {
    const match = archivePattern.exec(name);
    if (!match) continue;
    const oid = match[1] === 'base' ? null : Number(match[1]);
    archives.push({ name, tablespaceOid: oid, tablespacePath: null, compression: compressionBySuffix[match[2] ?? ''] ?? 'none', bytes: (await stat(join(options.backupDir, name))).size });
  }
  const walFiles = [...walSegmentsBetween(range['Start-LSN'], options.targetLsn, range.Timeline, segmentSize), ...(options.extraWalFiles ?? [])];
  return {
    nodeId: options.nodeId,
    serverConfig: options.serverConfig,
    walSegmentSize: segmentSize,
    backupStartLsn: range['Start-LSN'],
    dataBytes: manifest.Files.reduce((sum, f) => sum + f.Size, 0),
    archives,
    walFiles,
    async openArchive(name: string): Promise<Readable> {
      if (!archives.some((a) => a.name === name)) throw new Error(`no archive ${name}`);
      return createReadStream(join(options.backupDir, name), { highWaterMark: 1024 * 1024 });
    },
    async openWal(fileName: string): Promise<Readable | null> {
      const path = join(options.walDir, fileName);
      if (await exists(path)) return createReadStream(path, { highWaterMark: 1024 * 1024 });
      const partial = `${path}.partial`;
      if (/^[0-9A-F]{24}$/.test(fileName) && (await exists(partial))) {
        const bytes = await readFile(partial);
        const padded = Buffer.alloc(segmentSize);
        bytes.copy(padded);
        return Readable.from([padded]);
      }
      return null;
    },
  };
}

/** Segment names from the one holding `fromLsn` to the one holding `toLsn`, on one timeline. */
export function walSegmentsBetween(fromLsn: string, toLsn: string, timeline: number, segmentSize: number): string[] {
  const first = segmentNumberOf(parseLsn(fromLsn), segmentSize);
  const last = segmentNumberOf(parseLsn(toLsn), segmentSize);
  const names: string[] = [];
  for (let n = first; n <= last; n++) names.push(walSegmentFileName(timeline, n, segmentSize));
  return names;
}

/** What the backup engine captures with a base backup, read from a live test instance. */
export async function captureServerConfig(instance: PgInstance): Promise<ServerConfig> {
  const client = new pg.Client({ ...instance.connectionConfig(), application_name: testApplicationName });
  await client.connect();
  try {
    const settings = await client.query<{ name: string; setting: string; source: string }>(
      `SELECT name, setting, source FROM pg_settings WHERE source <> 'default' OR name = ANY($1)`,
      [[...hotStandbyCriticalParameters]],
    );
    const info = (
      await client.query<{ version: string; num: string; sysid: string; checksums: string; su: string; spl: string }>(
        `SELECT current_setting('server_version') AS version, current_setting('server_version_num') AS num,
                (SELECT system_identifier::text FROM pg_control_system()) AS sysid, current_setting('data_checksums') AS checksums,
                (SELECT rolname FROM pg_authid WHERE oid = 10) AS su, current_setting('shared_preload_libraries') AS spl`,
      )
    ).rows[0];
    if (!info) throw new Error('no server info');
    const extensions = await client.query<{ name: string; version: string }>('SELECT extname AS name, extversion AS version FROM pg_extension');
    return {
      serverVersion: info.version,
      serverVersionNum: Number(info.num),
      systemIdentifier: info.sysid,
      parameters: Object.fromEntries(settings.rows.map((r) => [r.name, { value: r.setting, source: r.source }])),
      extensions: extensions.rows.map((e) => ({ database: 'postgres', name: e.name, version: e.version })),
      sharedPreloadLibraries: info.spl.split(',').map((s) => s.trim()).filter((s) => s !== ''),
      dataChecksums: info.checksums === 'on',
      bootstrapSuperuser: info.su,
    };
  } finally {
    await client.end();
  }
}

/** Test connections name themselves so the source's connection log can tell them apart. */
export const testApplicationName = 'tidemark-test';

/** Runs SQL on a source instance as the test (identifiable in its connection log). */
export async function sourceQuery<T extends pg.QueryResultRow>(instance: PgInstance, text: string, values?: unknown[], database = 'postgres'): Promise<T[]> {
  const client = new pg.Client({ ...instance.connectionConfig(database), application_name: testApplicationName });
  await client.connect();
  try {
    return (await client.query<T>(text, values)).rows;
  } finally {
    await client.end();
  }
}

/** A folder the postgres OS user can write (archive_command target, tablespace location). */
export async function postgresWritableDir(path: string): Promise<string> {
  await mkdir(path, { recursive: true });
  await chmod(path, 0o700);
  if (process.getuid?.() === 0) {
    const { stdout: uid } = await exec('id', ['-u', 'postgres']);
    const { stdout: gid } = await exec('id', ['-g', 'postgres']);
    await chown(path, Number(uid.trim()), Number(gid.trim()));
  }
  return path;
}

/** `pg_basebackup -Ft -X none` into `dir` (a tar per tablespace plus the manifest). */
export async function takeBaseBackup(instance: PgInstance, dir: string, compression: 'none' | 'server-lz4' = 'none'): Promise<void> {
  const args = ['-h', instance.host, '-p', String(instance.port), '-U', instance.user, '-D', dir, '-Ft', '-X', 'none', '-c', 'fast', '--no-sync', '-l', 'tidemark-test'];
  if (compression !== 'none') args.push(`--compress=${compression}`);
  await exec(join(pgBinDir(), 'pg_basebackup'), args, { env: { ...process.env, PGPASSWORD: instance.password, PGAPPNAME: testApplicationName }, timeout: 300_000 });
}

/** Switches WAL and waits until the archiver has copied the segment holding `lsn`. */
export async function waitArchived(instance: PgInstance, lsn: string, segmentSize = 16 * 1024 * 1024, timeline = 1): Promise<void> {
  await sourceQuery(instance, 'SELECT pg_switch_wal()');
  const name = walSegmentFileNameForLsn(timeline, parseLsn(lsn), segmentSize);
  for (let i = 0; i < 600; i++) {
    // the archiver reports a segment only once archive_command (cp) has finished with it
    const [row] = await sourceQuery<{ last: string | null }>(instance, 'SELECT last_archived_wal AS last FROM pg_stat_archiver');
    if (row?.last && row.last >= name) return;
    await sleep(100);
  }
  throw new Error(`segment ${name} was not archived`);
}

/** Command lines of running postgres processes that mention `path` (a restored node's folder). */
export async function postgresProcessesFor(path: string): Promise<string[]> {
  const { stdout } = await exec('ps', ['-eo', 'args']);
  return stdout.split('\n').filter((line) => line.includes(path) && /postgres/.test(line));
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}
