import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { walSlotName } from '../../main/engine/backup/slot-name.js';
import { WalArchiver, type WalArchiverEvent } from '../../main/engine/backup/wal-archiver.js';
import { layout } from '../../main/engine/catalog/layout.js';
import { parseLsn, parseWalSegmentFileName, segmentStartOf } from '../../main/engine/replication/lsn.js';
import { ReplicationConnection } from '../../main/engine/replication/replication-connection.js';
import { startWalStream } from '../../main/engine/replication/wal-receiver.js';
import { createTestRepository, endpointOf, waitFor, type TestRepository } from '../support/backup-fixtures.js';
import { PgInstance, postgresAvailable } from '../support/postgres.js';
import { tempDir } from '../support/temp-dir.js';

const segmentSize = 16 * 1024 * 1024;

/** Switches to a new segment; returns the end of the segment it completed. */
async function switchWal(pg: PgInstance): Promise<bigint> {
  const [row] = await pg.query<{ lsn: string }>('SELECT pg_switch_wal()::text AS lsn');
  return segmentStartOf(parseLsn(row?.lsn ?? '0/0'), segmentSize) + BigInt(segmentSize);
}

async function currentLsn(pg: PgInstance): Promise<bigint> {
  const [row] = await pg.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn');
  return parseLsn(row?.lsn ?? '0/0');
}

/** Every stored complete segment equals the server's pg_wal file; returns how many were compared. */
async function compareSegments(repo: TestRepository, pg: PgInstance, clusterId = 'c1', nodeId = 'n1'): Promise<number> {
  const node = repo.catalog.node(clusterId, nodeId);
  const onServer = new Set(await readdir(join(pg.dataDir, 'pg_wal')));
  let compared = 0;
  for (const name of node?.walSegments ?? []) {
    if (!onServer.has(name)) continue;
    const ours = await repo.repository.readObject(layout.walSegment(clusterId, nodeId, name));
    const theirs = await readFile(join(pg.dataDir, 'pg_wal', name));
    expect(ours.length, name).toBe(segmentSize);
    expect(ours.equals(theirs), `${name} differs from the server's pg_wal`).toBe(true);
    compared += 1;
  }
  return compared;
}

/** The stored complete segments of a timeline form one run without holes. */
function assertContiguous(names: string[], timeline: number): void {
  const numbers = names
    .map((n) => parseWalSegmentFileName(n, segmentSize))
    .filter((p) => p?.timeline === timeline)
    .map((p) => p!.segmentNumber)
    .sort((a, b) => (a < b ? -1 : 1));
  for (let i = 1; i < numbers.length; i++) expect(numbers[i]! - numbers[i - 1]!, `hole before segment ${numbers[i]}`).toBe(1n);
}

