import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NodeWalObjects } from '../../main/engine/backup/wal-objects.js';
import { findWalResumePoint } from '../../main/engine/backup/wal-resume.js';
import { WalSegmentStore, type WalStoredEvent } from '../../main/engine/backup/wal-segment-store.js';
import { Catalog } from '../../main/engine/catalog/catalog.js';
import { layout } from '../../main/engine/catalog/layout.js';
import { TidemarkError } from '../../main/engine/errors.js';
import { segmentStartLsn, walSegmentFileName } from '../../main/engine/replication/lsn.js';
import { repositoryConfigSchema } from '../../main/engine/repository/repository-config.js';
import { Repository } from '../../main/engine/repository/repository.js';
import { MemoryZone } from '../support/memory-zone.js';
import { tempDir } from '../support/temp-dir.js';

const segmentSize = 1024 * 1024;
const scrypt = { N: 2 ** 10, r: 8, p: 1 };

/**
 * A memory zone whose WAL puts take the whole body, then can be held back (as a slow fsync
 * would) or fail; it counts puts in flight.
 */
class GatedZone extends MemoryZone {
  inFlight = 0;
  maxInFlight = 0;
  failing: TidemarkError | undefined;
  private gate: Promise<void> | undefined;
  private openGate: (() => void) | undefined;

  hold(): void {
    this.gate = new Promise((resolve) => (this.openGate = resolve));
  }

  release(): void {
    this.openGate?.();
    this.gate = undefined;
  }

  override async put(key: string, body: Readable | Buffer, options: { signal?: AbortSignal } = {}): Promise<void> {
    this.inFlight += 1;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      if (!key.includes('/wal/')) return await super.put(key, body, options);
      const parts: Buffer[] = [];
      if (Buffer.isBuffer(body)) parts.push(body);
      else for await (const part of body) parts.push(Buffer.from(part as Buffer));
      await this.gate;
      if (this.failing) throw this.failing;
      return await super.put(key, Buffer.concat(parts), options);
    } finally {
      this.inFlight -= 1;
    }
  }
}

/** Deterministic WAL-looking bytes: each byte a function of its LSN. */
function wal(from: bigint, length: number): Buffer {
  const bytes = Buffer.alloc(length);
  for (let i = 0; i < length; i++) bytes[i] = Number((from + BigInt(i)) % 251n);
  return bytes;
}

