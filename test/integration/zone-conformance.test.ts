import { randomBytes } from 'node:crypto';
import { mkdir, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Zone } from '../../main/engine/repository/zone.js';
import { AzureZone } from '../../main/engine/repository/zones/azure-zone.js';
import { FolderZone } from '../../main/engine/repository/zones/folder-zone.js';
import { S3Zone } from '../../main/engine/repository/zones/s3-zone.js';
import { compareKeys } from '../../main/engine/repository/zones/zone-key.js';
import { startAzurite } from '../support/azurite.js';
import { startS3rver } from '../support/s3rver.js';
import { tempDir } from '../support/temp-dir.js';
import {
  collect,
  getBytes,
  HeldStream,
  keysOf,
  readAll,
  rejection,
  sha256,
} from '../support/zone-test-helpers.js';

interface Backend {
  name: string;
  /**
   * s3rver lists in its folder walk's order ("a/b" before "a-b"); real S3, MinIO and Azure
   * list in UTF-8 byte order, so only the set of keys is compared for it.
   */
  byteOrderListing: boolean;
  /** a failed put gives its space back at once (Azure keeps uncommitted blocks until it collects them) */
  abortFreesSpace: boolean;
  /** bytes the backend has on disk, to see that an unfinished put has stored data */
  start(): Promise<{ zone: Zone; stop(): Promise<void>; storedBytes(): Promise<number> }>;
}

const MiB = 1024 * 1024;

const backends: Backend[] = [
  {
    name: 'folder',
    abortFreesSpace: true,
    byteOrderListing: true,
    async start() {
      const dir = await tempDir('tidemark-zone-');
      const root = join(dir.path, 'zone');
      await mkdir(root);
      const zone = new FolderZone({ id: 'local', path: root });
      return { zone, stop: dir.cleanup, storedBytes: () => bytesUnder(root) };
    },
  },
  {
    name: 's3',
    // s3rver answers AbortMultipartUpload with MethodNotAllowed, so the (invisible) parts stay
    abortFreesSpace: false,
    byteOrderListing: false,
    async start() {
      const s3 = await startS3rver();
      const zone = new S3Zone({
        id: 'bucket',
        endpoint: s3.endpoint,
        region: s3.region,
        bucket: s3.bucket,
        prefix: 'repo-1/',
        forcePathStyle: true,
        accessKeyId: s3.accessKeyId,
        secretAccessKey: s3.secretAccessKey,
        partSize: 5 * MiB,
      });
      const stop = async () => {
        await zone.close();
        await s3.dispose();
      };
      // s3rver keeps the parts of an unfinished multipart upload under "uploads"
      return { zone, stop, storedBytes: () => bytesUnder(s3.directory) };
    },
  },
  {
    name: 'azure',
    abortFreesSpace: false,
    byteOrderListing: true,
    async start() {
      const azurite = await startAzurite();
      const zone = new AzureZone({
        id: 'blob',
        accountUrl: azurite.accountUrl,
        accountName: azurite.accountName,
        container: azurite.container,
        prefix: 'repo-1/',
        credential: { accountKey: azurite.accountKey },
        blockSize: 1 * MiB,
      });
      // Azurite appends staged (uncommitted) blocks to its extent files
      return { zone, stop: azurite.dispose, storedBytes: () => bytesUnder(azurite.location) };
    },
  },
];

async function bytesUnder(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    total += await stat(join(entry.parentPath, entry.name)).then(
      (s) => s.size,
      () => 0,
    );
  }
  return total;
}