describe.skipIf(!postgresAvailable())('WAL archiver on a real server', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  let pg: PgInstance;

  beforeAll(async () => {
    dir = await tempDir('tidemark-walarch-');
    // wal_keep_size keeps the server's segments around to compare with
    pg = await PgInstance.create({ dir: join(dir.path, 'pg'), conf: { wal_keep_size: `'1GB'` } });
    await pg.pgbench(['-i', '-s', '1', '-q']);
  });

  afterAll(async () => {
    await pg?.stop();
    await dir?.cleanup();
  });

  it('stores segments byte-identical to pg_wal and partials, moves the slot only over stored WAL, and resumes without gap or duplicate', async () => {
    const repo = await createTestRepository(join(dir.path, 'r1'), { folderZones: 2 });
    const events: WalArchiverEvent[] = [];
    const archiver = new WalArchiver({
      endpoint: endpointOf(pg),
      repository: repo.repository,
      catalog: repo.catalog,
      flushIntervalMs: 300,
      statusIntervalMs: 200,
      onEvent: (e) => events.push(e),
    });
    archiver.start();
    await archiver.waitUntilStreaming({ timeoutMs: 20_000 });
    const slot = walSlotName('c1', 'n1');
    expect(slot).toBe('tidemark_c1_n1');
    const walsenders = await pg.query<{ application_name: string }>('SELECT application_name FROM pg_stat_replication');
    expect(walsenders.map((w) => w.application_name)).toContain('tidemark-wal c1/n1');

    await pg.pgbench(['-t', '200', '-c', '2', '-n']);
    await pg.query('CREATE TABLE filler AS SELECT g, md5(g::text) AS h FROM generate_series(1, 150000) g');
    const switched = await switchWal(pg);
    await archiver.waitUntilStored(switched, 1, { timeoutMs: 30_000 });
    expect(await compareSegments(repo, pg)).toBeGreaterThanOrEqual(2);

    // a partial appears within the flush interval and is a prefix of the server's file
    await pg.query('INSERT INTO filler SELECT g, md5(g::text) FROM generate_series(1, 2000) g');
    const target = await currentLsn(pg);
    await waitFor(() => parseLsn(archiver.status().storedLsn ?? '0/0') >= target, 10_000, 'the partial to be stored');
    const node = repo.catalog.node('c1', 'n1')!;
    const [partialName, partialBytes] = Object.entries(node.walPartials).find(([name]) => !node.walSegments.includes(name))!;
    const partial = await repo.repository.readObject(layout.walPartial('c1', 'n1', partialName));
    expect(partial.length).toBe(partialBytes);
    const serverFile = await readFile(join(pg.dataDir, 'pg_wal', partialName));
    expect(partial.equals(serverFile.subarray(0, partial.length))).toBe(true);

    // the slot holds exactly what is not stored yet
    const stored = archiver.status().storedLsn!;
    await waitFor(
      async () => (await pg.query<{ lsn: string }>('SELECT restart_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name = $1', [slot]))[0]?.lsn === stored,
      10_000,
      'restart_lsn to follow the stored position',
    );

    // graceful stop: what was received is stored and reported
    await pg.query('INSERT INTO filler SELECT g, md5(g::text) FROM generate_series(1, 500) g');
    const beforeStop = await currentLsn(pg);
    await waitFor(() => parseLsn(archiver.status().receivedLsn ?? '0/0') >= beforeStop, 10_000, 'the WAL to be received');
    await archiver.stop();
    expect(archiver.status().state).toBe('stopped');
    expect(parseLsn(archiver.status().storedLsn!)).toBeGreaterThanOrEqual(beforeStop);
    const [slotRow] = await pg.query<{ active: boolean; lsn: string }>('SELECT active, restart_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name = $1', [slot]);
    expect(slotRow).toMatchObject({ active: false, lsn: archiver.status().storedLsn });

    // WAL written while stopped comes on restart, in a new process (catalog reopened from disk)
    await pg.query('INSERT INTO filler SELECT g, md5(g::text) FROM generate_series(1, 100000) g');
    const whileStopped = await switchWal(pg);
    await repo.close();
    const reopened = await repo.reopen();
    const again = new WalArchiver({ endpoint: endpointOf(pg), repository: reopened.repository, catalog: reopened.catalog, flushIntervalMs: 300 });
    again.start();
    await again.waitUntilStored(whileStopped, 1, { timeoutMs: 30_000 });
    await again.stop();
    const after = reopened.catalog.node('c1', 'n1')!;
    assertContiguous(after.walSegments, 1);
    expect(after.gaps).toEqual([]);
    expect(await compareSegments(reopened, pg)).toBeGreaterThanOrEqual(after.walSegments.length - 1);
    // a completed segment's partial is gone from every zone
    for (const name of after.walSegments) expect(after.walPartials[name]).toBeUndefined();
    const listing = await reopened.repository.list(layout.walPrefix('c1', 'n1'));
    const partialKeys = listing.objects.map((o) => o.key).filter((k) => k.endsWith('.partial'));
    for (const key of partialKeys) expect(after.walSegments.some((s) => key.endsWith(`${s}.partial`))).toBe(false);
    expect(events.some((e) => e.type === 'wal.gap')).toBe(false);
    await reopened.close();
  });

  it('keeps up with a pgbench write load (lag reported)', async () => {
    const repo = await createTestRepository(join(dir.path, 'r-load'), { folderZones: 2 });
    const archiver = new WalArchiver({ endpoint: endpointOf(pg, { clusterId: 'load' }), repository: repo.repository, catalog: repo.catalog, flushIntervalMs: 1000 });
    archiver.start();
    // first catch up with the WAL the new slot reserved
    await archiver.waitUntilStored(await currentLsn(pg), 1, { timeoutMs: 20_000 });
    const start = await currentLsn(pg);
    const samples: number[] = [];
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const server = await currentLsn(pg);
        const stored = parseLsn(archiver.status().storedLsn ?? '0/0');
        samples.push(Number(server > stored ? server - stored : 0n));
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    })();
    const loadStarted = Date.now();
    await pg.pgbench(['-c', '4', '-j', '2', '-T', '8', '-n', '-N', '-M', 'prepared']);
    const loadSeconds = (Date.now() - loadStarted) / 1000;
    const end = await currentLsn(pg);
    const caughtUpFrom = Date.now();
    await archiver.waitUntilStored(end, 1, { timeoutMs: 20_000 });
    const catchUpMs = Date.now() - caughtUpFrom;
    sampling = false;
    await sampler;
    const written = Number(end - start);
    const maxLag = Math.max(...samples);
    const meanLag = samples.reduce((a, b) => a + b, 0) / samples.length;
    console.log(
      `pgbench load: ${(written / 1024 / 1024).toFixed(1)} MB of WAL in ${loadSeconds.toFixed(1)} s (${(written / 1024 / 1024 / loadSeconds).toFixed(1)} MB/s); ` +
        `stored-vs-server lag: mean ${(meanLag / 1024).toFixed(0)} kB, max ${(maxLag / 1024).toFixed(0)} kB over ${samples.length} samples; caught up ${catchUpMs} ms after the load ended`,
    );
    expect(written).toBeGreaterThan(4 * 1024 * 1024);
    // the partial flush runs every second: the stream never falls more than a few seconds of WAL behind
    expect(maxLag).toBeLessThan(Math.max(2 * segmentSize, (written / loadSeconds) * 4));
    expect(catchUpMs).toBeLessThan(5000);
    await archiver.stop();
    assertContiguous(repo.catalog.node('load', 'n1')!.walSegments, 1);
    expect(await compareSegments(repo, pg, 'load')).toBeGreaterThanOrEqual(1);
    await repo.close();
  });

  it('refuses a slot another process streams from, naming it', async () => {
    const repo = await createTestRepository(join(dir.path, 'r2'));
    const endpoint = endpointOf(pg, { clusterId: 'c2' });
    const slot = walSlotName('c2', 'n1');
    const other = await ReplicationConnection.open({ host: pg.host, port: pg.port, user: pg.user, password: pg.password, ssl: { mode: 'disable' }, applicationName: 'other tidemark', connectTimeoutMs: 5000 });
    await other.createPhysicalSlot(slot, { reserveWal: true });
    const { restartLsn } = (await other.readSlot(slot))!;
    const stop = new AbortController();
    const holding = startWalStream(other, {
      slot,
      startLsn: (restartLsn! / BigInt(segmentSize)) * BigInt(segmentSize),
      timeline: 1,
      onData: () => undefined,
      getFlushedLsn: () => 0n,
      signal: stop.signal,
    });
    holding.catch(() => undefined);
    await waitFor(async () => (await pg.query('SELECT 1 FROM pg_replication_slots WHERE slot_name = $1 AND active', [slot])).length === 1, 10_000, 'the other stream');
    const archiver = new WalArchiver({ endpoint, repository: repo.repository, catalog: repo.catalog, slotReleaseWaitMs: 500 });
    archiver.start();
    const err = await archiver.waitUntilStreaming({ timeoutMs: 20_000 }).then(() => null, (e: unknown) => e as { code: string; message: string });
    expect(err?.code).toBe('conflict');
    expect(err?.message).toContain('"other tidemark"');
    expect(err?.message).toMatch(/process \d+ from 127\.0\.0\.1/);
    expect(err?.message).toContain('Two Tidemarks must never stream the same node');
    expect(err?.message).toContain(`node n1 (coordinator ${pg.host}:${pg.port})`);
    expect(archiver.status()).toMatchObject({ state: 'failed', lastError: { code: 'conflict' } });
    stop.abort();
    await other.close();
    await archiver.stop();
    await repo.close();
  });

  it('warns when the slot retains more WAL than the threshold', async () => {
    const repo = await createTestRepository(join(dir.path, 'r3'));
    const events: WalArchiverEvent[] = [];
    const archiver = new WalArchiver({
      endpoint: endpointOf(pg, { clusterId: 'c3' }),
      repository: repo.repository,
      catalog: repo.catalog,
      // nothing is stored for a minute: the slot keeps everything written meanwhile
      flushIntervalMs: 60_000,
      backlogIntervalMs: 200,
      backlogThresholdBytes: 1024 * 1024,
      onEvent: (e) => events.push(e),
    });
    archiver.start();
    await archiver.waitUntilStreaming({ timeoutMs: 20_000 });
    await pg.query('INSERT INTO filler SELECT g, md5(g::text) FROM generate_series(1, 60000) g');
    await waitFor(() => events.some((e) => e.type === 'wal.backlog'), 10_000, 'the backlog warning');
    const warning = events.find((e) => e.type === 'wal.backlog');
    expect(warning).toMatchObject({ slot: 'tidemark_c3_n1', thresholdBytes: 1024 * 1024 });
    if (warning?.type !== 'wal.backlog') throw new Error('no warning');
    expect(warning.backlogBytes).toBeGreaterThan(1024 * 1024);
    expect(warning.message).toMatch(/holds \d+(\.\d)? MiB of WAL on cluster "c3" node n1 .*pg_wal will fill/);
    expect(archiver.status().backlogBytes).toBeGreaterThan(1024 * 1024);
    await archiver.stop();
    await repo.close();
  });
});
