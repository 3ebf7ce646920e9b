import { randomBytes } from 'node:crypto';
import { appendFile, mkdir, open, readFile, rm, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TidemarkError } from '../../main/engine/errors.js';
import {
  authenticateObjectEnds,
  openObjectWithFailover,
  type ZoneReadFailure,
} from '../../main/engine/repository/crypto/failover-object-reader.js';
import { MasterKey } from '../../main/engine/repository/crypto/master-key.js';
import {
  DEFAULT_CHUNK_SIZE,
  chunkCiphertextOffset,
  encryptedObjectSize,
} from '../../main/engine/repository/crypto/object-format.js';
import { createEncryptStream } from '../../main/engine/repository/crypto/object-streams.js';
import { FolderZone } from '../../main/engine/repository/zones/folder-zone.js';
import { tempDir } from '../support/temp-dir.js';

/* The failover reader over real folder zones: objects written through the encrypt stream,
   damaged on disk, read back from the zones in order. */

const masterKey = MasterKey.generate();
const objectKey = 'clusters/c1/nodes/n1/base/20250101T000000Z/base.tar';
const plaintext = randomBytes(3 * DEFAULT_CHUNK_SIZE + 54_321);

let dir: { path: string; cleanup: () => Promise<void> };
let zones: FolderZone[];

async function readAll(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of stream) parts.push(part as Buffer);
  return Buffer.concat(parts);
}

async function flipByteOnDisk(zone: FolderZone, offset: number): Promise<void> {
  const file = await open(join(zone.root, objectKey), 'r+');
  try {
    const byte = Buffer.alloc(1);
    await file.read(byte, 0, 1, offset);
    byte[0] = (byte[0] as number) ^ 0x80;
    await file.write(byte, 0, 1, offset);
  } finally {
    await file.close();
  }
}

/** Every zone gets the same ciphertext, encrypted once (as a backup writes it). */
async function storeEverywhere(): Promise<void> {
  const first = zones[0] as FolderZone;
  await first.put(
    objectKey,
    Readable.from([plaintext.subarray(0, 1000), plaintext.subarray(1000)]).pipe(
      createEncryptStream(masterKey, objectKey),
    ),
  );
  const stored = await readFile(join(first.root, objectKey));
  for (const zone of zones.slice(1)) await zone.put(objectKey, stored);
}

beforeAll(async () => {
  dir = await tempDir('tidemark-object-reader-');
  zones = [];
  for (const id of ['zone-a', 'zone-b', 'zone-c']) {
    await mkdir(join(dir.path, id));
    zones.push(new FolderZone({ id, path: join(dir.path, id) }));
  }
});

afterAll(async () => {
  await dir.cleanup();
});

describe('openObjectWithFailover over folder zones', () => {
  it('stores exactly the expected ciphertext size', async () => {
    await storeEverywhere();
    expect((await zones[0]?.stat(objectKey))?.size).toBe(encryptedObjectSize(plaintext.length));
  });

  it('reads past a bit flip in zone A and a truncation in zone B, delivering every byte once', async () => {
    await storeEverywhere();
    const [a, b] = zones as [FolderZone, FolderZone, FolderZone];
    await flipByteOnDisk(a, chunkCiphertextOffset(DEFAULT_CHUNK_SIZE, 1) + 777);
    await truncate(join(b.root, objectKey), chunkCiphertextOffset(DEFAULT_CHUNK_SIZE, 2) + 10);
    const failures: ZoneReadFailure[] = [];
    const read = await readAll(
      openObjectWithFailover({
        zones,
        objectKey,
        masterKey,
        onZoneFailure: (f) => failures.push(f),
      }),
    );
    expect(read.equals(plaintext)).toBe(true);
    expect(failures.map((f) => [f.zoneId, f.code, f.deliveredChunks, f.resumeOffset])).toEqual([
      ['zone-a', 'corrupt_object', 1, chunkCiphertextOffset(DEFAULT_CHUNK_SIZE, 1)],
      ['zone-b', 'corrupt_object', 2, chunkCiphertextOffset(DEFAULT_CHUNK_SIZE, 2)],
    ]);
  });

  it('skips a zone whose folder is gone (unmounted share) and one missing the object', async () => {
    await storeEverywhere();
    const [a, b, c] = zones as [FolderZone, FolderZone, FolderZone];
    const unmounted = new FolderZone({ id: 'zone-unmounted', path: join(dir.path, 'not-mounted') });
    await b.delete(objectKey);
    const failures: ZoneReadFailure[] = [];
    const read = await readAll(
      openObjectWithFailover({
        zones: [unmounted, b, c, a],
        objectKey,
        masterKey,
        onZoneFailure: (f) => failures.push(f),
      }),
    );
    expect(read.equals(plaintext)).toBe(true);
    expect(failures.map((f) => [f.zoneId, f.code])).toEqual([
      ['zone-unmounted', 'zone_unavailable'],
      ['zone-b', 'not_found'],
    ]);
  });

  it('fails naming the object and every zone when none holds a good copy', async () => {
    await storeEverywhere();
    const [a, b, c] = zones as [FolderZone, FolderZone, FolderZone];
    await flipByteOnDisk(a, 10);
    await flipByteOnDisk(b, chunkCiphertextOffset(DEFAULT_CHUNK_SIZE, 3) + 5);
    await rm(join(c.root, objectKey));
    const error = await readAll(openObjectWithFailover({ zones, objectKey, masterKey })).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(error).toBeInstanceOf(TidemarkError);
    expect(error).toMatchObject({ code: 'corrupt_object' });
    const message = (error as TidemarkError).message;
    expect(message).toContain(objectKey);
    expect(message).toContain('zone-a: failed authentication at its header');
    expect(message).toContain('zone-b: failed authentication at chunk 3');
    expect(message).toContain('zone-c: missing');
  });
});

