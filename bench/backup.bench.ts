/**
 * Base backup and WAL streaming against the PostgreSQL tools, on one node with more than 1 GB
 * of data (pgbench scale 30 plus a table of random, incompressible bytes):
 *
 * 1. Tidemark's encrypted lz4 base backup into a folder zone (in a child process, for its peak
 *    RSS) vs `pg_basebackup -Ft -X none -c fast --compress=server-lz4 --no-manifest -D - |
 *    openssl enc -aes-256-ctr -pbkdf2 -pass pass:x > file` onto the same disk. Alternating,
 *    after an uncounted warm-up of each, 5 runs each, medians. Targets: wall-time ratio ≤ 1.0,
 *    peak RSS ≤ 150 MB.
 * 2. WAL streaming of the same WAL: Tidemark's archiver (encrypted segments into a folder zone,
 *    in a child process as well) vs `pg_receivewal --endpos`, each from its own slot reserved at
 *    the same position.
 *
 * Run: npm run bench:backup [-- --scale 30 --random-mb 600 --wal-mb 320 --runs 5 --warmups 1]
 * The machine may be shared: numbers move with the load of other processes.
 */
import { spawn } from 'node:child_process';
import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';
import { backupNode } from '../main/engine/backup/base-backup-job.js';
import type { NodeEndpoint } from '../main/engine/backup/node-endpoint.js';
import { WalArchiver } from '../main/engine/backup/wal-archiver.js';
import { formatLsn, parseLsn } from '../main/engine/replication/lsn.js';
import { createTestRepository, openTestRepository } from '../test/support/backup-fixtures.js';
import { pgBinDir, PgInstance, testPassword } from '../test/support/postgres.js';
import { tempDir } from '../test/support/temp-dir.js';

const { values: args } = parseArgs({
  options: {
    child: { type: 'string' },
    scale: { type: 'string', default: '30' },
    'random-mb': { type: 'string', default: '600' },
    'wal-mb': { type: 'string', default: '320' },
    runs: { type: 'string', default: '5' },
    warmups: { type: 'string', default: '1' },
  },
});

const mb = 1024 * 1024;

interface ChildRequest {
  repoDir: string;
  host: string;
  port: number;
  clusterId: string;
  /** stream WAL until this LSN is stored (instead of taking a base backup) */
  walEnd?: string;
}

function endpointOf(request: ChildRequest): NodeEndpoint {
  return {
    clusterId: request.clusterId,
    nodeId: 'n1',
    role: 'coordinator',
    distNodeId: 1,
    groupId: 0,
    name: request.host,
    port: request.port,
    address: { host: request.host, port: request.port },
    user: 'postgres',
    password: testPassword,
    database: 'postgres',
    tls: { mode: 'disable' },
  };
}

/** Tidemark's WAL stream in this (child) process, from its slot until `walEnd` is stored: prints seconds. */
async function childWal(request: ChildRequest & { walEnd: string }): Promise<void> {
  const repo = await openTestRepository(request.repoDir);
  const archiver = new WalArchiver({ endpoint: endpointOf(request), repository: repo.repository, catalog: repo.catalog });
  const started = performance.now();
  archiver.start();
  await archiver.waitUntilStored(parseLsn(request.walEnd), 1, { timeoutMs: 600_000 });
  const seconds = (performance.now() - started) / 1000;
  await archiver.stop();
  await repo.close();
  process.stdout.write(`${JSON.stringify({ seconds })}\n`);
}

/** One Tidemark backup in this (child) process: prints seconds, stored bytes and peak RSS. */
async function childBackup(request: ChildRequest): Promise<void> {
  const repo = await openTestRepository(request.repoDir);
  const endpoint = endpointOf(request);
  const archiver = new WalArchiver({ endpoint, repository: repo.repository, catalog: repo.catalog });
  // the node's stream runs all the time in production: it is not part of the backup's time
  archiver.start();
  await archiver.waitUntilStreaming({ timeoutMs: 60_000 });
  const started = performance.now();
  const phases: Record<string, number> = {};
  const record = await backupNode(
    { endpoint, repository: repo.repository, catalog: repo.catalog, archiver, onProgress: (p) => void (phases[p.phase] ??= (performance.now() - started) / 1000) },
    { compression: 'lz4' },
  );
  const seconds = (performance.now() - started) / 1000;
  await archiver.stop();
  await repo.close();
  const stored = record.archives.reduce((sum, a) => sum + a.bytes, 0) + record.manifestBytes;
  process.stdout.write(`${JSON.stringify({ seconds, stored, dataBytes: record.dataBytes, maxRssKb: process.resourceUsage().maxRSS, phases })}\n`);
}

