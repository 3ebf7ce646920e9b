import { randomBytes } from 'node:crypto';
import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TidemarkError } from '../../main/engine/errors.js';
import type { Zone, ZoneObjectInfo, ZoneProbe } from '../../main/engine/repository/zone.js';
import { FolderZone } from '../../main/engine/repository/zones/folder-zone.js';
import { ZoneSet } from '../../main/engine/repository/zones/zone-set.js';
import { tempDir } from '../support/temp-dir.js';
import { getBytes, rejection, sha256 } from '../support/zone-test-helpers.js';

const MiB = 1024 * 1024;

/**
 * Fault injection at the Zone interface (no server can misbehave this precisely): wraps a real
 * folder zone and changes how `put` consumes its body.
 */
class FaultyZone implements Zone {
  readonly kind = 'folder' as const;
  consumed = 0;
  constructor(
    readonly id: string,
    private readonly inner: FolderZone,
    private readonly fault: 'dies-after-first-chunk' | 'slow',
  ) {}
  async put(
    key: string,
    body: Readable | Buffer,
    options?: { signal?: AbortSignal },
  ): Promise<void> {
    if (Buffer.isBuffer(body)) return this.inner.put(key, body, options);
    if (this.fault === 'dies-after-first-chunk') {
      // reads one chunk, then fails without reading on or destroying the body: its 'drain'
      // never comes, the classic way a fan-out stalls
      body.once('data', () => body.pause());
      await sleep(50);
      throw new TidemarkError('zone_unavailable', `Zone "${this.id}" went away.`, {
        retryable: true,
      });
    }
    const chunks: Buffer[] = [];
    for await (const chunk of body) {
      chunks.push(chunk as Buffer);
      this.consumed += (chunk as Buffer).length;
      await sleep(1);
    }
    await this.inner.put(key, Buffer.concat(chunks), options);
  }
  get(key: string, options?: { signal?: AbortSignal; offset?: number }): Promise<Readable> {
    return this.inner.get(key, options);
  }
  stat(key: string): Promise<ZoneObjectInfo | null> {
    return this.inner.stat(key);
  }
  list(prefix: string): AsyncIterable<ZoneObjectInfo> {
    return this.inner.list(prefix);
  }
  delete(key: string): Promise<void> {
    return this.inner.delete(key);
  }
  probe(): Promise<ZoneProbe> {
    return this.inner.probe();
  }
}

/** 64 KiB chunks of random bytes, counting how many the fan-out has pulled. */
function countingSource(total: number) {
  const state = { produced: 0, data: [] as Buffer[] };
  const stream = Readable.from(
    (function* () {
      for (let sent = 0; sent < total; sent += 64 * 1024) {
        const chunk = randomBytes(Math.min(64 * 1024, total - sent));
        state.data.push(chunk);
        state.produced += chunk.length;
        yield chunk;
      }
    })(),
    { objectMode: false, highWaterMark: 64 * 1024 },
  );
  return { stream, state };
}

