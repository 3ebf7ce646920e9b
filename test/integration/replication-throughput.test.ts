import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBaseBackup } from '../../main/engine/replication/base-backup.js';
import { ReplicationConnection } from '../../main/engine/replication/replication-connection.js';
import { PgInstance, postgresAvailable, runPg } from '../support/postgres.js';
import { directorySink } from '../support/replication-sinks.js';
import { tempDir } from '../support/temp-dir.js';

/**
 * Opt-in measurement (TIDEMARK_BENCH=1): BASE_BACKUP through the native client against
 * `pg_basebackup -Ft -X none` (same fast checkpoint and SHA-256 manifest, which costs the server
 * noticeably more than its default CRC32C) on the same ~200 MB database in the same run, medians of 3, and the
 * peak RSS growth of this process while a fast and a throttled sink receive the backup.
 */
const enabled = process.env.TIDEMARK_BENCH === '1' && postgresAvailable();
const MB = 1024 * 1024;

describe.skipIf(!enabled)('base backup throughput (TIDEMARK_BENCH=1)', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  let pg: PgInstance;

  beforeAll(async () => {
    dir = await tempDir('tidemark-bench-');
    pg = await PgInstance.create({ dir: join(dir.path, 'pg'), checksums: true });
    await pg.pgbench(['-i', '-s', '13', '-q']);
    await pg.query('CHECKPOINT');
  }, 600_000);

  afterAll(async () => {
    await pg?.stop();
    await dir?.cleanup();
  });

  async function tidemark(
    compression: 'none' | 'lz4',
    sinkFactory?: (out: string) => Parameters<typeof runBaseBackup>[2],
  ): Promise<{ seconds: number; bytes: number; peakRssGrowth: number }> {
    const out = join(dir.path, `tm-${Date.now()}`);
    await mkdir(out);
    const conn = await ReplicationConnection.open({
      host: pg.host,
      port: pg.port,
      user: pg.user,
      password: pg.password,
      ssl: { mode: 'disable' },
      applicationName: 'bench',
      connectTimeoutMs: 10_000,
    });
    global.gc?.();
    const baseline = process.memoryUsage().rss;
    let peak = baseline;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 10);
    const started = performance.now();
    const result = await runBaseBackup(
      conn,
      { label: 'bench', compression },
      sinkFactory ? sinkFactory(out) : directorySink(out),
    );
    const seconds = (performance.now() - started) / 1000;
    clearInterval(sampler);
    peak = Math.max(peak, process.memoryUsage().rss);
    await conn.close();
    await rm(out, { recursive: true, force: true });
    return { seconds, bytes: result.bytesReceived, peakRssGrowth: peak - baseline };
  }

  async function pgBasebackup(extra: string[]): Promise<{ seconds: number; bytes: number }> {
    const out = join(dir.path, `pgbb-${Date.now()}`);
    const started = performance.now();
    await runPg(
      'pg_basebackup',
      [
        '-d',
        `host=${pg.host} port=${pg.port} user=${pg.user} password=${pg.password}`,
        '-Ft',
        '-X',
        'none',
        '-c',
        'fast',
        '--manifest-checksums=SHA256',
        '-D',
        out,
        ...extra,
      ],
      { timeoutMs: 600_000 },
    );
    const seconds = (performance.now() - started) / 1000;
    let bytes = 0;
    for (const name of await readdir(out)) bytes += (await stat(join(out, name))).size;
    await rm(out, { recursive: true, force: true });
    return { seconds, bytes };
  }

  it('compares with pg_basebackup and bounds memory', async () => {
    const rows: string[] = [];
    for (const [label, compression, extra] of [
      ['plain tar', 'none', []],
      ['server lz4', 'lz4', ['--compress=server-lz4']],
    ] as const) {
      const ours: { seconds: number; bytes: number; peakRssGrowth: number }[] = [];
      const theirs: { seconds: number; bytes: number }[] = [];
      for (let i = 0; i < 3; i++) {
        ours.push(await tidemark(compression));
        theirs.push(await pgBasebackup([...extra]));
      }
      const o = median(ours.map((r) => r.seconds));
      const t = median(theirs.map((r) => r.seconds));
      const uncompressed = ours[0]?.bytes ?? 0;
      rows.push(
        `${label}: tidemark ${(uncompressed / MB).toFixed(0)} MB in ${o.toFixed(2)} s = ${(uncompressed / MB / o).toFixed(0)} MB/s; ` +
          `pg_basebackup ${((theirs[0]?.bytes ?? 0) / MB).toFixed(0)} MB in ${t.toFixed(2)} s = ${((theirs[0]?.bytes ?? 0) / MB / t).toFixed(0)} MB/s; ` +
          `ratio ${(o / t).toFixed(2)}; peak RSS growth ${(Math.max(...ours.map((r) => r.peakRssGrowth)) / MB).toFixed(0)} MB`,
      );
      expect(o).toBeGreaterThan(0);
    }

    // a sink slower than the server (~100 MB/s): backpressure must keep memory flat
    const throttled = await tidemark('none', () => throttledSink(100 * MB));
    rows.push(
      `throttled sink (100 MB/s): ${(throttled.bytes / MB).toFixed(0)} MB in ${throttled.seconds.toFixed(2)} s, peak RSS growth ${(throttled.peakRssGrowth / MB).toFixed(0)} MB`,
    );
    expect(throttled.peakRssGrowth).toBeLessThan(64 * MB);
    console.log(`\n${rows.join('\n')}\n`);
  }, 900_000);
});

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

/** Discards bytes at a fixed rate, with a 4 MB buffer like the file sink. */
function throttledSink(bytesPerSecond: number): Parameters<typeof runBaseBackup>[2] {
  let due = 0;
  const make = (): Writable =>
    new Writable({
      highWaterMark: 4 * MB,
      write(chunk: Buffer, _enc, callback) {
        due = Math.max(due, performance.now()) + (chunk.length / bytesPerSecond) * 1000;
        const wait = due - performance.now();
        if (wait > 2) setTimeout(callback, wait);
        else setImmediate(callback);
      },
    });
  return {
    onStart: () => undefined,
    openArchive: make,
    openManifest: make,
    onEnd: () => undefined,
  };
}
