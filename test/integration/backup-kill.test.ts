import { spawn, type ChildProcess } from 'node:child_process';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { backupNode } from '../../main/engine/backup/base-backup-job.js';
import { WalArchiver } from '../../main/engine/backup/wal-archiver.js';
import { layout } from '../../main/engine/catalog/layout.js';
import { parseLsn, parseWalSegmentFileName, segmentStartOf } from '../../main/engine/replication/lsn.js';
import { createTestRepository, endpointOf, openTestRepository, waitFor } from '../support/backup-fixtures.js';
import { PgInstance, postgresAvailable } from '../support/postgres.js';
import { tempDir } from '../support/temp-dir.js';

const segmentSize = 16 * 1024 * 1024;
const childScript = fileURLToPath(new URL('../support/backup-child.ts', import.meta.url));
const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

/** The child in its own process group: SIGKILL reaches npx, tsx and node alike. */
class Child {
  readonly lines: string[] = [];
  readonly exited: Promise<number | null>;
  private readonly process: ChildProcess;

  constructor(config: Record<string, unknown>) {
    this.process = spawn('npx', ['tsx', childScript, JSON.stringify(config)], { cwd: repoRoot, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let buffered = '';
    this.process.stdout!.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const parts = buffered.split('\n');
      buffered = parts.pop() ?? '';
      this.lines.push(...parts);
    });
    this.process.stderr!.on('data', () => undefined);
    this.exited = new Promise((resolve) => this.process.once('exit', (code) => resolve(code)));
  }

  async waitForLine(pattern: RegExp, timeoutMs: number): Promise<string> {
    await waitFor(() => this.lines.some((l) => pattern.test(l)) || this.lines.some((l) => l.startsWith('error ')), timeoutMs, `a line matching ${pattern}`);
    const error = this.lines.find((l) => l.startsWith('error '));
    if (error) throw new Error(`the child failed: ${error}`);
    return this.lines.find((l) => pattern.test(l))!;
  }

  get pid(): number {
    return this.process.pid!;
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    try {
      process.kill(-this.pid, signal);
    } catch {
      // already gone
    }
    await this.exited;
  }
}