describe('ZoneSet over folder zones', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  let folders: FolderZone[];

  beforeEach(async () => {
    dir = await tempDir('tidemark-zoneset-');
    folders = [];
    for (const id of ['a', 'b', 'c']) {
      await mkdir(join(dir.path, id));
      folders.push(new FolderZone({ id, path: join(dir.path, id) }));
    }
  });
  afterEach(async () => {
    await dir.cleanup();
  });

  it('writes the same bytes to every zone from one stream or buffer', async () => {
    const set = new ZoneSet(folders, { minZones: 3 });
    const { stream, state } = countingSource(3 * MiB + 5);
    expect(await set.put('obj/stream', stream)).toEqual({ stored: ['a', 'b', 'c'], missed: [] });
    const buffer = randomBytes(1000);
    await set.put('obj/buffer', buffer);
    for (const zone of folders) {
      expect(sha256(await getBytes(zone, 'obj/stream'))).toBe(sha256(Buffer.concat(state.data)));
      expect(await getBytes(zone, 'obj/buffer')).toEqual(buffer);
    }
  });

  it('does not stall when a zone dies without draining, and records the miss', async () => {
    const dead = new FaultyZone('dead', folders[1]!, 'dies-after-first-chunk');
    const set = new ZoneSet([folders[0]!, dead, folders[2]!], {
      minZones: 2,
      bufferBytes: 64 * 1024,
    });
    const { stream, state } = countingSource(4 * MiB);
    const started = performance.now();
    const result = await set.put('wal/1', stream);
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(result.stored).toEqual(['a', 'c']);
    expect(result.missed).toEqual([
      { zoneId: 'dead', error: expect.objectContaining({ code: 'zone_unavailable' }) },
    ]);
    expect(sha256(await getBytes(folders[2]!, 'wal/1'))).toBe(sha256(Buffer.concat(state.data)));
    expect(set.missedWrites()).toEqual({ dead: ['wal/1'] });
    expect(set.zonesForRead('wal/1').map((z) => z.id)).toEqual(['a', 'c', 'dead']);
  });

  it('reads the source no faster than the slowest zone takes it', async () => {
    const slow = new FaultyZone('slow', folders[1]!, 'slow');
    const set = new ZoneSet([folders[0]!, slow], { bufferBytes: 128 * 1024 });
    const { stream, state } = countingSource(6 * MiB);
    let maxLead = 0;
    const timer = setInterval(
      () => (maxLead = Math.max(maxLead, state.produced - slow.consumed)),
      2,
    );
    await set.put('paced/obj', stream);
    clearInterval(timer);
    expect(slow.consumed).toBe(6 * MiB);
    // what sits in the branch buffers (2 × bufferBytes) plus a few chunks in flight
    expect(maxLead).toBeGreaterThan(0);
    expect(maxLead).toBeLessThan(768 * 1024);
  });

  it('rejects with the source error and leaves no object or temp file anywhere', async () => {
    const set = new ZoneSet(folders, { minZones: 1 });
    const source = Readable.from(
      (async function* () {
        yield randomBytes(MiB);
        await sleep(10);
        throw new Error('encryption failed');
      })(),
    );
    await expect(set.put('bad/obj', source)).rejects.toThrow('encryption failed');
    for (const zone of folders) {
      expect(await zone.stat('bad/obj')).toBeNull();
      expect(await readdir(join(zone.root, 'bad'))).toEqual([]);
    }
    expect(set.missedWrites()).toEqual({});
  });

  it('below minZones rejects and removes only the copies this put created', async () => {
    const dead = new FaultyZone('dead', folders[2]!, 'dies-after-first-chunk');
    const set = new ZoneSet([folders[0]!, folders[1]!, dead], { minZones: 3 });
    await folders[0]!.put('old/obj', Buffer.from('stored before'));
    const err = await rejection(() =>
      set.put('old/obj', Readable.from([Buffer.from('stored before')])),
    );
    expect(err.code).toBe('zone_unavailable');
    expect(err.message).toContain('needs 3');
    expect(err.message).toContain('dead: Zone "dead" went away.');
    expect((await getBytes(folders[0]!, 'old/obj')).toString()).toBe('stored before');
    expect(await folders[1]!.stat('old/obj')).toBeNull();
    expect(set.missedWrites()).toEqual({});
  });

  it('cancels every zone when the signal aborts', async () => {
    const set = new ZoneSet(folders);
    const controller = new AbortController();
    const source = Readable.from(
      (async function* () {
        for (let i = 0; ; i++) {
          if (i === 8) controller.abort();
          yield randomBytes(64 * 1024);
          await sleep(1);
        }
      })(),
    );
    expect(
      (await rejection(() => set.put('cancel/obj', source, { signal: controller.signal }))).code,
    ).toBe('cancelled');
    for (const zone of folders) expect(await zone.stat('cancel/obj')).toBeNull();
    expect(source.destroyed).toBe(true);
  });

  it('orders reads by readOrder, then config order, healthy zones first', async () => {
    const set = new ZoneSet(folders, { readOrder: ['c'], missedWrites: { a: ['k/1'] } });
    expect(set.zonesForRead().map((z) => z.id)).toEqual(['c', 'b', 'a']);
    expect(set.zonesForRead('k/1').map((z) => z.id)).toEqual(['c', 'b', 'a']);
    expect(set.zonesForRead('k/2').map((z) => z.id)).toEqual(['c', 'a', 'b']);
  });

  it('repairs recorded misses, then everything a zone lacks or holds corrupted', async () => {
    const data = randomBytes(200_000);
    await folders[0]!.put('r/1', data);
    await folders[1]!.put('r/1', data);
    await folders[1]!.put('r/2', Buffer.from('only in b'));
    const set = new ZoneSet(folders, { missedWrites: { c: ['r/1'] } });
    expect((await set.health()).map((h) => [h.id, h.reachable, h.degraded])).toEqual([
      ['a', true, false],
      ['b', true, false],
      ['c', true, true],
    ]);
    const progress: number[] = [];
    const first = await set.repair({ onProgress: (p) => progress.push(p.checked) });
    expect(first).toEqual({
      checked: 1,
      copied: [{ key: 'r/1', to: 'c', from: 'a' }],
      failed: [],
      skippedZones: [],
    });
    expect(progress).toEqual([1]);
    expect(sha256(await getBytes(folders[2]!, 'r/1'))).toBe(sha256(data));
    expect(set.missedWrites()).toEqual({});

    // corrupt a's copy; a validity check (as authentication would) finds and replaces it
    await folders[0]!.put('r/1', randomBytes(200_000));
    const isValid = async (zone: Zone, key: string) =>
      key !== 'r/1' || sha256(await getBytes(zone, key)) === sha256(data);
    const all = await set.repair({ keys: 'all', isValid });
    expect(all.checked).toBe(2);
    expect(all.failed).toEqual([]);
    expect(all.copied).toEqual([
      { key: 'r/1', to: 'a', from: 'b' },
      { key: 'r/2', to: 'a', from: 'b' },
      { key: 'r/2', to: 'c', from: 'b' },
    ]);
    expect(sha256(await getBytes(folders[0]!, 'r/1'))).toBe(sha256(data));
    const listing = await set.list('r/');
    expect(listing.objects.map((o) => [o.key, o.zones.map((z) => z.id)])).toEqual([
      ['r/1', ['a', 'b', 'c']],
      ['r/2', ['a', 'b', 'c']],
    ]);
  });

  it('reports a key no zone holds as a failed repair instead of inventing it', async () => {
    const set = new ZoneSet(folders);
    const report = await set.repair({ keys: ['gone/1'] });
    expect(report.copied).toEqual([]);
    expect(report.failed.map((f) => [f.zoneId, f.error.code])).toEqual([
      ['a', 'not_found'],
      ['b', 'not_found'],
      ['c', 'not_found'],
    ]);
  });

  it('deletes from every zone and forgets misses of deleted keys', async () => {
    const set = new ZoneSet(folders, { missedWrites: { c: ['d/1'] } });
    await folders[0]!.put('d/1', Buffer.from('x'));
    expect(await set.delete('d/1')).toEqual({ deleted: ['a', 'b', 'c'], missed: [] });
    expect(await folders[0]!.stat('d/1')).toBeNull();
    expect(set.missedWrites()).toEqual({});
  });

  it('refuses configurations that cannot work', () => {
    expect(() => new ZoneSet(folders, { minZones: 4 })).toThrow(/choose 1 to 3/);
    expect(() => new ZoneSet(folders, { readOrder: ['x'] })).toThrow(/unknown zone/);
    expect(() => new ZoneSet([folders[0]!, folders[0]!])).toThrow(/unique/);
    expect(() => new ZoneSet([])).toThrow(/at least one zone/);
  });
});