describe('authenticateObjectEnds over folder zones', () => {
  const lastChunk = chunkCiphertextOffset(DEFAULT_CHUNK_SIZE, 3);
  const ends = (failures: ZoneReadFailure[] = [], from: readonly FolderZone[] = zones) =>
    authenticateObjectEnds({ zones: from, objectKey, masterKey, onZoneFailure: (f) => failures.push(f) }).then(
      () => undefined,
      (err: unknown) => err,
    );

  it('passes a sound object reading only its two ends, and moves past a bad header, a truncation, appended bytes and an altered final chunk', async () => {
    await storeEverywhere();
    expect(await ends()).toBeUndefined();
    // A middle chunk is not read by this check (the restore authenticates it when it reads it).
    await flipByteOnDisk(zones[0] as FolderZone, chunkCiphertextOffset(DEFAULT_CHUNK_SIZE, 1) + 3);
    expect(await ends()).toBeUndefined();

    const [a, b, c] = zones as [FolderZone, FolderZone, FolderZone];
    const fourth = new FolderZone({ id: 'zone-d', path: join(dir.path, 'zone-d') });
    await mkdir(fourth.root, { recursive: true });
    await fourth.put(objectKey, await readFile(join(c.root, objectKey)));
    await flipByteOnDisk(a, 40); // inside the wrapped data key
    await truncate(join(b.root, objectKey), lastChunk); // the final chunk dropped, at a chunk boundary
    await appendFile(join(c.root, objectKey), Buffer.alloc(16)); // appended bytes
    await flipByteOnDisk(fourth, lastChunk + 100);
    const failures: ZoneReadFailure[] = [];
    const error = await ends(failures, [a, b, c, fourth]);
    expect(error).toMatchObject({ code: 'corrupt_object' });
    expect(failures.map((f) => [f.zoneId, f.code])).toEqual([
      ['zone-a', 'corrupt_object'],
      ['zone-b', 'corrupt_object'],
      ['zone-c', 'corrupt_object'],
      ['zone-d', 'corrupt_object'],
    ]);
    expect(failures[0]!.reason).toContain('at its header');
    expect(failures[1]!.reason).toContain('truncated');
    expect(failures[2]!.reason).toMatch(/chunk 3/);
    expect(failures[3]!.reason).toMatch(/chunk 3: its tag does not verify as the final chunk/);

    // One sound copy after the damaged ones is enough.
    await storeEverywhere();
    await flipByteOnDisk(a, 40);
    const passed: ZoneReadFailure[] = [];
    expect(await ends(passed)).toBeUndefined();
    expect(passed.map((f) => f.zoneId)).toEqual(['zone-a']);
  });

  it('says the object is missing when no zone has it, and refuses another repository\'s key', async () => {
    await storeEverywhere();
    expect(await authenticateObjectEnds({ zones, objectKey: `${objectKey}.none`, masterKey }).catch((e: unknown) => e)).toMatchObject({ code: 'not_found' });
    expect(await authenticateObjectEnds({ zones, objectKey, masterKey: MasterKey.generate() }).catch((e: unknown) => e)).toMatchObject({ code: 'wrong_passphrase' });
  });
});
