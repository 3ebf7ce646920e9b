import { randomBytes } from 'node:crypto';
import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AzureZone } from '../../main/engine/repository/zones/azure-zone.js';
import { FolderZone } from '../../main/engine/repository/zones/folder-zone.js';
import { S3Zone } from '../../main/engine/repository/zones/s3-zone.js';
import { ZoneSet } from '../../main/engine/repository/zones/zone-set.js';
import { startAzurite, type AzuriteHandle } from '../support/azurite.js';
import { startS3rver, type S3rverHandle } from '../support/s3rver.js';
import { tempDir } from '../support/temp-dir.js';
import { getBytes, HeldStream, rejection, sha256 } from '../support/zone-test-helpers.js';

const MiB = 1024 * 1024;

describe('ZoneSet over a folder, s3rver and Azurite', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  let s3: S3rverHandle;
  let azurite: AzuriteHandle;
  let folder: FolderZone;
  let bucket: S3Zone;
  let blob: AzureZone;

  beforeAll(async () => {
    [dir, s3, azurite] = await Promise.all([
      tempDir('tidemark-zoneset-'),
      startS3rver(),
      startAzurite(),
    ]);
    await mkdir(join(dir.path, 'zone'));
    folder = new FolderZone({ id: 'local', path: join(dir.path, 'zone') });
    bucket = new S3Zone({
      id: 'bucket',
      endpoint: s3.endpoint,
      region: s3.region,
      bucket: s3.bucket,
      forcePathStyle: true,
      accessKeyId: s3.accessKeyId,
      secretAccessKey: s3.secretAccessKey,
      partSize: 5 * MiB,
    });
    blob = new AzureZone({
      id: 'blob',
      accountUrl: azurite.accountUrl,
      accountName: azurite.accountName,
      container: azurite.container,
      credential: { accountKey: azurite.accountKey },
      blockSize: MiB,
    });
  });
  afterAll(async () => {
    await bucket?.close();
    await Promise.all([s3?.dispose(), azurite?.dispose()]);
    await dir?.cleanup();
  });

  it('completes a put when a zone dies mid-write, marks it degraded, and repairs it when it returns', async () => {
    const set = new ZoneSet([folder, bucket, blob], { minZones: 2 });
    const held = new HeldStream();
    const put = set.put('base/b1/data', held.stream);
    await held.write(6 * MiB); // the S3 zone has a multipart upload with a part under way
    await s3.kill();
    const killedAt = performance.now();
    await held.write(4 * MiB);
    held.end();
    const result = await put;
    expect(performance.now() - killedAt).toBeLessThan(10_000);
    expect(result.stored).toEqual(['local', 'blob']);
    expect(result.missed).toEqual([
      { zoneId: 'bucket', error: expect.objectContaining({ code: 'zone_unavailable' }) },
    ]);
    const expected = sha256(held.written);
    expect(sha256(await getBytes(folder, 'base/b1/data'))).toBe(expected);
    expect(sha256(await getBytes(blob, 'base/b1/data'))).toBe(expected);
    expect(set.missedWrites()).toEqual({ bucket: ['base/b1/data'] });
    expect(set.zonesForRead('base/b1/data').map((z) => z.id)).toEqual(['local', 'blob', 'bucket']);

    const down = await set.health();
    expect(down.find((h) => h.id === 'bucket')).toMatchObject({
      reachable: false,
      degraded: true,
      missedWrites: 1,
    });
    expect(down.find((h) => h.id === 'local')).toMatchObject({ reachable: true, degraded: false });
    expect(down.find((h) => h.id === 'blob')?.latencyMs).toBeGreaterThanOrEqual(0);
    const listing = await set.list('base/');
    expect(listing.unreachable.map((u) => u.zoneId)).toEqual(['bucket']);
    expect(listing.objects.map((o) => o.zones.map((z) => z.id))).toEqual([['local', 'blob']]);

    await s3.start();
    expect(await bucket.stat('base/b1/data')).toBeNull(); // the interrupted upload never became visible
    const up = await set.health();
    expect(up.find((h) => h.id === 'bucket')).toMatchObject({ reachable: true, degraded: true });

    const report = await set.repair();
    expect(report).toEqual({
      checked: 1,
      copied: [{ key: 'base/b1/data', to: 'bucket', from: 'local' }],
      failed: [],
      skippedZones: [],
    });
    expect(sha256(await getBytes(bucket, 'base/b1/data'))).toBe(expected);
    // a reader that lost one zone midway resumes in another from the same offset
    const offset = 7 * MiB + 1;
    expect(sha256(await getBytes(bucket, 'base/b1/data', offset))).toBe(
      sha256(held.written.subarray(offset)),
    );
    expect(set.missedWrites()).toEqual({});
    expect((await set.health()).every((h) => h.reachable && !h.degraded)).toBe(true);
  });

  it('with every zone required, a dead zone fails the put and no zone keeps the object', async () => {
    const set = new ZoneSet([folder, bucket, blob], { minZones: 3 });
    await set.put('wal/kept', Buffer.from('written while all zones were up'));
    await s3.kill();
    try {
      const err = await rejection(() => set.put('wal/new', randomBytes(300_000)));
      expect(err.code).toBe('zone_unavailable');
      expect(err.message).toContain('"wal/new" reached');
      expect(err.message).toContain('bucket: Zone "bucket"');
      expect(err.details).toMatchObject({ leftBehind: [] });
      for (const zone of [folder, blob]) expect(await zone.stat('wal/new')).toBeNull();

      // a failed re-put of an object stored earlier must not delete the good copies
      await rejection(() =>
        set.put('wal/kept', Readable.from([Buffer.from('written while all zones were up')])),
      );
      for (const zone of [folder, blob]) expect(await zone.stat('wal/kept')).not.toBeNull();
      expect(set.missedWrites()).toEqual({});
    } finally {
      await s3.start();
    }
  });

  it('a broken source aborts every zone: nothing visible anywhere, no temp file left', async () => {
    const set = new ZoneSet([folder, bucket, blob], { minZones: 1 });
    const held = new HeldStream();
    const put = set.put('base/broken', held.stream);
    await held.write(6 * MiB);
    held.stream.destroy(new Error('compression failed'));
    await expect(put).rejects.toThrow('compression failed');
    for (const zone of [folder, bucket, blob]) expect(await zone.stat('base/broken')).toBeNull();
    expect((await readdir(join(folder.root, 'base'))).filter((n) => n.startsWith('.tmp-'))).toEqual(
      [],
    );
  });
});
