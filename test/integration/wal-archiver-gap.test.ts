import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WalArchiver, type WalArchiverEvent } from '../../main/engine/backup/wal-archiver.js';
import { layout } from '../../main/engine/catalog/layout.js';
import { walGapRecordSchema } from '../../main/engine/catalog/records.js';
import { parseLsn, parseWalSegmentFileName, segmentStartOf } from '../../main/engine/replication/lsn.js';
import { createTestRepository, endpointOf, waitFor } from '../support/backup-fixtures.js';
import { PgInstance, postgresAvailable } from '../support/postgres.js';
import { tempDir } from '../support/temp-dir.js';

const segmentSize = 16 * 1024 * 1024;

describe.skipIf(!postgresAvailable())('WAL the server no longer has', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  let pg: PgInstance;

  beforeAll(async () => {
    dir = await tempDir('tidemark-walgap-');
    // nothing but the slot keeps WAL: once it is gone, checkpoints remove old segments
    pg = await PgInstance.create({ dir: join(dir.path, 'pg'), conf: { wal_keep_size: 0, min_wal_size: `'32MB'`, max_wal_size: `'64MB'` } });
  });

  afterAll(async () => {
    await pg?.stop();
    await dir?.cleanup();
  });

  it('records a gap from the stored end to where the server can resume, raises the alert, and streams on', async () => {
    const repo = await createTestRepository(join(dir.path, 'repo'));
    const events: WalArchiverEvent[] = [];
    const options = { endpoint: endpointOf(pg), repository: repo.repository, catalog: repo.catalog, flushIntervalMs: 300, onEvent: (e: WalArchiverEvent) => events.push(e) };
    const first = new WalArchiver(options);
    first.start();
    await pg.query('CREATE TABLE t (id int, h text)');
    await pg.query('INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 20000) g');
    const [row] = await pg.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn');
    await first.waitUntilStored(parseLsn(row!.lsn), 1, { timeoutMs: 20_000 });
    await first.stop();
    const storedEnd = parseLsn(first.status().storedLsn!);

    // someone drops the slot; the server then recycles the WAL Tidemark has not archived
    await pg.query('SELECT pg_drop_replication_slot($1)', ['tidemark_c1_n1']);
    for (let i = 0; i < 6; i++) {
      await pg.query('INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 20000) g');
      await pg.query('SELECT pg_switch_wal()');
      await pg.query('CHECKPOINT');
    }

    const second = new WalArchiver(options);
    second.start();
    await waitFor(() => events.some((e) => e.type === 'wal.gap'), 20_000, 'the gap alert');
    const gapEvent = events.find((e) => e.type === 'wal.gap');
    if (gapEvent?.type !== 'wal.gap') throw new Error('no gap event');
    expect(events.some((e) => e.type === 'wal.warning' && /was missing although WAL was archived before/.test(e.message))).toBe(true);
    const gaps = repo.catalog.node('c1', 'n1')!.gaps;
    expect(gaps).toHaveLength(1);
    const gap = gaps[0]!;
    expect(parseLsn(gap.fromLsn)).toBe(storedEnd);
    const to = parseLsn(gap.toLsn);
    expect(to).toBe(segmentStartOf(to, segmentSize));
    expect(to).toBeGreaterThan(storedEnd);
    expect(gap.reason).toMatch(/has already been removed/);
    expect(gapEvent.message).toContain(`from ${gap.fromLsn} to ${gap.toLsn} is missing`);
    expect(gapEvent.message).toContain('Take a new base backup');
    // the gap is durable: it is in the repository, not only in the local index
    expect(await repo.repository.readRecord(layout.walGap('c1', 'n1', gap.timeline, gap.fromLsn.replace('/', '-')), walGapRecordSchema)).toMatchObject({ toLsn: gap.toLsn });

    // and streaming goes on from the gap's end
    await pg.query('INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 5000) g');
    const [switched] = await pg.query<{ lsn: string }>('SELECT pg_switch_wal()::text AS lsn');
    // the switch completes its segment: wait for the whole of it
    await second.waitUntilStored(segmentStartOf(parseLsn(switched!.lsn), segmentSize) + BigInt(segmentSize), 1, { timeoutMs: 20_000 });
    const [current] = await pg.query<{ name: string }>('SELECT pg_walfile_name(pg_current_wal_lsn()) AS name');
    const node = repo.catalog.node('c1', 'n1')!;
    const newest = node.walSegments.at(-1)!;
    // the first segment after the gap is stored whole
    expect(node.walSegments.some((s) => parseWalSegmentFileName(s, segmentSize)?.startLsn === to)).toBe(true);
    if (newest < current!.name) {
      const ours = await repo.repository.readObject(layout.walSegment('c1', 'n1', newest));
      expect(ours.equals(await readFile(join(pg.dataDir, 'pg_wal', newest)))).toBe(true);
    }
    await second.stop();
    await repo.close();
  });
});
