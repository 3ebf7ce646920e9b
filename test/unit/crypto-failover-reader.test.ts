import { randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { TidemarkError } from '../../main/engine/errors.js';
import {
  openObjectWithFailover,
  type ZoneReadFailure,
} from '../../main/engine/repository/crypto/failover-object-reader.js';
import { MasterKey } from '../../main/engine/repository/crypto/master-key.js';
import { encryptBuffer } from '../../main/engine/repository/crypto/object-buffers.js';
import { chunkCiphertextOffset } from '../../main/engine/repository/crypto/object-format.js';
import { MemoryZone } from '../support/memory-zone.js';

const masterKey = MasterKey.generate();
const objectKey = 'clusters/c1/nodes/n2/base/20250101T000000Z/base.tar';
const chunkSize = 4096;
const plaintext = randomBytes(10 * chunkSize + 123);
const stored = encryptBuffer(masterKey, objectKey, plaintext, { chunkSize });
const chunkAt = (index: number) => chunkCiphertextOffset(chunkSize, index);

/** Zones holding the same ciphertext, streaming it in pieces that do not line up with chunks. */
function zones(...ids: string[]): MemoryZone[] {
  return ids.map((id) => {
    const zone = new MemoryZone(id, 1000);
    zone.setBytes(objectKey, stored);
    return zone;
  });
}

async function readAll(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of stream) parts.push(part as Buffer);
  return Buffer.concat(parts);
}

async function readWithFailover(
  list: MemoryZone[],
  signal?: AbortSignal,
): Promise<{ plaintext: Buffer; failures: ZoneReadFailure[] }> {
  const failures: ZoneReadFailure[] = [];
  const stream = openObjectWithFailover({
    zones: list,
    objectKey,
    masterKey,
    onZoneFailure: (f) => failures.push(f),
    ...(signal ? { signal } : {}),
  });
  return { plaintext: await readAll(stream), failures };
}

async function readError(list: MemoryZone[]): Promise<TidemarkError> {
  const error = await readWithFailover(list).then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(error).toBeInstanceOf(TidemarkError);
  return error as TidemarkError;
}

