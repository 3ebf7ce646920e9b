import { randomBytes } from 'node:crypto';
import { Readable, Writable, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { TidemarkError } from '../../main/engine/errors.js';
import { MasterKey } from '../../main/engine/repository/crypto/master-key.js';
import {
  decryptBuffer,
  encryptBuffer,
} from '../../main/engine/repository/crypto/object-buffers.js';
import {
  DEFAULT_CHUNK_SIZE,
  HEADER_LENGTH,
  chunkCiphertextOffset,
  encryptedObjectSize,
} from '../../main/engine/repository/crypto/object-format.js';
import {
  createDecryptStream,
  createEncryptStream,
} from '../../main/engine/repository/crypto/object-streams.js';

const masterKey = MasterKey.generate();
const objectKey = 'clusters/c1/nodes/n1/wal/0000000100000000000000A1';
const TAG = 16;

/** Feeds `input` in pieces of `pieceSize` bytes through `stream` and collects the output. */
async function through(stream: Transform, input: Buffer, pieceSize = 64 * 1024): Promise<Buffer> {
  const out: Buffer[] = [];
  const pieces = function* () {
    for (let at = 0; at < input.length; at += pieceSize) yield input.subarray(at, at + pieceSize);
  };
  await pipeline(Readable.from(pieces()), stream, async (source: AsyncIterable<Buffer>) => {
    for await (const part of source) out.push(part);
  });
  return Buffer.concat(out);
}

async function encryptStreamed(
  plaintext: Buffer,
  options: { chunkSize?: number } = {},
  key = objectKey,
): Promise<Buffer> {
  return through(createEncryptStream(masterKey, key, options), plaintext);
}

/** Decrypts through the stream in flowing mode, returning what it delivered before failing (if it failed). */
async function decryptStreamed(
  stored: Buffer,
  key = objectKey,
  mk = masterKey,
  pieceSize = 7_777,
): Promise<{ plaintext: Buffer; error?: unknown }> {
  const delivered: Buffer[] = [];
  const decrypt = createDecryptStream(mk, key);
  decrypt.on('data', (part: Buffer) => delivered.push(part));
  const done = new Promise<unknown>((resolve) => {
    decrypt.on('end', () => resolve(undefined));
    decrypt.on('error', resolve);
  });
  const input = function* () {
    for (let at = 0; at < stored.length; at += pieceSize) yield stored.subarray(at, at + pieceSize);
  };
  Readable.from(input()).pipe(decrypt);
  const error = await done;
  return error === undefined
    ? { plaintext: Buffer.concat(delivered) }
    : { plaintext: Buffer.concat(delivered), error };
}

describe('object encryption round trips', () => {
  const sizes = [
    0,
    1,
    DEFAULT_CHUNK_SIZE - 1,
    DEFAULT_CHUNK_SIZE,
    DEFAULT_CHUNK_SIZE + 1,
    5 * 1024 * 1024 + 12_345,
  ];
  for (const size of sizes) {
    it(`round-trips ${size} bytes through streams and buffers`, async () => {
      const plaintext = randomBytes(size);
      const streamed = await encryptStreamed(plaintext);
      expect(streamed.length).toBe(encryptedObjectSize(size));
      expect((await decryptStreamed(streamed)).plaintext.equals(plaintext)).toBe(true);
      expect(decryptBuffer(masterKey, objectKey, streamed).equals(plaintext)).toBe(true);

      const buffered = encryptBuffer(masterKey, objectKey, plaintext);
      expect(buffered.length).toBe(streamed.length);
      expect(buffered.equals(streamed)).toBe(false); // fresh data key and nonces per object
      expect((await decryptStreamed(buffered)).plaintext.equals(plaintext)).toBe(true);
    });
  }

  it('writes a header, then chunks of chunkSize + tag, then a short final chunk', async () => {
    const chunkSize = 1024;
    const stored = await encryptStreamed(randomBytes(3 * chunkSize + 10), { chunkSize });
    expect(stored.subarray(0, 4).toString('ascii')).toBe('TDMK');
    expect(stored.readUInt32BE(5)).toBe(chunkSize);
    expect(stored.length).toBe(HEADER_LENGTH + 3 * (chunkSize + TAG) + 10 + TAG);
    expect(chunkCiphertextOffset(chunkSize, 3)).toBe(HEADER_LENGTH + 3 * (chunkSize + TAG));
  });

  it('ends an object whose size is a multiple of the chunk size with an empty final chunk', () => {
    const stored = encryptBuffer(masterKey, objectKey, randomBytes(2048), { chunkSize: 1024 });
    expect(stored.length).toBe(HEADER_LENGTH + 2 * (1024 + TAG) + TAG);
  });

  it('exposes where each chunk starts and how far it has delivered', async () => {
    const chunkSize = 1024;
    const stored = encryptBuffer(masterKey, objectKey, randomBytes(4 * chunkSize + 1), {
      chunkSize,
    });
    const decrypt = createDecryptStream(masterKey, objectKey);
    expect(decrypt.resumeOffset).toBe(0);
    decrypt.write(stored.subarray(0, HEADER_LENGTH + 2 * (chunkSize + TAG) + 5));
    expect(decrypt.header?.chunkSize).toBe(chunkSize);
    expect(decrypt.deliveredChunks).toBe(2);
    expect(decrypt.resumeOffset).toBe(chunkCiphertextOffset(chunkSize, 2));
    expect(decrypt.chunkOffset(4)).toBe(HEADER_LENGTH + 4 * (chunkSize + TAG));
    decrypt.destroy();
  });

  it('keeps buffering bounded: a slow reader holds the writer back', async () => {
    const chunkSize = 64 * 1024;
    const encrypt = createEncryptStream(masterKey, objectKey, { chunkSize });
    const decrypt = createDecryptStream(masterKey, objectKey);
    let maxBuffered = 0;
    let received = 0;
    const slowSink = new Writable({
      highWaterMark: 1024,
      write(chunk: Buffer, _encoding, callback) {
        received += chunk.length;
        const buffered =
          encrypt.readableLength +
          encrypt.writableLength +
          decrypt.readableLength +
          decrypt.writableLength;
        maxBuffered = Math.max(maxBuffered, buffered);
        setImmediate(callback);
      },
    });
    const total = 4 * 1024 * 1024;
    const source = Readable.from(
      (function* () {
        for (let at = 0; at < total; at += 16 * 1024) yield Buffer.alloc(16 * 1024, at & 0xff);
      })(),
    );
    await pipeline(source, encrypt, decrypt, slowSink);
    expect(received).toBe(total);
    // a few chunks at most, however large the object
    expect(maxBuffered).toBeLessThan(6 * chunkSize);
  });

  it('counts the plaintext it took', async () => {
    const encrypt = createEncryptStream(masterKey, objectKey, { chunkSize: 1024 });
    const stored = await through(encrypt, randomBytes(5000), 700);
    expect(encrypt.plaintextBytes).toBe(5000);
    expect(stored.length).toBe(encryptedObjectSize(5000, 1024));
  });

  it('refuses an empty object key and an out-of-range chunk size', () => {
    expect(() => encryptBuffer(masterKey, '', Buffer.alloc(1))).toThrow(TidemarkError);
    expect(() => encryptBuffer(masterKey, objectKey, Buffer.alloc(1), { chunkSize: 8 })).toThrow(
      /chunk size/,
    );
  });
});

describe('tampering is detected', () => {
  const chunkSize = 1024;
  const plaintext = randomBytes(5 * chunkSize + 100); // chunks 0…4 full, chunk 5 final with 100 bytes
  const stored = encryptBuffer(masterKey, objectKey, plaintext, { chunkSize });
  const chunkAt = (index: number) => chunkCiphertextOffset(chunkSize, index);
  const chunkBytes = (bytes: Buffer, index: number) =>
    bytes.subarray(chunkAt(index), Math.min(chunkAt(index + 1), bytes.length));

  /**
   * Both paths must fail with corrupt_object naming `where`, and the stream must have
   * delivered nothing but the chunks before the damage.
   */
  async function expectCorrupt(
    bytes: Buffer,
    where: 'header' | number,
    key = objectKey,
  ): Promise<TidemarkError> {
    let thrown: unknown;
    try {
      decryptBuffer(masterKey, key, bytes);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(TidemarkError);
    const error = thrown as TidemarkError;
    expect(error.code).toBe('corrupt_object');
    const at = where === 'header' ? 'its header' : `chunk ${where}`;
    expect(error.message).toContain(`Object ${key} failed authentication at ${at}`);

    const streamed = await decryptStreamed(bytes, key);
    expect((streamed.error as TidemarkError).code).toBe('corrupt_object');
    expect((streamed.error as TidemarkError).message).toBe(error.message);
    const goodChunks = where === 'header' ? 0 : where;
    expect(streamed.plaintext.equals(plaintext.subarray(0, goodChunks * chunkSize))).toBe(true);
    return error;
  }

  function flipped(offset: number, bit = 0): Buffer {
    const copy = Buffer.from(stored);
    copy[offset] = (copy[offset] as number) ^ (1 << bit);
    return copy;
  }

  it('decrypts the untouched object', () => {
    expect(decryptBuffer(masterKey, objectKey, stored).equals(plaintext)).toBe(true);
  });

  const headerFields: [string, number][] = [
    ['magic', 0],
    ['chunk size', 8],
    ['key id', 9],
    ['nonce prefix', 25],
    ['wrap nonce', 32],
    ['wrapped data key', 44],
    ['wrap tag', 76],
    ['last header byte', HEADER_LENGTH - 1],
  ];
  for (const [field, offset] of headerFields) {
    it(`a flipped bit in the header's ${field}`, async () => {
      await expectCorrupt(flipped(offset), 'header');
    });
  }

  it('a header version of 0 is damage; a higher version asks for a newer Tidemark', async () => {
    await expectCorrupt(flipped(4, 0), 'header');
    expect(() => decryptBuffer(masterKey, objectKey, flipped(4, 1))).toThrow(
      expect.objectContaining({ code: 'unsupported' }),
    );
  });

  it('a flipped bit in a chunk, in a tag, in the final chunk', async () => {
    await expectCorrupt(flipped(chunkAt(2) + 100, 3), 2);
    await expectCorrupt(flipped(chunkAt(3) + chunkSize + 5), 3);
    await expectCorrupt(flipped(chunkAt(5) + 1), 5);
    await expectCorrupt(flipped(stored.length - 1), 5);
  });

  it('truncation at a chunk boundary, mid-chunk, inside a tag, and inside the header', async () => {
    const atBoundary = await expectCorrupt(stored.subarray(0, chunkAt(3)), 3);
    expect(atBoundary.message).toContain('truncated');
    await expectCorrupt(stored.subarray(0, chunkAt(3) + 500), 3);
    await expectCorrupt(stored.subarray(0, chunkAt(5) + 7), 5);
    await expectCorrupt(stored.subarray(0, 50), 'header');
    await expectCorrupt(Buffer.alloc(0), 'header');
  });

  it('a dropped final chunk', async () => {
    await expectCorrupt(stored.subarray(0, chunkAt(5)), 5);
  });

  it('two swapped chunks', async () => {
    const swapped = Buffer.concat([
      stored.subarray(0, chunkAt(1)),
      chunkBytes(stored, 2),
      chunkBytes(stored, 1),
      stored.subarray(chunkAt(3)),
    ]);
    expect(swapped.length).toBe(stored.length);
    await expectCorrupt(swapped, 1);
  });

  it('an appended chunk, a repeated final chunk, appended bytes', async () => {
    await expectCorrupt(Buffer.concat([stored, chunkBytes(stored, 1)]), 5);
    await expectCorrupt(Buffer.concat([stored, chunkBytes(stored, 5)]), 5);
    await expectCorrupt(Buffer.concat([stored, Buffer.from([0])]), 5);
  });

  it('an empty object that gains a chunk, or loses its only chunk', async () => {
    const empty = encryptBuffer(masterKey, objectKey, Buffer.alloc(0), { chunkSize });
    expect(empty.length).toBe(HEADER_LENGTH + TAG);
    expect(decryptBuffer(masterKey, objectKey, empty).length).toBe(0);
    expect(() => decryptBuffer(masterKey, objectKey, empty.subarray(0, HEADER_LENGTH))).toThrow(
      /at chunk 0: the object ends before its final chunk/,
    );
    expect(() =>
      decryptBuffer(masterKey, objectKey, Buffer.concat([empty, chunkBytes(stored, 0)])),
    ).toThrow(/at chunk 0/);
  });

  it('a chunk spliced in from another object with the same master key', async () => {
    const other = encryptBuffer(masterKey, objectKey, randomBytes(plaintext.length), { chunkSize });
    const spliced = Buffer.concat([
      stored.subarray(0, chunkAt(2)),
      chunkBytes(other, 2),
      stored.subarray(chunkAt(3)),
    ]);
    await expectCorrupt(spliced, 2);
    // another object's header over these chunks: the header unwraps, chunk 0 does not
    await expectCorrupt(
      Buffer.concat([other.subarray(0, HEADER_LENGTH), stored.subarray(HEADER_LENGTH)]),
      0,
    );
  });

  it("two objects swapped under each other's keys", async () => {
    const keyB = 'clusters/c1/nodes/n1/wal/0000000100000000000000A2';
    const objectB = encryptBuffer(masterKey, keyB, randomBytes(300), { chunkSize });
    await expectCorrupt(objectB, 'header', objectKey);
    await expectCorrupt(stored, 'header', keyB);
  });

  it('a master key with another id is a wrong key; one with the same id but other bytes finds damage', async () => {
    const otherRepositoryKey = MasterKey.generate();
    expect(() => decryptBuffer(otherRepositoryKey, objectKey, stored)).toThrow(
      expect.objectContaining({
        code: 'wrong_passphrase',
        message: expect.stringContaining(`encrypted with master key ${masterKey.id}`),
      }),
    );
    const impostor = new MasterKey(masterKey.id, randomBytes(32));
    expect(() => decryptBuffer(impostor, objectKey, stored)).toThrow(
      expect.objectContaining({ code: 'corrupt_object' }),
    );
  });
});

describe('master keys do not leak', () => {
  it('hides the key bytes from JSON and inspect, and zeroes them on dispose', async () => {
    const { inspect } = await import('node:util');
    const key = MasterKey.generate();
    const hex = key.bytes.toString('hex');
    expect(JSON.stringify({ key })).not.toContain(hex);
    expect(inspect(key)).not.toContain(hex);
    expect(inspect(key)).toContain(key.id);
    key.dispose();
    expect(key.bytes.equals(Buffer.alloc(32))).toBe(true);
  });
});
