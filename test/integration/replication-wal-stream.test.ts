import { execFile } from 'node:child_process';
import { appendFile, copyFile, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBaseBackup } from '../../main/engine/replication/base-backup.js';
import {
  formatLsn,
  parseLsn,
  parseWalSegmentFileName,
  segmentNumberOf,
  segmentOffsetOf,
  segmentStartOf,
  walSegmentFileNameForLsn,
} from '../../main/engine/replication/lsn.js';
import { ReplicationConnection } from '../../main/engine/replication/replication-connection.js';
import {
  startWalStream,
  type WalStreamOptions,
} from '../../main/engine/replication/wal-receiver.js';
import { PgInstance, postgresAvailable } from '../support/postgres.js';
import { directorySink, WalDirectoryWriter } from '../support/replication-sinks.js';
import { extractTarForPostgres } from '../support/tar-extract.js';
import { tempDir } from '../support/temp-dir.js';

const exec = promisify(execFile);

function open(
  pg: { host: string; port: number; user: string; password: string },
  applicationName = 'tidemark-wal',
): Promise<ReplicationConnection> {
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

/** Starts a stream that only settles when told to; failures are kept for assertions. */
function stream(conn: ReplicationConnection, options: Omit<WalStreamOptions, 'signal'>) {
  const controller = new AbortController();
  const done = startWalStream(conn, { ...options, signal: controller.signal });
  done.catch(() => undefined);
  return { done, stop: () => controller.abort() };
}

describe.skipIf(!postgresAvailable())(
  'START_REPLICATION through the native replication client',
  () => {
    let dir: { path: string; cleanup: () => Promise<void> };
    let pg: PgInstance;
    let segmentSize: number;

    beforeAll(async () => {
      dir = await tempDir('tidemark-walstream-');
      // a short timeout proves keepalives are answered; wal_keep_size keeps segments to compare with
      pg = await PgInstance.create({
        dir: join(dir.path, 'primary'),
        conf: { wal_sender_timeout: `'1s'`, wal_keep_size: `'512MB'` },
      });
      await pg.pgbench(['-i', '-s', '1', '-q']);
      const conn = await open(pg);
      segmentSize = await conn.walSegmentSize();
      await conn.close();
    });

    afterAll(async () => {
      await pg?.stop();
      await dir?.cleanup();
    });

    it('writes segments byte-identical to the server pg_wal, with backpressure, and moves the slot', async () => {
      const walDir = join(dir.path, 'wal-a');
      await mkdir(walDir);
      const conn = await open(pg);
      await conn.createPhysicalSlot('stream_test', { reserveWal: true });
      const slot = await conn.readSlot('stream_test');
      expect(slot).toMatchObject({ slotType: 'physical' });
      const startLsn = segmentStartOf(slot?.restartLsn ?? 0n, segmentSize);
      const writer = new WalDirectoryWriter(walDir, segmentSize, 1, startLsn);
      let pieces = 0;
      // kept beyond the callback, as an upload queue would: must not change under our feet
      const kept: Buffer[] = [];
      const running = stream(conn, {
        slot: 'stream_test',
        startLsn,
        timeline: 1,
        statusIntervalMs: 200,
        getFlushedLsn: () => writer.flushedLsn,
        // a slow consumer now and then: the stream must wait, not lose or reorder bytes
        onData: async (walStart, bytes) => {
          pieces += 1;
          kept.push(bytes);
          if (pieces % 25 === 0) await new Promise((resolve) => setTimeout(resolve, 20));
          await writer.onData(walStart, bytes);
        },
      });

      await pg.pgbench(['-t', '300', '-c', '2', '-n']);
      await pg.query(
        'CREATE TABLE wal_filler AS SELECT g, md5(g::text) AS h FROM generate_series(1, 200000) g',
      );
      const [switched] = await pg.query<{ lsn: string }>('SELECT pg_switch_wal()::text AS lsn');
      const target = parseLsn(switched?.lsn ?? '0/0');
      await waitFor(() => writer.flushedLsn > target, 30_000, 'the stream to pass the WAL switch');

      expect(writer.completed.length).toBeGreaterThanOrEqual(2);
      expect(pieces).toBeGreaterThan(50);
      for (const name of writer.completed) {
        const ours = await readFile(join(walDir, name));
        const theirs = await readFile(join(pg.dataDir, 'pg_wal', name));
        expect(ours.length).toBe(segmentSize);
        expect(ours.equals(theirs), `${name} differs from the server's`).toBe(true);
      }
      const keptBytes = Buffer.concat(kept);
      for (const [index, name] of writer.completed.entries()) {
        const segment = keptBytes.subarray(index * segmentSize, (index + 1) * segmentSize);
        expect(segment.equals(await readFile(join(walDir, name))), `kept bytes of ${name}`).toBe(
          true,
        );
      }
      // the slot follows the reported flush position exactly
      await waitFor(
        async () =>
          (
            await pg.query<{ lsn: string }>(
              "SELECT restart_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name = 'stream_test'",
            )
          )[0]?.lsn === formatLsn(writer.flushedLsn),
        10_000,
        'restart_lsn to reach the flushed position',
      );

      running.stop();
      await expect(running.done).rejects.toMatchObject({ code: 'cancelled' });
      await writer.close();
      const cleanup = await open(pg);
      await cleanup.dropSlot('stream_test', { wait: true });
      expect(await cleanup.readSlot('stream_test')).toBeNull();
      await cleanup.close();
    });

    it('answers keepalives: an idle stream outlives wal_sender_timeout without its own status updates', async () => {
      const conn = await open(pg, 'tidemark-idle');
      const identity = await conn.identifySystem();
      const startLsn = segmentStartOf(identity.xlogPos, segmentSize);
      const running = stream(conn, {
        startLsn,
        timeline: 1,
        statusIntervalMs: 60_000,
        getFlushedLsn: () => 0n,
        onData: () => undefined,
      });
      // three times wal_sender_timeout (1 s): only keepalive replies keep the walsender from dropping us
      await new Promise((resolve) => setTimeout(resolve, 3000));
      const walsenders = await pg.query(
        "SELECT pid FROM pg_stat_replication WHERE application_name = 'tidemark-idle' AND state = 'streaming'",
      );
      expect(walsenders).toHaveLength(1);
      // pg would queue a second command behind the endless stream: it is refused instead
      await expect(conn.identifySystem()).rejects.toThrow(
        /another replication command is still running/,
      );
      let settled = false;
      const markSettled = (): void => void (settled = true);
      void running.done.then(markSettled, markSettled);
      await new Promise((resolve) => setImmediate(resolve));
      expect(settled).toBe(false);
      running.stop();
      await expect(running.done).rejects.toMatchObject({ code: 'cancelled' });
      await conn.close();
    });

    it('rejects with a retryable connection_failed naming the node when the walsender is terminated', async () => {
      const conn = await open(pg, 'tidemark-terminated');
      const identity = await conn.identifySystem();
      const running = stream(conn, {
        startLsn: segmentStartOf(identity.xlogPos, segmentSize),
        timeline: 1,
        getFlushedLsn: () => 0n,
        onData: () => undefined,
      });
      await waitFor(
        async () =>
          (
            await pg.query(
              "SELECT 1 FROM pg_stat_replication WHERE application_name = 'tidemark-terminated'",
            )
          ).length === 1,
        10_000,
        'the walsender',
      );
      await pg.query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_replication WHERE application_name = 'tidemark-terminated'",
      );
      const error = await running.done.then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(error).toMatchObject({ code: 'connection_failed', retryable: true });
      expect((error as Error).message).toContain(`${pg.host}:${pg.port}`);
      await conn.close();
    });

    it('rejects with a retryable connection_failed when the connection drops without a word', async () => {
      const proxy = await tcpProxy(pg.port);
      try {
        const conn = await open(
          { host: pg.host, port: proxy.port, user: pg.user, password: pg.password },
          'tidemark-dropped',
        );
        const identity = await conn.identifySystem();
        const running = stream(conn, {
          startLsn: segmentStartOf(identity.xlogPos, segmentSize),
          timeline: 1,
          getFlushedLsn: () => 0n,
          onData: () => undefined,
        });
        await waitFor(
          async () =>
            (
              await pg.query(
                "SELECT 1 FROM pg_stat_replication WHERE application_name = 'tidemark-dropped'",
              )
            ).length === 1,
          10_000,
          'the walsender',
        );
        proxy.dropAll();
        const error = await running.done.then(
          () => undefined,
          (err: unknown) => err,
        );
        expect(error).toMatchObject({ code: 'connection_failed', retryable: true });
        expect((error as Error).message).toContain(
          `The connection to 127.0.0.1:${proxy.port} was lost during WAL streaming`,
        );
        await conn.close();
      } finally {
        await proxy.close();
      }
    });

    it('follows a timeline switch: end of timeline, TIMELINE_HISTORY, then the new timeline', async () => {
      // a copy of the primary, promoted at the end of its backup: it switches to timeline 2
      const backupDir = join(dir.path, 'tl-backup');
      await mkdir(backupDir);
      const backupConn = await open(pg, 'tidemark-tl-backup');
      const backup = await runBaseBackup(
        backupConn,
        { label: 'timeline test' },
        directorySink(backupDir),
      );
      await backupConn.close();
      const [current] = await pg.query<{ lsn: string }>('SELECT pg_switch_wal()::text AS lsn');
      const lastSegment = segmentNumberOf(parseLsn(current?.lsn ?? '0/0'), segmentSize);
      const firstSegment = segmentNumberOf(backup.startLsn, segmentSize);

      const promotedDir = join(dir.path, 'promoted');
      const data = join(promotedDir, 'data');
      await extractTarForPostgres(join(backupDir, 'base.tar'), data);
      for (const name of await readdir(join(pg.dataDir, 'pg_wal'))) {
        const segment = parseWalSegmentFileName(name, segmentSize);
        if (
          segment &&
          segment.timeline === 1 &&
          segment.segmentNumber >= firstSegment &&
          segment.segmentNumber <= lastSegment
        ) {
          await copyFile(join(pg.dataDir, 'pg_wal', name), join(data, 'pg_wal', name));
        }
      }
      await writeFile(join(data, 'recovery.signal'), '');
      await appendFile(
        join(data, 'postgresql.auto.conf'),
        "restore_command = 'false'\nrecovery_target = 'immediate'\nrecovery_target_action = 'promote'\nwal_keep_size = '512MB'\n",
      );
      await exec('chown', ['-R', 'postgres:postgres', promotedDir]).catch(() => undefined);
      const promoted = await PgInstance.adopt(promotedDir, data);
      await promoted.start();
      try {
        await waitFor(
          async () =>
            (await promoted.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r'))[0]?.r ===
            false,
          30_000,
          'the promotion',
        );
        const conn = await open(promoted);
        expect((await conn.identifySystem()).timeline).toBe(2);

        // timeline 1, from the backup's first segment, up to the switch
        const walDir = join(dir.path, 'wal-tl');
        await mkdir(walDir);
        const startLsn = segmentStartOf(backup.startLsn, segmentSize);
        const writer = new WalDirectoryWriter(walDir, segmentSize, 1, startLsn);
        const end = await startWalStream(conn, {
          startLsn,
          timeline: 1,
          getFlushedLsn: () => writer.flushedLsn,
          onData: writer.onData,
        });
        expect(end.timeline).toBe(1);
        expect(end.nextTimeline).toBe(2);
        expect(end.endLsn).toBe(end.nextTimelineStartLsn);
        expect(end.nextTimelineStartLsn).toBeGreaterThanOrEqual(backup.endLsn);
        expect(writer.position).toBe(end.endLsn);

        const history = await conn.timelineHistory(2);
        expect(history.filename).toBe('00000002.history');
        expect(
          history.content.equals(await readFile(join(data, 'pg_wal', '00000002.history'))),
        ).toBe(true);
        expect(history.content.toString()).toContain(`1\t${formatLsn(end.nextTimelineStartLsn)}\t`);

        // complete timeline-1 segments equal the primary's; the partial one equals its prefix
        for (const name of writer.completed) {
          expect(
            (await readFile(join(walDir, name))).equals(
              await readFile(join(pg.dataDir, 'pg_wal', name)),
            ),
            name,
          ).toBe(true);
        }
        await writer.close();
        const partialName = walSegmentFileNameForLsn(1, end.endLsn, segmentSize);
        const switchOffset = segmentOffsetOf(end.endLsn, segmentSize);
        if (switchOffset > 0) {
          const partial = await readFile(join(walDir, `${partialName}.partial`));
          const original = await readFile(join(pg.dataDir, 'pg_wal', partialName));
          expect(partial.subarray(0, switchOffset).equals(original.subarray(0, switchOffset))).toBe(
            true,
          );
        }

        // timeline 2, from the segment of the switch, on the same connection
        const tl2Start = segmentStartOf(end.nextTimelineStartLsn, segmentSize);
        await writer.switchTimeline(2, tl2Start);
        const running = stream(conn, {
          startLsn: tl2Start,
          timeline: 2,
          statusIntervalMs: 200,
          getFlushedLsn: () => writer.flushedLsn,
          onData: writer.onData,
        });
        await promoted.query(
          'CREATE TABLE after_promotion AS SELECT g FROM generate_series(1, 50000) g',
        );
        const [switched] = await promoted.query<{ lsn: string }>(
          'SELECT pg_switch_wal()::text AS lsn',
        );
        const target = parseLsn(switched?.lsn ?? '0/0');
        await waitFor(() => writer.flushedLsn > target, 30_000, 'timeline 2 to pass the switch');
        const tl2Segments = writer.completed.filter((name) => name.startsWith('00000002'));
        expect(tl2Segments.length).toBeGreaterThanOrEqual(1);
        for (const name of tl2Segments) {
          expect(
            (await readFile(join(walDir, name))).equals(await readFile(join(data, 'pg_wal', name))),
            name,
          ).toBe(true);
        }
        running.stop();
        await expect(running.done).rejects.toMatchObject({ code: 'cancelled' });
        await writer.close();
        await conn.close();
      } finally {
        await promoted.stop('immediate');
      }
    });
  },
);

/** A loopback TCP proxy whose connections can be cut without a word to either side. */
async function tcpProxy(
  targetPort: number,
): Promise<{ port: number; dropAll: () => void; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(targetPort, '127.0.0.1');
    sockets.add(client).add(upstream);
    client.pipe(upstream).pipe(client);
    const forget = (): void => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', forget).on('close', forget);
    upstream.on('error', forget).on('close', forget);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    port,
    dropAll: () => {
      for (const socket of sockets) socket.resetAndDestroy();
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

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