describe('openObjectWithFailover', () => {
  it('reads the whole object from the first zone when it is intact', async () => {
    const [a, b] = zones('a', 'b') as [MemoryZone, MemoryZone];
    const result = await readWithFailover([a, b]);
    expect(result.plaintext.equals(plaintext)).toBe(true);
    expect(result.failures).toEqual([]);
    expect(b.reads).toEqual([]);
  });

  it('resumes in the next zone at the damaged chunk when a zone fails authentication at chunk k', async () => {
    const [a, b] = zones('a', 'b') as [MemoryZone, MemoryZone];
    a.flipBit(objectKey, chunkAt(4) + 17);
    const result = await readWithFailover([a, b]);
    expect(result.plaintext.equals(plaintext)).toBe(true); // every chunk exactly once
    expect(result.failures).toHaveLength(1);
    expect(result.failures[0]).toMatchObject({
      zoneId: 'a',
      code: 'corrupt_object',
      deliveredChunks: 4,
      resumeOffset: chunkAt(4),
    });
    expect(result.failures[0]?.reason).toContain('failed authentication at chunk 4');
    expect(b.reads).toEqual([{ key: objectKey, offset: chunkAt(4) }]);
  });

  it('resumes at the last chunk boundary when a read breaks in the middle of a chunk', async () => {
    const [a, b] = zones('a', 'b') as [MemoryZone, MemoryZone];
    a.breakStreams({
      afterBytes: chunkAt(6) + 2500,
      error: new TidemarkError('zone_unavailable', 'Zone "a": connection reset.'),
    });
    const result = await readWithFailover([a, b]);
    expect(result.plaintext.equals(plaintext)).toBe(true);
    expect(result.failures[0]).toMatchObject({
      zoneId: 'a',
      code: 'zone_unavailable',
      resumeOffset: chunkAt(6),
    });
    expect(b.reads[0]?.offset).toBe(chunkAt(6));
  });

  it('treats a plain (non-Tidemark) stream error as an unreachable zone', async () => {
    const [a, b] = zones('a', 'b') as [MemoryZone, MemoryZone];
    a.breakStreams({ afterBytes: 50, error: new Error('socket hang up') });
    const result = await readWithFailover([a, b]);
    expect(result.plaintext.equals(plaintext)).toBe(true);
    expect(result.failures[0]).toMatchObject({
      zoneId: 'a',
      code: 'zone_unavailable',
      reason: 'socket hang up',
      resumeOffset: 0,
    });
  });

  it('starts over in the next zone when the first is missing the object, unreachable, or has a bad header', async () => {
    const [missing, unreachable, badHeader, good] = zones(
      'missing',
      'unreachable',
      'bad-header',
      'good',
    ) as [MemoryZone, MemoryZone, MemoryZone, MemoryZone];
    await missing.delete(objectKey);
    unreachable.failGets(
      new TidemarkError('zone_unavailable', 'Zone "unreachable" cannot be reached.', {
        retryable: true,
      }),
    );
    badHeader.flipBit(objectKey, 50);
    const result = await readWithFailover([missing, unreachable, badHeader, good]);
    expect(result.plaintext.equals(plaintext)).toBe(true);
    expect(result.failures.map((f) => [f.zoneId, f.code, f.resumeOffset])).toEqual([
      ['missing', 'not_found', 0],
      ['unreachable', 'zone_unavailable', 0],
      ['bad-header', 'corrupt_object', 0],
    ]);
    expect(good.reads).toEqual([{ key: objectKey, offset: 0 }]);
  });

  it('moves through several damaged zones, each resuming where the last stopped', async () => {
    const [a, b, c] = zones('a', 'b', 'c') as [MemoryZone, MemoryZone, MemoryZone];
    a.flipBit(objectKey, chunkAt(2) + 1);
    b.truncate(objectKey, chunkAt(7));
    const result = await readWithFailover([a, b, c]);
    expect(result.plaintext.equals(plaintext)).toBe(true);
    expect(result.failures.map((f) => [f.zoneId, f.deliveredChunks])).toEqual([
      ['a', 2],
      ['b', 7],
    ]);
    expect(b.reads[0]?.offset).toBe(chunkAt(2));
    expect(c.reads[0]?.offset).toBe(chunkAt(7));
  });

  it('detects a zone whose copy has an extra chunk appended, and reads the final chunk elsewhere', async () => {
    const [a, b] = zones('a', 'b') as [MemoryZone, MemoryZone];
    a.setBytes(objectKey, Buffer.concat([stored, stored.subarray(chunkAt(1), chunkAt(2))]));
    const result = await readWithFailover([a, b]);
    expect(result.plaintext.equals(plaintext)).toBe(true);
    expect(result.failures[0]).toMatchObject({
      zoneId: 'a',
      code: 'corrupt_object',
      deliveredChunks: 10,
    });
    expect(b.reads[0]?.offset).toBe(chunkAt(10));
  });

  it('reads an empty object', async () => {
    const a = new MemoryZone('a');
    a.setBytes(objectKey, encryptBuffer(masterKey, objectKey, Buffer.alloc(0)));
    expect((await readWithFailover([a])).plaintext.length).toBe(0);
  });

  it('fails with corrupt_object naming the object and every zone when no zone has a good copy', async () => {
    const [a, b] = zones('a', 'b') as [MemoryZone, MemoryZone];
    a.flipBit(objectKey, chunkAt(3));
    await b.delete(objectKey);
    const error = await readError([a, b]);
    expect(error.code).toBe('corrupt_object');
    expect(error.message).toContain(objectKey);
    expect(error.message).toContain('a: failed authentication at chunk 3');
    expect(error.message).toContain('b: missing');
    expect(error.retryable).toBe(false);
  });

  it('says not_found when every zone is missing the object', async () => {
    const [a, b] = zones('a', 'b') as [MemoryZone, MemoryZone];
    await a.delete(objectKey);
    await b.delete(objectKey);
    const error = await readError([a, b]);
    expect(error.code).toBe('not_found');
    expect(error.message).toMatch(
      new RegExp(`Object ${objectKey} is missing from every zone \\(a: missing; b: missing\\)`),
    );
  });

  it('says zone_unavailable (retryable) when no zone could be reached', async () => {
    const [a, b] = zones('a', 'b') as [MemoryZone, MemoryZone];
    for (const zone of [a, b])
      zone.failGets(
        new TidemarkError('zone_unavailable', `Zone "${zone.id}" cannot be reached.`, {
          retryable: true,
        }),
      );
    const error = await readError([a, b]);
    expect(error.code).toBe('zone_unavailable');
    expect(error.retryable).toBe(true);
  });

  it('says the damage may be recoverable when an unreachable zone was not read', async () => {
    const [a, b] = zones('a', 'b') as [MemoryZone, MemoryZone];
    a.flipBit(objectKey, chunkAt(1));
    b.failGets(
      new TidemarkError('zone_unavailable', 'Zone "b" cannot be reached.', { retryable: true }),
    );
    const error = await readError([a, b]);
    expect(error.code).toBe('corrupt_object');
    expect(error.retryable).toBe(true);
    expect(error.message).toContain('try again once they are reachable');
  });

  it('stops at cancellation instead of trying further zones', async () => {
    const [a, b] = zones('a', 'b') as [MemoryZone, MemoryZone];
    const controller = new AbortController();
    const stream = openObjectWithFailover({
      zones: [a, b],
      objectKey,
      masterKey,
      signal: controller.signal,
    });
    const error = await new Promise<unknown>((resolve) => {
      stream.once('data', () => controller.abort());
      stream.on('error', resolve);
      stream.on('end', () => resolve(undefined));
    });
    expect(error).toMatchObject({ code: 'cancelled' });
    expect(b.reads).toEqual([]);
  });

  it('refuses an empty zone list', () => {
    expect(() => openObjectWithFailover({ zones: [], objectKey, masterKey })).toThrow(
      expect.objectContaining({ code: 'invalid_input' }),
    );
  });
});
