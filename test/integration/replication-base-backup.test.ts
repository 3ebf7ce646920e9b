import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { appendFile, mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TidemarkError } from '../../main/engine/errors.js';
import { runBaseBackup, type BaseBackupSink } from '../../main/engine/replication/base-backup.js';
import { formatLsn, parseLsn, segmentStartOf } from '../../main/engine/replication/lsn.js';
import { ReplicationConnection } from '../../main/engine/replication/replication-connection.js';
import { startWalStream } from '../../main/engine/replication/wal-receiver.js';
import { PgInstance, postgresAvailable, runPg } from '../support/postgres.js';
import { directorySink, WalDirectoryWriter } from '../support/replication-sinks.js';
import { extractTarForPostgres } from '../support/tar-extract.js';
import { tempDir } from '../support/temp-dir.js';

const exec = promisify(execFile);

function open(pg: PgInstance, applicationName = 'tidemark-test'): Promise<ReplicationConnection> {
  return ReplicationConnection.open({
    host: pg.host,
    port: pg.port,
    user: pg.user,
    password: pg.password,
    ssl: { mode: 'disable' },
    applicationName,
    connectTimeoutMs: 10_000,
  });
}

/**
 * The uncompressed backup written into `out` holds every byte received, and its data directory
 * passes pg_verifybackup against its manifest.
 */
async function expectEveryByteVerified(out: string, bytesReceived: number): Promise<void> {
  expect(
    (await stat(join(out, 'base.tar'))).size + (await stat(join(out, 'backup_manifest'))).size,
  ).toBe(bytesReceived);
  const data = join(out, 'data');
  await extractTarForPostgres(join(out, 'base.tar'), data);
  expect(
    await runPg('pg_verifybackup', ['-n', '-m', join(out, 'backup_manifest'), data]),
  ).toContain('backup successfully verified');
}