function run(command: string, argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ stdout: string; code: number | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, argv, { env, stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ stdout, code }));
  });
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

async function dirSize(path: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(path, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) total += (await stat(join(entry.parentPath, entry.name))).size;
  }
  return total;
}

async function lsnOf(pg: PgInstance, sql: string): Promise<bigint> {
  const [row] = await pg.query<{ lsn: string }>(sql);
  return parseLsn(row!.lsn);
}

async function main(): Promise<void> {
  const runs = Number(args.runs);
  const dir = await tempDir('tidemark-bench-backup-');
  const pg = await PgInstance.create({
    dir: join(dir.path, 'pg'),
    conf: { shared_buffers: `'256MB'`, max_wal_size: `'4GB'`, wal_keep_size: `'2GB'`, checkpoint_timeout: `'30min'` },
  });
  try {
    console.log(`Preparing: pgbench scale ${args.scale} and ${args['random-mb']} MB of random bytes…`);
    await pg.pgbench(['-i', '-s', String(args.scale), '-q']);
    await pg.query('CREATE EXTENSION pgcrypto');
    await pg.query('CREATE TABLE random_bytes (id int, b bytea)');
    await pg.query('ALTER TABLE random_bytes ALTER COLUMN b SET STORAGE EXTERNAL');
    const randomRows = Math.round((Number(args['random-mb']) * mb) / 8192);
    for (let done = 0; done < randomRows; done += 10_000) {
      await pg.query(
        `INSERT INTO random_bytes SELECT g, gen_random_bytes(1024) || gen_random_bytes(1024) || gen_random_bytes(1024) || gen_random_bytes(1024)
           || gen_random_bytes(1024) || gen_random_bytes(1024) || gen_random_bytes(1024) || gen_random_bytes(1024)
           FROM generate_series($1::int, $2::int) g`,
        [done, Math.min(done + 10_000, randomRows) - 1],
      );
    }
    await pg.query('CHECKPOINT');
    const [size] = await pg.query<{ bytes: string }>('SELECT sum(pg_database_size(datname))::text AS bytes FROM pg_database');
    const dataBytes = Number(size!.bytes);
    console.log(`Data: ${(dataBytes / mb).toFixed(0)} MB in all databases.`);

    const repoDir = join(dir.path, 'repo');
    const outDir = join(dir.path, 'pg_basebackup');
    await mkdir(outDir);
    const tidemark: { seconds: number; stored: number; maxRssKb: number }[] = [];
    const baseline: { seconds: number; stored: number; syncSeconds: number }[] = [];
    const child = await bundleChild();
    // the first backups after loading read colder caches: a warm-up of each side is not counted
    for (let i = -Number(args.warmups); i < runs; i++) {
      const label = i < 0 ? 'warm-up' : `run ${i + 1}`;
      for (const side of i % 2 === 0 ? ['tidemark', 'pg_basebackup'] : ['pg_basebackup', 'tidemark']) {
        if (side === 'tidemark') {
          await rm(repoDir, { recursive: true, force: true });
          const created = await createTestRepository(repoDir);
          await created.close();
          const clusterId = i < 0 ? `warmup${-i}` : `bench${i}`;
          const request: ChildRequest = { repoDir, host: pg.host, port: pg.port, clusterId };
          const result = await run(process.execPath, [child, '--child', JSON.stringify(request)]);
          if (result.code !== 0) throw new Error(`the Tidemark backup failed (exit ${result.code})`);
          const parsed = JSON.parse(result.stdout.trim().split('\n').at(-1)!) as { seconds: number; stored: number; maxRssKb: number; phases: Record<string, number> };
          if (i >= 0) tidemark.push(parsed);
          // its slot would hold WAL for the rest of the benchmark
          await pg.query('SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1', [`tidemark_${clusterId}_n1`]);
          const phases = Object.entries(parsed.phases).map(([phase, at]) => `${phase} at ${at.toFixed(2)} s`).join(', ');
          console.log(`  ${label} Tidemark:      ${parsed.seconds.toFixed(2)} s, ${(parsed.stored / mb).toFixed(0)} MB stored, peak RSS ${(parsed.maxRssKb / 1024).toFixed(0)} MB (${phases})`);
        } else {
          const file = join(outDir, `run-${i}.tar.lz4.enc`);
          const started = performance.now();
          const result = await run(
            'bash',
            [
              '-o', 'pipefail', '-c',
              `"${join(pgBinDir(), 'pg_basebackup')}" -h ${pg.host} -p ${pg.port} -U postgres -Ft -X none -c fast --compress=server-lz4 --no-manifest -D - | openssl enc -aes-256-ctr -pbkdf2 -pass pass:x > "${file}"`,
            ],
            { ...process.env, PGPASSWORD: testPassword },
          );
          const seconds = (performance.now() - started) / 1000;
          if (result.code !== 0) throw new Error(`pg_basebackup | openssl failed (exit ${result.code})`);
          // the prescribed command leaves its output in the page cache; Tidemark's zone fsyncs
          // every object before it counts as stored: what that costs the baseline, for reference
          const syncStarted = performance.now();
          await run('sync', [file]);
          const syncSeconds = (performance.now() - syncStarted) / 1000;
          const stored = (await stat(file)).size;
          if (i >= 0) baseline.push({ seconds, stored, syncSeconds });
          await rm(file);
          console.log(`  ${label} pg_basebackup: ${seconds.toFixed(2)} s (+ ${syncSeconds.toFixed(2)} s to fsync its output), ${(stored / mb).toFixed(0)} MB stored`);
        }
      }
    }

    // WAL: the same WAL for both, each through its own slot reserved at the same moment
    const walRuns: { tidemark: number; receivewal: number; bytes: number }[] = [];
    for (let i = 0; i < runs; i++) {
      const ours = `tidemark_walbench${i}_n1`;
      const theirs = `receivewal_${i}`;
      // both slots reserve from the redo point of a fresh checkpoint: the same WAL, only this run's
      await pg.query('CHECKPOINT');
      await pg.query('SELECT pg_create_physical_replication_slot($1, true), pg_create_physical_replication_slot($2, true)', [ours, theirs]);
      const [slot] = await pg.query<{ lsn: string }>('SELECT restart_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name = $1', [ours]);
      const from = parseLsn(slot!.lsn);
      await pg.query('CREATE TABLE IF NOT EXISTS wal_load (id int, b bytea)');
      const walRows = Math.round((Number(args['wal-mb']) * mb) / 8300);
      await pg.query(
        `INSERT INTO wal_load SELECT g, gen_random_bytes(1024) || gen_random_bytes(1024) || gen_random_bytes(1024) || gen_random_bytes(1024)
           || gen_random_bytes(1024) || gen_random_bytes(1024) || gen_random_bytes(1024) || gen_random_bytes(1024)
           FROM generate_series(1, $1::int) g`,
        [walRows],
      );
      const end = await lsnOf(pg, 'SELECT pg_current_wal_lsn()::text AS lsn');
      const bytes = Number(end - from);
      // a little WAL after the end: pg_receivewal stops at --endpos only once it sees WAL past it
      await pg.query('CREATE TABLE IF NOT EXISTS tick (x int); INSERT INTO tick VALUES (1)');

      const walRepoDir = join(dir.path, `wal-repo-${i}`);
      await (await createTestRepository(walRepoDir)).close();
      const timeTidemark = async (): Promise<number> => {
        const request: ChildRequest = { repoDir: walRepoDir, host: pg.host, port: pg.port, clusterId: `walbench${i}`, walEnd: formatLsn(end) };
        const result = await run(process.execPath, [child, '--child', JSON.stringify(request)]);
        if (result.code !== 0) throw new Error(`the Tidemark WAL stream failed (exit ${result.code})`);
        return (JSON.parse(result.stdout.trim().split('\n').at(-1)!) as { seconds: number }).seconds;
      };
      const receiveDir = join(dir.path, `receivewal-${i}`);
      await mkdir(receiveDir);
      const timeReceivewal = async (): Promise<number> => {
        const started = performance.now();
        const result = await run(
          join(pgBinDir(), 'pg_receivewal'),
          ['-h', pg.host, '-p', String(pg.port), '-U', 'postgres', '-D', receiveDir, `--slot=${theirs}`, `--endpos=${formatLsn(end)}`, '-n'],
          { ...process.env, PGPASSWORD: testPassword },
        );
        if (result.code !== 0) throw new Error(`pg_receivewal failed (exit ${result.code})`);
        return (performance.now() - started) / 1000;
      };
      let t: number;
      let r: number;
      if (i % 2 === 0) {
        t = await timeTidemark();
        r = await timeReceivewal();
      } else {
        r = await timeReceivewal();
        t = await timeTidemark();
      }
      const received = await dirSize(receiveDir);
      walRuns.push({ tidemark: t, receivewal: r, bytes });
      console.log(`  WAL run ${i + 1}: ${(bytes / mb).toFixed(0)} MB; Tidemark ${t.toFixed(2)} s, pg_receivewal ${r.toFixed(2)} s (${(received / mb).toFixed(0)} MB on disk)`);
      await pg.query('SELECT pg_drop_replication_slot($1), pg_drop_replication_slot($2)', [ours, theirs]);
      await pg.query('TRUNCATE wal_load');
      await rm(walRepoDir, { recursive: true, force: true });
      await rm(receiveDir, { recursive: true, force: true });
    }

    const tSec = median(tidemark.map((x) => x.seconds));
    const bSec = median(baseline.map((x) => x.seconds));
    const bSyncSec = median(baseline.map((x) => x.seconds + x.syncSeconds));
    const rss = Math.max(...tidemark.map((x) => x.maxRssKb)) / 1024;
    const rssMedian = median(tidemark.map((x) => x.maxRssKb)) / 1024;
    const walT = median(walRuns.map((w) => w.bytes / mb / w.tidemark));
    const walR = median(walRuns.map((w) => w.bytes / mb / w.receivewal));
    const table: [string, string, string, string][] = [
      ['', 'Tidemark', 'PostgreSQL tools', 'ratio / target'],
      [
        `base backup, ${(dataBytes / mb).toFixed(0)} MB (median of ${runs})`,
        `${tSec.toFixed(2)} s (${(dataBytes / mb / tSec).toFixed(0)} MB/s)`,
        `${bSec.toFixed(2)} s (${(dataBytes / mb / bSec).toFixed(0)} MB/s)`,
        `${(tSec / bSec).toFixed(2)} (≤ 1.00) ${tSec / bSec <= 1 ? 'met' : 'MISSED'}`,
      ],
      [
        '  same, output fsynced like a zone object',
        '',
        `${bSyncSec.toFixed(2)} s`,
        `${(tSec / bSyncSec).toFixed(2)} (reference)`,
      ],
      [
        'stored (encrypted, lz4)',
        `${(median(tidemark.map((x) => x.stored)) / mb).toFixed(0)} MB (+ manifest)`,
        `${(median(baseline.map((x) => x.stored)) / mb).toFixed(0)} MB`,
        '',
      ],
      ['peak RSS of the backup process (max, median)', `${rss.toFixed(0)} MB, ${rssMedian.toFixed(0)} MB`, '—', `(≤ 150 MB) ${rss <= 150 ? 'met' : 'MISSED'}`],
      [
        `WAL streaming, ${(median(walRuns.map((w) => w.bytes)) / mb).toFixed(0)} MB (median of ${runs})`,
        `${walT.toFixed(0)} MB/s`,
        `${walR.toFixed(0)} MB/s (pg_receivewal)`,
        `${(walR / walT).toFixed(2)} time ratio`,
      ],
    ];
    const widths = table[0]!.map((_, c) => Math.max(...table.map((r) => r[c]!.length)));
    console.log('');
    for (const row of table) console.log(row.map((cell, c) => cell.padEnd(widths[c]!)).join('  ').trimEnd());
    console.log('\nThe machine may be shared with other work: compare the two sides of each run, not absolute numbers.');
  } finally {
    await pg.stop('immediate');
    await dir.cleanup();
    await rm(join(repoRoot, '.tmp', `bench-backup-child-${process.pid}.mjs`), { force: true });
  }
}

const repoRoot = fileURLToPath(new URL('..', import.meta.url));

/**
 * The child runs bundled, as the CLI and the app run (esbuild, dependencies external): under
 * tsx's on-the-fly TypeScript loader the same process would start about 50 MB larger.
 */
async function bundleChild(): Promise<string> {
  const outfile = join(repoRoot, '.tmp', `bench-backup-child-${process.pid}.mjs`);
  await build({
    entryPoints: [fileURLToPath(import.meta.url)],
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    packages: 'external',
    outfile,
    logLevel: 'warning',
  });
  return outfile;
}

if (args.child) {
  const request = JSON.parse(args.child) as ChildRequest;
  if (request.walEnd) await childWal({ ...request, walEnd: request.walEnd });
  else await childBackup(request);
} else await main();