describe.each(backends)('$name zone conformance', (backend) => {
  let zone: Zone;
  let stop: () => Promise<void>;
  let storedBytes: () => Promise<number>;

  beforeAll(async () => {
    ({ zone, stop, storedBytes } = await backend.start());
  });
  afterAll(async () => {
    await stop?.();
  });

  it('puts, gets, stats, overwrites and deletes an object', async () => {
    const data = randomBytes(10_000);
    await zone.put('basic/one', data);
    expect(await getBytes(zone, 'basic/one')).toEqual(data);
    const info = await zone.stat('basic/one');
    expect(info).toMatchObject({ key: 'basic/one', size: 10_000 });
    expect(info!.modified.getTime()).toBeGreaterThan(Date.now() - 60_000);

    const replacement = randomBytes(3);
    await zone.put('basic/one', Readable.from([replacement]));
    expect(await getBytes(zone, 'basic/one')).toEqual(replacement);

    await zone.put('basic/empty', Buffer.alloc(0));
    expect(await zone.stat('basic/empty')).toMatchObject({ size: 0 });
    expect(await getBytes(zone, 'basic/empty')).toEqual(Buffer.alloc(0));

    await zone.delete('basic/one');
    expect(await zone.stat('basic/one')).toBeNull();
    await zone.delete('basic/one'); // deleting a missing key is not an error
  });

  it('reports a missing key as not_found naming the zone', async () => {
    const err = await rejection(() => zone.get('missing/key'));
    expect(err.code).toBe('not_found');
    expect(err.message).toContain(`Zone "${zone.id}"`);
    expect(err.message).toContain('"missing/key"');
    expect(await zone.stat('missing/key')).toBeNull();
  });

  it('lists by prefix in byte order, including partial names', async () => {
    const keys = ['order/a/b/2', 'order/a-b', 'order/a/c', 'order/a/b/1', 'order/b/x', 'order/ab'];
    for (const key of keys) await zone.put(key, Buffer.from(key));
    const listed = async (prefix: string) => {
      const found = await keysOf(zone, prefix);
      return backend.byteOrderListing ? found : found.sort(compareKeys);
    };
    expect(await listed('order/')).toEqual([
      'order/a-b',
      'order/a/b/1',
      'order/a/b/2',
      'order/a/c',
      'order/ab',
      'order/b/x',
    ]);
    expect(await listed('order/a/')).toEqual(['order/a/b/1', 'order/a/b/2', 'order/a/c']);
    expect(await listed('order/a')).toEqual([
      'order/a-b',
      'order/a/b/1',
      'order/a/b/2',
      'order/a/c',
      'order/ab',
    ]);
    expect(await listed('order/a/b/')).toEqual(['order/a/b/1', 'order/a/b/2']);
    expect(await listed('order/nothing/')).toEqual([]);
    expect(await collect(zone.list('order/b/'))).toEqual([
      { key: 'order/b/x', size: 9, modified: expect.any(Date) },
    ]);
  });

  it('reads from an offset, returns nothing at the end and refuses past the end', async () => {
    const data = randomBytes(100_000);
    await zone.put('offset/obj', data);
    expect(await getBytes(zone, 'offset/obj', 0)).toEqual(data);
    expect(await getBytes(zone, 'offset/obj', 12_345)).toEqual(data.subarray(12_345));
    expect(await getBytes(zone, 'offset/obj', 99_999)).toEqual(data.subarray(99_999));
    expect(await getBytes(zone, 'offset/obj', 100_000)).toEqual(Buffer.alloc(0));
    expect((await rejection(() => zone.get('offset/obj', { offset: 100_001 }))).code).toBe(
      'invalid_input',
    );
    expect((await rejection(() => zone.get('offset/missing', { offset: 5 }))).code).toBe(
      'not_found',
    );
  });

  it('streams a multi-megabyte object in parts and reads it back whole and from the middle', async () => {
    const held = new HeldStream();
    const put = zone.put('large/obj', held.stream);
    await held.write(12 * MiB + 12_345);
    held.end();
    await put;
    const data = held.written;
    expect((await zone.stat('large/obj'))?.size).toBe(data.length);
    expect(sha256(await getBytes(zone, 'large/obj'))).toBe(sha256(data));
    const offset = 7 * MiB + 3;
    expect(sha256(await readAll(await zone.get('large/obj', { offset })))).toBe(
      sha256(data.subarray(offset)),
    );
  });

  it('keeps an object invisible until its put completes', async () => {
    const before = await storedBytes();
    const held = new HeldStream();
    const put = zone.put('partial/obj', held.stream);
    await held.write(6 * MiB); // more than one S3 part / Azure block: some of it is already stored
    // wait until the zone holds a part of the bytes, so the checks below are not trivially true
    for (let i = 0; i < 100 && (await storedBytes()) < before + MiB; i++) await sleep(50);
    expect(await storedBytes()).toBeGreaterThanOrEqual(before + MiB);
    expect(await zone.stat('partial/obj')).toBeNull();
    expect(await keysOf(zone, 'partial/')).toEqual([]);
    expect((await rejection(() => zone.get('partial/obj'))).code).toBe('not_found');
    await held.write(1000);
    held.end();
    await put;
    expect((await zone.stat('partial/obj'))?.size).toBe(6 * MiB + 1000);
    expect(await keysOf(zone, 'partial/')).toEqual(['partial/obj']);
  });

  it('leaves no object when the source stream fails midway', async () => {
    const before = await storedBytes();
    const held = new HeldStream();
    const put = zone.put('broken/obj', held.stream);
    await held.write(6 * MiB);
    held.stream.destroy(new Error('source broke'));
    await expect(put).rejects.toThrow(/source broke/);
    expect(await zone.stat('broken/obj')).toBeNull();
    expect(await keysOf(zone, 'broken/')).toEqual([]);
    // the temp file is removed / the multipart upload is aborted, not left to linger
    if (backend.abortFreesSpace) expect(await storedBytes()).toBeLessThan(before + 64 * 1024);
  });

  it('cancels a put when its signal aborts, leaving no object', async () => {
    const held = new HeldStream();
    const controller = new AbortController();
    const put = zone.put('cancelled/obj', held.stream, { signal: controller.signal });
    await held.write(2 * MiB);
    controller.abort();
    expect((await rejection(() => put)).code).toBe('cancelled');
    expect(await zone.stat('cancelled/obj')).toBeNull();
  });

  it('refuses keys that could escape the zone or mean different things per zone', async () => {
    for (const key of ['../x', '/abs', 'a//b', 'a\\b', 'a/./b', '', 'a/.tmp-x']) {
      expect((await rejection(() => zone.put(key, Buffer.from('x')))).code).toBe('invalid_input');
    }
  });

  it('probes by writing, reading back and deleting a small object', async () => {
    const probe = await zone.probe();
    expect(probe.reachable).toBe(true);
    expect(probe.latencyMs).toBeGreaterThanOrEqual(0);
    expect(probe.error).toBeUndefined();
    expect(await keysOf(zone, '')).not.toContainEqual(expect.stringContaining('.tidemark'));
    expect(await keysOf(zone, '.tidemark/')).toEqual([]);
  });
});