describe('WAL segment store and resume point', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  let zone: GatedZone;
  let repository: Repository;
  let catalog: Catalog;
  let objects: NodeWalObjects;

  beforeEach(async () => {
    dir = await tempDir('tidemark-walstore-');
    zone = new GatedZone('z0');
    const config = repositoryConfigSchema.parse({ id: 'r', name: 'r', zones: [{ kind: 'folder', id: 'z0', name: 'z0', path: '/unused' }] });
    repository = await Repository.init({ config, zones: [zone], secret: { passphrase: 'unit test passphrase' }, keyringOptions: { scrypt } });
    catalog = await Catalog.open(repository, join(dir.path, 'index.json'));
    const at = new Date().toISOString();
    await catalog.putCluster({ clusterId: 'c', name: 'c', createdAt: at, coordinator: { host: 'h', port: 5432, database: 'postgres' }, citusVersion: null });
    await catalog.putNode({
      clusterId: 'c', nodeId: 'n1', distNodeId: 1, groupId: 0, role: 'coordinator', name: 'h', port: 5432,
      systemIdentifier: '1', serverVersionNum: 150000, walSegmentSize: segmentSize, firstSeenAt: at, removedAt: null,
    });
    objects = new NodeWalObjects(repository, catalog, 'c', 'n1');
  });

  afterEach(async () => {
    await catalog.close();
    await repository.close();
    await dir.cleanup();
  });

  const name = (segment: bigint, timeline = 1): string => walSegmentFileName(timeline, segment, segmentSize);

  it('stores complete segments and the growing partial, and the stored position never has a hole', async () => {
    const stored: WalStoredEvent[] = [];
    const store = new WalSegmentStore({ objects, segmentSize, flushIntervalMs: 60_000, onStored: (e) => stored.push(e) });
    const start = segmentStartLsn(4n, segmentSize);
    store.begin(1, start);
    expect(store.storedLsn).toBe(start);
    let at = start;
    const push = async (length: number): Promise<void> => {
      await store.push(at, wal(at, length));
      at += BigInt(length);
    };
    await push(300_000);
    await store.flush();
    expect(store.storedLsn).toBe(at);
    expect(catalog.node('c', 'n1')!.walPartials[name(4n)]).toBe(300_000);
    expect((await repository.readObject(layout.walPartial('c', 'n1', name(4n)))).equals(wal(start, 300_000))).toBe(true);

    await push(segmentSize); // completes segment 4, fills part of 5
    await store.drain();
    expect(store.storedLsn).toBe(segmentStartLsn(5n, segmentSize));
    expect(catalog.node('c', 'n1')!.walSegments).toEqual([name(4n)]);
    // the partial is gone once its segment is complete
    expect(catalog.node('c', 'n1')!.walPartials[name(4n)]).toBeUndefined();
    expect(await zone.stat(layout.walPartial('c', 'n1', name(4n)))).toBeNull();
    expect((await repository.readObject(layout.walSegment('c', 'n1', name(4n)))).equals(wal(start, segmentSize))).toBe(true);
    expect(stored.map((e) => `${e.kind} ${e.segment}`)).toEqual([`partial ${name(4n)}`, `segment ${name(4n)}`]);
    store.close();
  });

  it('uploads a segment as it arrives; the stream waits rather than have two segments finishing at once', async () => {
    const store = new WalSegmentStore({ objects, segmentSize, flushIntervalMs: 60_000 });
    store.begin(1, 0n);
    zone.hold(); // uploads take their bytes but do not finish
    await store.push(0n, wal(0n, segmentSize)); // segment 0 went out as it arrived; now it is finishing
    expect(store.storedLsn).toBe(0n);
    const second = store.push(BigInt(segmentSize), wal(BigInt(segmentSize), segmentSize));
    expect(second).toBeInstanceOf(Promise); // segment 1 is complete too: the stream pauses
    let resumed = false;
    void second!.then(() => (resumed = true));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(resumed).toBe(false);
    expect(store.storedLsn).toBe(0n);
    expect(zone.inFlight).toBe(2);
    zone.release();
    await second;
    await store.drain();
    expect(zone.maxInFlight).toBe(2);
    expect(store.storedLsn).toBe(BigInt(2 * segmentSize));
    expect(catalog.node('c', 'n1')!.walSegments).toEqual([name(0n), name(1n)]);
    for (const n of [0n, 1n]) {
      const start = segmentStartLsn(n, segmentSize);
      expect((await repository.readObject(layout.walSegment('c', 'n1', name(n)))).equals(wal(start, segmentSize))).toBe(true);
    }
    store.close();
  });

  it('an incomplete segment never becomes a segment object: its WAL stays a partial', async () => {
    const store = new WalSegmentStore({ objects, segmentSize, flushIntervalMs: 60_000 });
    store.begin(1, 0n);
    store.push(0n, wal(0n, 1000));
    await store.flush();
    await store.drain();
    store.close();
    expect(catalog.node('c', 'n1')!.walSegments).toEqual([]);
    expect(await zone.stat(layout.walSegment('c', 'n1', name(0n)))).toBeNull();
    expect((await repository.readObject(layout.walPartial('c', 'n1', name(0n)))).equals(wal(0n, 1000))).toBe(true);
    expect(store.error).toBeNull();
  });

  it('stops at the first failed upload: nothing after it counts as stored', async () => {
    const errors: Error[] = [];
    const store = new WalSegmentStore({ objects, segmentSize, flushIntervalMs: 60_000, onError: (e) => errors.push(e) });
    store.begin(1, 0n);
    zone.failing = new TidemarkError('zone_unavailable', 'zone down', { retryable: true });
    store.push(0n, wal(0n, segmentSize));
    await store.drain();
    expect(errors).toHaveLength(1);
    expect(store.error).toBe(errors[0]);
    expect(store.storedLsn).toBe(0n);
    expect(() => store.push(BigInt(segmentSize), wal(BigInt(segmentSize), 10))).toThrow('zone down');
    await expect(store.flush()).rejects.toThrow('zone down');
    store.close();
  });

  it('a resumed segment is not stored again until it grew past its stored partial', async () => {
    const store = new WalSegmentStore({ objects, segmentSize, flushIntervalMs: 60_000 });
    await objects.putPartial(name(2n), wal(segmentStartLsn(2n, segmentSize), 5000));
    store.begin(1, segmentStartLsn(2n, segmentSize), 5000);
    expect(store.storedLsn).toBe(segmentStartLsn(2n, segmentSize) + 5000n);
    const start = segmentStartLsn(2n, segmentSize);
    store.push(start, wal(start, 4000));
    await store.flush();
    // a shorter prefix would make the repository's WAL shrink: it is not written
    expect((await repository.readObject(layout.walPartial('c', 'n1', name(2n)))).length).toBe(5000);
    store.push(start + 4000n, wal(start + 4000n, 2000));
    await store.flush();
    expect((await repository.readObject(layout.walPartial('c', 'n1', name(2n)))).equals(wal(start, 6000))).toBe(true);
    store.close();
  });

  it('finds where to resume: after the last complete segment, at a stored partial, a gap end or a new timeline', async () => {
    expect(await findWalResumePoint(objects, segmentSize)).toBeNull();
    for (const n of [3n, 4n, 5n]) await objects.putSegment(name(n), wal(segmentStartLsn(n, segmentSize), segmentSize));
    await objects.putPartial(name(6n), Buffer.alloc(777));
    expect(await findWalResumePoint(objects, segmentSize)).toEqual({
      timeline: 1,
      startLsn: segmentStartLsn(6n, segmentSize),
      partialBytes: 777,
      storedEnd: segmentStartLsn(6n, segmentSize) + 777n,
    });

    // segments written by a process killed before its index was saved: found in the zones
    await repository.putObject(layout.walSegment('c', 'n1', name(6n)), Buffer.alloc(segmentSize));
    await repository.putObject(layout.walSegment('c', 'n1', name(7n)), Buffer.alloc(segmentSize));
    await repository.putObject(layout.walPartial('c', 'n1', name(8n)), Buffer.alloc(99));
    expect(await findWalResumePoint(objects, segmentSize)).toMatchObject({ timeline: 1, startLsn: segmentStartLsn(8n, segmentSize), partialBytes: 99 });
    expect(catalog.node('c', 'n1')!.walSegments).toEqual([name(3n), name(4n), name(5n), name(6n), name(7n)]);

    // a recorded gap moves the point to its end
    await catalog.putGap({ clusterId: 'c', nodeId: 'n1', timeline: 1, fromLsn: '0/8000063', toLsn: '0/C00000', detectedAt: new Date().toISOString(), reason: 'test' });
    expect(await findWalResumePoint(objects, segmentSize)).toMatchObject({ timeline: 1, startLsn: 0xc00000n, partialBytes: 0 });

    // a history file of timeline 2, nothing streamed on it yet: resume at its branch point
    await repository.putObject(layout.walHistory('c', 'n1', 2), Buffer.from('1\t0/D12345\tno recovery target specified\n'));
    const point = await findWalResumePoint(objects, segmentSize);
    expect(point).toMatchObject({ timeline: 2, startLsn: 0xd00000n, partialBytes: 0 });
    expect(catalog.node('c', 'n1')!.histories).toEqual([2]);
  });
});