describe.skipIf(!postgresAvailable())('BASE_BACKUP through the native replication client', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  let pg: PgInstance;

  beforeAll(async () => {
    dir = await tempDir('tidemark-basebackup-');
    pg = await PgInstance.create({ dir: join(dir.path, 'primary') });
    await pg.pgbench(['-i', '-s', '1', '-q']);
    await pg.query('CREATE TABLE marker (id int PRIMARY KEY, note text)');
  });

  afterAll(async () => {
    await pg?.stop();
    await dir?.cleanup();
  });

  it('takes an lz4 backup whose archive decompresses and verifies against its manifest', async () => {
    const out = join(dir.path, 'lz4');
    await mkdir(out);
    const conn = await open(pg);
    const sink = directorySink(out);
    const result = await runBaseBackup(
      conn,
      { label: 'lz4 test', compression: 'lz4' },
      sink,
    ).finally(() => conn.close());

    expect(sink.events).toEqual(['onStart', 'archive:base.tar.lz4', 'manifest', 'onEnd']);
    expect(result.archives).toEqual([
      { name: 'base.tar.lz4', tablespaceOid: null, tablespacePath: null },
    ]);
    expect(result.endLsn).toBeGreaterThan(result.startLsn);
    expect(result.timeline).toBe(1);
    expect(sink.start?.tablespaces).toHaveLength(1);
    expect(sink.writables.every((w) => w.writableFinished)).toBe(true);
    const compressed = (await stat(join(out, 'base.tar.lz4'))).size;
    expect(result.bytesReceived).toBe(compressed + (await stat(join(out, 'backup_manifest'))).size);
    // lz4 frame magic
    expect((await readFile(join(out, 'base.tar.lz4'))).readUInt32LE(0)).toBe(0x184d2204);

    const data = join(out, 'data');
    await extractTarForPostgres(join(out, 'base.tar.lz4'), data, 'lz4');
    const uncompressed = (
      await exec('lz4', ['-d', '-c', join(out, 'base.tar.lz4')], {
        encoding: 'buffer',
        maxBuffer: 512 * 1024 * 1024,
      })
    ).stdout.length;
    expect(compressed).toBeLessThan(uncompressed / 2);
    const label = await readFile(join(data, 'backup_label'), 'utf8');
    expect(label).toContain(`START WAL LOCATION: ${formatLsn(result.startLsn)}`);
    expect(label).toContain('LABEL: lz4 test');
    const manifest = JSON.parse(await readFile(join(out, 'backup_manifest'), 'utf8')) as {
      'WAL-Ranges': { 'Start-LSN': string; 'End-LSN': string }[];
    };
    expect(manifest['WAL-Ranges'][0]).toMatchObject({
      'Start-LSN': formatLsn(result.startLsn),
      'End-LSN': formatLsn(result.endLsn),
    });
    // every file's SHA-256 in the manifest matches the extracted tree (WAL is checked in the next test)
    const verified = await runPg('pg_verifybackup', [
      '-n',
      '-m',
      join(out, 'backup_manifest'),
      data,
    ]);
    expect(verified).toContain('backup successfully verified');
  });

  it('restores an uncompressed backup plus streamed WAL into a server with the same data', async () => {
    const out = join(dir.path, 'plain');
    const walDir = join(dir.path, 'plain-wal');
    await mkdir(out);
    await mkdir(walDir);
    const walConn = await open(pg, 'tidemark-wal');
    const backupConn = await open(pg, 'tidemark-backup');
    const segmentSize = await walConn.walSegmentSize();
    await walConn.createPhysicalSlot('restore_test', { reserveWal: true });
    const slot = await walConn.readSlot('restore_test');
    const identity = await walConn.identifySystem();
    const startLsn = segmentStartOf(slot?.restartLsn ?? 0n, segmentSize);

    // the WAL stream runs before and during the backup, as Tidemark does
    const writer = new WalDirectoryWriter(walDir, segmentSize, identity.timeline, startLsn);
    const stop = new AbortController();
    const streaming = startWalStream(walConn, {
      slot: 'restore_test',
      startLsn,
      timeline: identity.timeline,
      statusIntervalMs: 200,
      onData: writer.onData,
      getFlushedLsn: () => writer.flushedLsn,
      signal: stop.signal,
    });
    streaming.catch(() => undefined);

    const sink = directorySink(out);
    const result = await runBaseBackup(backupConn, { label: 'restore test' }, sink);
    await backupConn.close();
    expect(sink.events).toEqual(['onStart', 'archive:base.tar', 'manifest', 'onEnd']);

    // rows written after the backup must come back through the WAL
    await pg.query(
      "INSERT INTO marker SELECT g, 'after backup ' || g FROM generate_series(1, 500) g",
    );
    const [switched] = await pg.query<{ lsn: string }>('SELECT pg_switch_wal()::text AS lsn');
    const target = parseLsn(switched?.lsn ?? '0/0');
    await waitFor(() => writer.flushedLsn > target, 20_000, 'streamed WAL to pass the switch');
    expect(writer.flushedLsn).toBeGreaterThan(result.endLsn);
    // the slot follows what was reported as flushed
    await waitFor(
      async () => {
        const [row] = await pg.query<{ restart_lsn: string }>(
          "SELECT restart_lsn::text FROM pg_replication_slots WHERE slot_name = 'restore_test'",
        );
        return parseLsn(row?.restart_lsn ?? '0/0') >= writer.flushedLsn - BigInt(segmentSize);
      },
      10_000,
      'the slot to follow the flushed position',
    );
    stop.abort();
    await expect(streaming).rejects.toMatchObject({ code: 'cancelled' });
    await writer.close();

    const restored = join(dir.path, 'restored');
    const data = join(restored, 'data');
    await extractTarForPostgres(join(out, 'base.tar'), data);
    expect(existsSync(join(data, 'backup_label'))).toBe(true);
    // TABLESPACE_MAP: the map is there, empty without tablespaces
    expect(await readFile(join(data, 'tablespace_map'), 'utf8')).toBe('');
    const verified = await runPg('pg_verifybackup', [
      '-m',
      join(out, 'backup_manifest'),
      '-w',
      walDir,
      data,
    ]);
    expect(verified).toContain('backup successfully verified');

    // a damaged file is caught: the verification above can fail
    const accounts = await pg.query<{ path: string }>(
      "SELECT pg_relation_filepath('pgbench_accounts') AS path",
    );
    const damaged = join(dir.path, 'damaged');
    await extractTarForPostgres(join(out, 'base.tar'), damaged);
    const victim = join(damaged, accounts[0]?.path ?? 'missing');
    const bytes = await readFile(victim);
    bytes[8192 + 100] = (bytes[8192 + 100] ?? 0) ^ 0xff;
    await writeFile(victim, bytes);
    await expect(
      runPg('pg_verifybackup', ['-n', '-m', join(out, 'backup_manifest'), damaged]),
    ).rejects.toThrow(/checksum mismatch/);

    await writeFile(join(data, 'recovery.signal'), '');
    await appendFile(
      join(data, 'postgresql.auto.conf'),
      `restore_command = 'cp ${walDir}/%f %p'\nrecovery_target_action = 'promote'\n`,
    );
    await exec('chown', ['-R', 'postgres:postgres', restored]).catch(() => undefined);
    const copy = await PgInstance.adopt(restored, data);
    try {
      await copy.start();
      await waitFor(
        async () =>
          (await copy.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r'))[0]?.r === false,
        30_000,
        'the restored server to promote',
      );
      const [markers] = await copy.query<{ n: string }>('SELECT count(*) AS n FROM marker');
      expect(markers?.n).toBe('500');
      const [accountsCount] = await copy.query<{ n: string; total: string }>(
        'SELECT count(*) AS n, sum(abalance)::text AS total FROM pgbench_accounts',
      );
      const [original] = await pg.query<{ n: string; total: string }>(
        'SELECT count(*) AS n, sum(abalance)::text AS total FROM pgbench_accounts',
      );
      expect(accountsCount).toEqual(original);
    } finally {
      await copy.stop('immediate');
    }
    const cleanup = await open(pg);
    await cleanup.dropSlot('restore_test', { wait: true });
    await cleanup.close();
  });

  it('fails with connection_failed when the node stops mid-backup, destroying every Writable', async () => {
    const out = join(dir.path, 'stopped');
    await mkdir(out);
    const conn = await open(pg);
    const sink = directorySink(out);
    let stopping: Promise<void> | undefined;
    const originalOpen = sink.openArchive.bind(sink);
    sink.openArchive = (archive) => {
      // the rate limit keeps the backup running for ~20 s: stop the server while data flows
      stopping = new Promise((resolve) => setTimeout(resolve, 500)).then(() => pg.stop('fast'));
      return originalOpen(archive);
    };
    const started = Date.now();
    const error = await runBaseBackup(conn, { label: 'stopped', maxRateKbPerSec: 1024 }, sink).then(
      () => undefined,
      (err: unknown) => err,
    );
    await stopping;
    await conn.close();
    expect(error).toBeInstanceOf(TidemarkError);
    expect(error).toMatchObject({ code: 'connection_failed', retryable: true });
    expect((error as Error).message).toContain(`${pg.host}:${pg.port}`);
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(sink.writables.length).toBeGreaterThan(0);
    for (const w of sink.writables) {
      expect(w.destroyed).toBe(true);
      expect(w.writableFinished).toBe(false);
    }
    expect(sink.events).not.toContain('onEnd');
    expect((error as Error).message).toMatch(/shutting down|lost/);
    await pg.start();
  });

  it('honours a slow sink (backpressure) and still delivers every byte', async () => {
    const out = join(dir.path, 'slow');
    await mkdir(out);
    const conn = await open(pg);
    const sink = directorySink(out);
    const originalOpen = sink.openArchive.bind(sink);
    let writes = 0;
    let maxBuffered = 0;
    sink.openArchive = async (archive) => {
      const file = await originalOpen(archive);
      // a 64 kB buffer drained at ~50 MB/s: the server must be paused, not the memory filled
      return new Writable({
        highWaterMark: 64 * 1024,
        write(chunk: Buffer, _enc, callback) {
          writes += 1;
          maxBuffered = Math.max(maxBuffered, this.writableLength);
          const pass = (): void =>
            void (file.write(chunk) ? callback() : file.once('drain', () => callback()));
          setTimeout(pass, chunk.length / (50 * 1024));
        },
        final(callback) {
          file.end(callback);
        },
        destroy(err, callback) {
          file.destroy(err ?? undefined);
          callback(err);
        },
      });
    };
    const result = await runBaseBackup(conn, { label: 'slow', maxQueuedBytes: 256 * 1024 }, sink);
    await conn.close();
    expect(writes).toBeGreaterThan(20);
    await expectEveryByteVerified(out, result.bytesReceived);
    // what waits in the Writable stays near its highWaterMark plus one socket read of messages
    expect(maxBuffered).toBeLessThan(2 * 1024 * 1024);
  });

  it('reuses its blocks for a sink whose Writables are done with a buffer at its write callback', async () => {
    const out = join(dir.path, 'reuse');
    await mkdir(out);
    const conn = await open(pg);
    const files = directorySink(out);
    const blocks = new Set<ArrayBufferLike>();
    let blockWrites = 0;
    let writes = 0;
    // like the repository's encryption streams: each buffer is used up (here: copied) before its
    // callback; every 8th callback comes late, so blocks wait in the transfer meanwhile
    const copying = (file: Writable): Writable =>
      new Writable({
        highWaterMark: 256 * 1024,
        write(chunk: Buffer, _enc, callback) {
          const copy = Buffer.from(chunk);
          if (chunk.length === 1024 * 1024) {
            blockWrites += 1;
            blocks.add(chunk.buffer);
          }
          writes += 1;
          const pass = (): void =>
            void (file.write(copy) ? callback() : file.once('drain', () => callback()));
          if (writes % 8 === 0) setTimeout(pass, 5);
          else pass();
        },
        final(callback) {
          file.end(callback);
        },
        destroy(err, callback) {
          file.destroy(err ?? undefined);
          callback(err);
        },
      });
    const sink: BaseBackupSink = {
      buffersFreeAfterWrite: true,
      onStart: (info) => files.onStart(info),
      openArchive: async (archive) => copying(await files.openArchive(archive)),
      openManifest: async () => copying(await files.openManifest()),
      onEnd: (info) => files.onEnd(info),
    };
    const result = await runBaseBackup(conn, { label: 'reuse' }, sink);
    await conn.close();
    expect(blockWrites).toBeGreaterThan(20);
    expect(blocks.size).toBeLessThan(blockWrites / 2);
    // a block reused before its bytes were used up would corrupt the archive: this would fail
    await expectEveryByteVerified(out, result.bytesReceived);
  });

  it('fails instead of hanging or looking complete when the sink closes an archive early', async () => {
    const conn = await open(pg);
    const sink = directorySink(join(dir.path, 'unused'));
    let received = 0;
    sink.openArchive = () =>
      new Writable({
        highWaterMark: 16 * 1024,
        write(chunk: Buffer, _enc, callback) {
          received += chunk.length;
          // after 1 MB the destination goes away without an error, while writes are pending
          if (received > 1024 * 1024) setImmediate(() => this.destroy());
          else setTimeout(callback, 1);
        },
      });
    sink.openManifest = () => new Writable({ write: (_c, _e, cb) => cb() });
    const error = await runBaseBackup(conn, { label: 'truncated' }, sink).then(
      () => undefined,
      (err: unknown) => err,
    );
    await conn.close();
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toMatch(/closed before the backup ended/);
    expect(sink.events).not.toContain('onEnd');
  });

  it('cancels through the AbortSignal and leaves the node usable', async () => {
    const out = join(dir.path, 'cancelled');
    await mkdir(out);
    const conn = await open(pg);
    const sink = directorySink(out);
    const controller = new AbortController();
    sink.onProgress = () => controller.abort();
    await expect(
      runBaseBackup(
        conn,
        { label: 'cancelled', maxRateKbPerSec: 2048, signal: controller.signal },
        sink,
      ),
    ).rejects.toMatchObject({ code: 'cancelled' });
    expect(sink.writables.every((w) => w.destroyed && !w.writableFinished)).toBe(true);
    expect(conn.isClosed).toBe(true);
    // the walsender of the cancelled backup goes away; a new backup runs normally
    await waitFor(
      async () =>
        (
          await pg.query(
            "SELECT 1 FROM pg_stat_replication WHERE application_name = 'tidemark-test'",
          )
        ).length === 0,
      10_000,
      'the cancelled walsender to exit',
    );
    const again = await open(pg);
    const againDir = join(dir.path, 'again');
    await mkdir(againDir);
    await runBaseBackup(
      again,
      { label: 'again', compression: 'zstd', compressionDetail: 'level=1' },
      directorySink(againDir),
    );
    await again.close();
    expect((await readdir(againDir)).sort()).toEqual(['backup_manifest', 'base.tar.zst']);
  });
});

async function waitFor(
  check: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
