import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { buffer } from 'node:stream/consumers';
import { describe, expect, it } from 'vitest';
import {
  createDecompressor,
  type CompressionKind,
} from '../../main/engine/compression/decompressor.js';

/** Data with long repeats, short repeats, overlapping runs and incompressible stretches. */
function sample(size: number): Buffer {
  const parts: Buffer[] = [];
  let n = 0;
  let i = 0;
  while (n < size) {
    const kind = i++ % 4;
    const part =
      kind === 0
        ? randomBytes(3000)
        : kind === 1
          ? Buffer.alloc(70_000, i % 256)
          : kind === 2
            ? Buffer.from('pgbench_accounts row '.repeat(500))
            : Buffer.concat([parts.at(-1) ?? Buffer.alloc(0), randomBytes(17)]);
    parts.push(part);
    n += part.length;
  }
  return Buffer.concat(parts).subarray(0, size);
}

async function decode(kind: CompressionKind, data: Buffer, pieceSize: number): Promise<Buffer> {
  const pieces: Buffer[] = [];
  for (let i = 0; i < data.length; i += pieceSize) pieces.push(data.subarray(i, i + pieceSize));
  return buffer(Readable.from(pieces).pipe(createDecompressor(kind)));
}

const plain = sample(3 * 1024 * 1024 + 123);

describe('LZ4 frame decoder (against the reference lz4 tool)', () => {
  it.each([
    ['linked 64 KiB blocks', ['-B4', '-BD']],
    ['independent 256 KiB blocks', ['-B5', '-BI']],
    ['1 MiB blocks with block checksums and content size', ['-B6', '-BX', '--content-size']],
    ['4 MiB blocks, fast level', ['-B7', '-1']],
    ['high compression', ['-9', '-BD']],
  ])('%s', async (_, flags) => {
    const compressed = execFileSync('lz4', ['-c', '-q', ...flags], {
      input: plain,
      maxBuffer: 64 << 20,
    });
    for (const piece of [1, 777, 65536, compressed.length]) {
      const out = await decode('lz4', compressed, piece);
      expect(out.equals(plain)).toBe(true);
    }
  });

  it('keeps matches right across its decode buffers (20 MiB, linked blocks of 64 KiB and 4 MiB)', async () => {
    const large = Buffer.concat(Array.from({ length: 7 }, () => sample(3 * 1024 * 1024)));
    for (const flags of [['-B4', '-BD'], ['-B7', '-BD']]) {
      const compressed = execFileSync('lz4', ['-c', '-q', ...flags], { input: large, maxBuffer: 64 << 20 });
      expect((await decode('lz4', compressed, 300_000)).equals(large), flags.join(' ')).toBe(true);
    }
  });

  it('decodes concatenated frames and skips skippable frames', async () => {
    const a = execFileSync('lz4', ['-c', '-q'], { input: plain.subarray(0, 100_000) });
    const b = execFileSync('lz4', ['-c', '-q'], { input: plain.subarray(100_000, 300_000) });
    const skippable = Buffer.alloc(12);
    skippable.writeUInt32LE(0x184d2a53, 0);
    skippable.writeUInt32LE(4, 4);
    const out = await decode('lz4', Buffer.concat([a, skippable, b]), 5000);
    expect(out.equals(plain.subarray(0, 300_000))).toBe(true);
  });

  it('fails on truncated or damaged input instead of returning short data', async () => {
    const compressed = execFileSync('lz4', ['-c', '-q', '-BD'], { input: plain });
    await expect(
      decode('lz4', compressed.subarray(0, compressed.length - 100), 4096),
    ).rejects.toMatchObject({ code: 'corrupt_object' });
    await expect(decode('lz4', Buffer.from('not lz4 at all'), 4096)).rejects.toMatchObject({
      code: 'corrupt_object',
    });
    await expect(decode('lz4', Buffer.alloc(0), 4096)).rejects.toMatchObject({
      code: 'corrupt_object',
    });
  });
});

describe('other decompressors', () => {
  it('zstd and gzip round-trip with the reference tools', async () => {
    const zst = execFileSync('zstd', ['-c', '-q', '-3'], { input: plain, maxBuffer: 64 << 20 });
    expect((await decode('zstd', zst, 10_000)).equals(plain)).toBe(true);
    const gz = execFileSync('gzip', ['-c'], { input: plain, maxBuffer: 64 << 20 });
    expect((await decode('gzip', gz, 10_000)).equals(plain)).toBe(true);
    expect((await decode('none', plain, 10_000)).equals(plain)).toBe(true);
  });

  it('zstd: a truncated or damaged stream fails instead of returning short data', async () => {
    const zst = execFileSync('zstd', ['-c', '-q', '-3'], { input: plain, maxBuffer: 64 << 20 });
    await expect(decode('zstd', zst.subarray(0, zst.length - 100), 10_000)).rejects.toMatchObject({ code: 'corrupt_object' });
    const damaged = Buffer.from(zst);
    damaged[Math.floor(damaged.length / 2)]! ^= 0xff;
    const out = await decode('zstd', damaged, 10_000).catch((e: unknown) => e);
    // a flipped bit is caught by the format or the frame checksum, or changes the output: never silently equal
    if (Buffer.isBuffer(out)) expect(out.equals(plain)).toBe(false);
    else expect(out).toMatchObject({ code: 'corrupt_object' });
  });

  it('decodes only as fast as it is read: 256 MiB of zeros from < 2 MiB never pile up for a slow reader', async () => {
    const zeros = execFileSync('lz4', ['-c', '-q', '-BD', '-B5'], { input: Buffer.alloc(256 << 20), maxBuffer: 64 << 20 });
    expect(zeros.length).toBeLessThan(2 << 20);
    const decompressor = createDecompressor('lz4');
    let received = 0;
    let peakWaiting = 0;
    const slow = new Writable({
      write(chunk: Buffer, _enc, done) {
        received += chunk.length;
        peakWaiting = Math.max(peakWaiting, decompressor.readableLength);
        if (received % (16 << 20) < chunk.length) setTimeout(done, 5);
        else done();
      },
    });
    await pipeline(Readable.from([zeros.subarray(0, 1 << 20), zeros.subarray(1 << 20)]), decompressor, slow);
    expect(received).toBe(256 << 20);
    expect(peakWaiting).toBeLessThan(4 << 20);
  });
});