describe.skipIf(!postgresAvailable())('engine killed with SIGKILL', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  let pg: PgInstance;
  const children: Child[] = [];

  beforeAll(async () => {
    dir = await tempDir('tidemark-backupkill-');
    pg = await PgInstance.create({ dir: join(dir.path, 'pg'), conf: { wal_keep_size: `'1GB'` } });
    await pg.pgbench(['-i', '-s', '3', '-q']);
    await pg.query('CREATE TABLE load (id bigserial, h text)');
  });

  afterEach(async () => {
    for (const child of children.splice(0)) await child.kill();
  });

  afterAll(async () => {
    await pg?.stop();
    await dir?.cleanup();
  });

  function start(config: Record<string, unknown>): Child {
    const child = new Child({ host: pg.host, port: pg.port, user: pg.user, password: pg.password, ...config });
    children.push(child);
    return child;
  }

  it('mid-stream: the stream resumes with no gap, byte for byte against pg_wal', async () => {
    const repoDir = join(dir.path, 'stream-repo');
    const created = await createTestRepository(repoDir, { folderZones: 2 });
    await created.close();
    const config = { mode: 'stream', repoDir, folderZones: 2, clusterId: 'kill', flushIntervalMs: 300 };

    const first = start(config);
    await first.waitForLine(/^streaming$/, 60_000);
    // WAL flows while the process is killed: some segments complete, one is partial
    const load = pg.query("INSERT INTO load (h) SELECT md5(g::text) FROM generate_series(1, 400000) g");
    await waitFor(() => first.lines.filter((l) => l.startsWith('stored ')).length >= 3, 60_000, 'WAL to be stored');
    await first.kill('SIGKILL');
    await load;
    await pg.query("INSERT INTO load (h) SELECT md5(g::text) FROM generate_series(1, 100000) g");
    const [row] = await pg.query<{ lsn: string }>('SELECT pg_switch_wal()::text AS lsn');
    const target = segmentStartOf(parseLsn(row!.lsn), segmentSize) + BigInt(segmentSize);

    const second = start(config);
    await waitFor(() => second.lines.some((l) => l.startsWith('stored 1 ') && parseLsn(l.split(' ')[2]!) >= target), 60_000, 'the resumed stream to pass the switch');
    await second.kill('SIGTERM');
    expect(second.lines.some((l) => l.startsWith('gap '))).toBe(false);

    // the zones are the truth: rebuild the catalog from them
    const repo = await openTestRepository(repoDir, { folderZones: 2 });
    await repo.catalog.rebuild();
    const node = repo.catalog.node('kill', 'n1')!;
    expect(node.gaps).toEqual([]);
    const numbers = node.walSegments.map((n) => parseWalSegmentFileName(n, segmentSize)!.segmentNumber);
    expect(numbers.length).toBeGreaterThanOrEqual(3);
    for (let i = 1; i < numbers.length; i++) expect(numbers[i]! - numbers[i - 1]!, `hole before ${node.walSegments[i]}`).toBe(1n);
    expect(segmentStartOf(target - 1n, segmentSize)).toBe((numbers.at(-1)! * BigInt(segmentSize)));
    const onServer = new Set(await readdir(join(pg.dataDir, 'pg_wal')));
    for (const name of node.walSegments) {
      expect(onServer.has(name), `${name} still on the server`).toBe(true);
      const ours = await repo.repository.readObject(layout.walSegment('kill', 'n1', name));
      expect(ours.equals(await readFile(join(pg.dataDir, 'pg_wal', name))), `${name} differs from pg_wal`).toBe(true);
    }
    for (const [name, bytes] of Object.entries(node.walPartials)) {
      const prefix = await repo.repository.readObject(layout.walPartial('kill', 'n1', name));
      expect(prefix.length).toBe(bytes);
      expect(prefix.equals((await readFile(join(pg.dataDir, 'pg_wal', name))).subarray(0, bytes)), `${name}.partial`).toBe(true);
    }
    await repo.close();
  });

  it('mid-backup: no partial backup looks complete, and a retry succeeds', async () => {
    const repoDir = join(dir.path, 'backup-repo');
    const created = await createTestRepository(repoDir);
    await created.close();
    const child = start({ mode: 'backup', repoDir, clusterId: 'killb', maxRateKbPerSec: 4096 });
    await waitFor(() => child.lines.some((l) => l.startsWith('progress ') && Number(l.split(' ')[1]) > 8 * 1024 * 1024), 60_000, 'the backup to be under way');
    await child.kill('SIGKILL');
    expect(child.lines.some((l) => l.startsWith('done '))).toBe(false);

    const repo = await openTestRepository(repoDir);
    await repo.catalog.rebuild();
    expect(repo.catalog.node('killb', 'n1')!.backups).toEqual([]);
    const listing = await repo.repository.list(layout.backupsPrefix('killb', 'n1'));
    expect(listing.objects.some((o) => o.key.endsWith('/backup.json'))).toBe(false);

    const endpoint = endpointOf(pg, { clusterId: 'killb' });
    const archiver = new WalArchiver({ endpoint, repository: repo.repository, catalog: repo.catalog });
    const record = await backupNode({ endpoint, repository: repo.repository, catalog: repo.catalog, archiver }, { compression: 'none' });
    await archiver.stop();
    await repo.catalog.rebuild();
    expect(repo.catalog.node('killb', 'n1')!.backups.map((b) => b.backupId)).toEqual([record.backupId]);
    expect(repo.catalog.node('killb', 'n1')!.gaps).toEqual([]);
    await repo.close();
  });

  it('a backup while another Tidemark process streams the node waits for that WAL in the repository', async () => {
    const repoDir = join(dir.path, 'shared-repo');
    const created = await createTestRepository(repoDir);
    await created.close();
    const streamer = start({ mode: 'stream', repoDir, clusterId: 'shared', flushIntervalMs: 500 });
    await streamer.waitForLine(/^streaming$/, 60_000);

    const repo = await openTestRepository(repoDir);
    const endpoint = endpointOf(pg, { clusterId: 'shared' });
    const archiver = new WalArchiver({ endpoint, repository: repo.repository, catalog: repo.catalog, slotReleaseWaitMs: 300 });
    const record = await backupNode({ endpoint, repository: repo.repository, catalog: repo.catalog, archiver }, { compression: 'lz4', walTimeoutMs: 60_000 });
    // our own stream gave way to the other process's
    expect(archiver.status()).toMatchObject({ state: 'failed', lastError: { code: 'conflict' } });
    expect(streamer.lines.some((l) => l.startsWith('error '))).toBe(false);
    const endSegment = parseWalSegmentFileName(
      (await pg.query<{ name: string }>('SELECT pg_walfile_name($1::pg_lsn) AS name', [record.endLsn]))[0]!.name,
      segmentSize,
    )!;
    await repo.catalog.rebuild();
    const node = repo.catalog.node('shared', 'n1')!;
    expect(node.backups.map((b) => b.backupId)).toEqual([record.backupId]);
    const stored = node.walSegments.map((n) => parseWalSegmentFileName(n, segmentSize)!.segmentNumber);
    const partialReach = Object.entries(node.walPartials).map(([n, bytes]) => parseWalSegmentFileName(n, segmentSize)!.startLsn + BigInt(bytes));
    const reach = [...stored.map((n) => (n + 1n) * BigInt(segmentSize)), ...partialReach].reduce((a, b) => (b > a ? b : a), 0n);
    expect(reach).toBeGreaterThanOrEqual(parseLsn(record.endLsn));
    expect(stored).toContain(endSegment.segmentNumber);
    await streamer.kill('SIGTERM');
    await repo.close();
  });
});
