import { chmod, mkdir, readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WalArchiver, type WalArchiverEvent } from '../../main/engine/backup/wal-archiver.js';
import { layout } from '../../main/engine/catalog/layout.js';
import { parseLsn, parseWalSegmentFileName, segmentStartOf } from '../../main/engine/replication/lsn.js';
import { createTestRepository, endpointOf, waitFor } from '../support/backup-fixtures.js';
import { PgInstance, postgresAvailable, runPg } from '../support/postgres.js';
import { tempDir } from '../support/temp-dir.js';

const segmentSize = 16 * 1024 * 1024;

async function lsnOf(pg: PgInstance, sql: string): Promise<bigint> {
  const [row] = await pg.query<{ lsn: string }>(sql);
  return parseLsn(row?.lsn ?? '0/0');
}

describe.skipIf(!postgresAvailable())('WAL archiver across a timeline switch', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  let primary: PgInstance;
  let standby: PgInstance;

  beforeAll(async () => {
    dir = await tempDir('tidemark-waltl-');
    primary = await PgInstance.create({ dir: join(dir.path, 'primary'), conf: { wal_keep_size: `'512MB'` } });
    await primary.query('CREATE TABLE t (id int, note text)');
    const standbyDir = join(dir.path, 'standby');
    await mkdir(standbyDir);
    await chmod(standbyDir, 0o777);
    await runPg('pg_basebackup', [
      '-d', `host=${primary.host} port=${primary.port} user=postgres password=${primary.password}`,
      '-D', join(standbyDir, 'data'), '-R', '-X', 'stream', '-c', 'fast',
    ]);
    standby = await PgInstance.adopt(standbyDir, join(standbyDir, 'data'));
    await standby.start();
  });

  afterAll(async () => {
    await standby?.stop();
    await primary?.stop();
    await dir?.cleanup();
  });

  it('streams from a standby, follows its promotion onto timeline 2, and keeps streaming', async () => {
    const repo = await createTestRepository(join(dir.path, 'repo'));
    const events: WalArchiverEvent[] = [];
    const options = { endpoint: endpointOf(standby, { clusterId: 'tl' }), repository: repo.repository, catalog: repo.catalog, flushIntervalMs: 300, onEvent: (e: WalArchiverEvent) => events.push(e) };
    const archiver = new WalArchiver(options);
    archiver.start();
    await archiver.waitUntilStreaming({ timeoutMs: 20_000 });
    await primary.query("INSERT INTO t SELECT g, 'before ' || g FROM generate_series(1, 50000) g");
    const beforePromotion = await lsnOf(primary, 'SELECT pg_current_wal_lsn()::text AS lsn');
    await archiver.waitUntilStored(beforePromotion, 1, { timeoutMs: 20_000 });
    expect(archiver.status().timeline).toBe(1);

    await primary.stop();
    await runPg('pg_ctl', ['-D', standby.dataDir, '-w', 'promote']);
    await waitFor(async () => (await standby.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r'))[0]?.r === false, 20_000, 'the promotion');
    await standby.query("INSERT INTO t SELECT g, 'after ' || g FROM generate_series(1, 50000) g");
    const switched = await lsnOf(standby, 'SELECT pg_switch_wal()::text AS lsn');
    const segmentEnd = segmentStartOf(switched, segmentSize) + BigInt(segmentSize);
    await archiver.waitUntilStored(segmentEnd, 2, { timeoutMs: 30_000 });
    expect(archiver.status()).toMatchObject({ state: 'streaming', timeline: 2 });

    const node = repo.catalog.node('tl', 'n1')!;
    expect(node.histories).toEqual([2]);
    expect(node.gaps).toEqual([]);
    const history = await repo.repository.readObject(layout.walHistory('tl', 'n1', 2));
    expect(history.equals(await readFile(join(standby.dataDir, 'pg_wal', '00000002.history')))).toBe(true);

    const onServer = new Set(await readdir(join(standby.dataDir, 'pg_wal')));
    const onTimeline2 = node.walSegments.filter((s) => s.startsWith('00000002'));
    expect(onTimeline2.length).toBeGreaterThanOrEqual(1);
    for (const name of onTimeline2) {
      if (!onServer.has(name)) continue;
      const ours = await repo.repository.readObject(layout.walSegment('tl', 'n1', name));
      expect(ours.equals(await readFile(join(standby.dataDir, 'pg_wal', name))), name).toBe(true);
    }
    // timeline 1's last segment stays a partial, as PostgreSQL keeps it as .partial
    const oldPartial = Object.keys(node.walPartials).find((s) => s.startsWith('00000001') && !node.walSegments.includes(s));
    expect(oldPartial).toBeDefined();
    const prefix = await repo.repository.readObject(layout.walPartial('tl', 'n1', oldPartial!));
    // the stopped primary wrote that segment: its bytes up to the switch are the same
    const serverPartial = await readFile(join(primary.dataDir, 'pg_wal', oldPartial!));
    expect(prefix.equals(serverPartial.subarray(0, prefix.length))).toBe(true);
    // the new timeline's first segment carries the old timeline's bytes up to the switch
    const branch = parseWalSegmentFileName(oldPartial!, segmentSize)!;
    const firstOfTimeline2 = onTimeline2.find((s) => parseWalSegmentFileName(s, segmentSize)!.segmentNumber === branch.segmentNumber);
    expect(firstOfTimeline2).toBeDefined();
    const tl2 = await repo.repository.readObject(layout.walSegment('tl', 'n1', firstOfTimeline2!));
    expect(tl2.subarray(0, prefix.length).equals(prefix)).toBe(true);

    // a restart resumes on timeline 2
    await archiver.stop();
    await standby.query("INSERT INTO t SELECT g, 'later ' || g FROM generate_series(1, 50000) g");
    const later = await lsnOf(standby, 'SELECT pg_switch_wal()::text AS lsn');
    const again = new WalArchiver(options);
    again.start();
    await again.waitUntilStored(segmentStartOf(later, segmentSize) + BigInt(segmentSize), 2, { timeoutMs: 30_000 });
    expect(again.status().timeline).toBe(2);
    expect(repo.catalog.node('tl', 'n1')!.gaps).toEqual([]);
    await again.stop();
    await repo.close();
  });
});
