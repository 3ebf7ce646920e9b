import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { createOffThreadDecompressor } from '../../main/engine/compression/threaded-decompressor.js';

/* Decompression on a worker thread (the sources' entry, loaded through tsx), against the
   reference lz4 and zstd tools. */

const pieces = (data: Buffer, size: number): Buffer[] => Array.from({ length: Math.ceil(data.length / size) }, (_, i) => data.subarray(i * size, (i + 1) * size));
const plain = Buffer.concat(Array.from({ length: 40 }, (_, i) => (i % 3 === 0 ? randomBytes(50_000) : Buffer.alloc(120_000, i))));

describe('createOffThreadDecompressor', () => {
  it('decodes lz4 and zstd on a worker thread to exactly the input, from pieces of any size', async () => {
    const lz4 = execFileSync('lz4', ['-c', '-q', '-BD', '-B4'], { input: plain, maxBuffer: 64 << 20 });
    const zst = execFileSync('zstd', ['-c', '-q', '-3'], { input: plain, maxBuffer: 64 << 20 });
    const decompressor = createOffThreadDecompressor('lz4');
    expect(decompressor.constructor.name).toBe('ThreadedDecompressor');
    expect((await buffer(Readable.from(pieces(lz4, 7_777)).pipe(decompressor))).equals(plain)).toBe(true);
    expect((await buffer(Readable.from(pieces(zst, 1 << 20)).pipe(createOffThreadDecompressor('zstd')))).equals(plain)).toBe(true);
  });

  it('fails with corrupt_object on damaged input, and stops its thread', async () => {
    const lz4 = execFileSync('lz4', ['-c', '-q'], { input: plain, maxBuffer: 64 << 20 });
    const truncated = lz4.subarray(0, lz4.length - 1000);
    await expect(buffer(Readable.from(pieces(truncated, 65_536)).pipe(createOffThreadDecompressor('lz4')))).rejects.toMatchObject({ code: 'corrupt_object' });
    await expect(buffer(Readable.from([Buffer.from('not lz4 at all')]).pipe(createOffThreadDecompressor('lz4')))).rejects.toMatchObject({ code: 'corrupt_object' });
  });

  it('holds memory bounded for a slow consumer of highly compressible data (256 MiB of zeros from < 2 MiB)', async () => {
    const zeros = execFileSync('lz4', ['-c', '-q', '-BD', '-B5'], { input: Buffer.alloc(256 << 20), maxBuffer: 64 << 20 });
    expect(zeros.length).toBeLessThan(2 << 20);
    const decompressor = createOffThreadDecompressor('lz4');
    let received = 0;
    let peakWaiting = 0;
    const slow = new Writable({
      highWaterMark: 1 << 20,
      write(chunk: Buffer, _enc, done) {
        received += chunk.length;
        // output the thread delivered that the consumer has not taken yet
        peakWaiting = Math.max(peakWaiting, decompressor.readableLength);
        // every 4 MiB, give the producer time to run ahead if nothing held it back
        if (received % (4 << 20) < chunk.length) setTimeout(done, 20);
        else done();
      },
    });
    await pipeline(Readable.from(pieces(zeros, 1 << 20)), decompressor, slow);
    expect(received).toBe(256 << 20);
    expect(peakWaiting).toBeLessThan(32 << 20);
  });

  it('a consumer that stops early stops the thread (the pipeline settles)', async () => {
    const lz4 = execFileSync('lz4', ['-c', '-q'], { input: Buffer.alloc(64 << 20), maxBuffer: 64 << 20 });
    const decompressor = createOffThreadDecompressor('lz4');
    let seen = 0;
    const stopping = new Writable({
      write(chunk: Buffer, _enc, done) {
        seen += chunk.length;
        done(seen > 1 << 20 ? new Error('enough') : null);
      },
    });
    await expect(pipeline(Readable.from(pieces(lz4, 4096)), decompressor, stopping)).rejects.toThrow('enough');
    expect(decompressor.destroyed).toBe(true);
  });
});
