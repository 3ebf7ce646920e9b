import { describe, expect, it } from 'vitest';
import { parseLsn } from '../../main/engine/replication/lsn.js';
import { WalSegmenter } from '../../main/engine/replication/wal-segmenter.js';

const MB = 1024 * 1024;

/** Feeds pieces of the given sizes and rebuilds each segment file from the slices. */
function replay(segmentSize: number, startLsn: bigint, pieceSizes: number[]) {
  const segmenter = new WalSegmenter({ segmentSize, timeline: 1, startLsn });
  const files = new Map<string, Buffer>();
  const completed: string[] = [];
  let lsn = startLsn;
  for (const size of pieceSizes) {
    const piece = Buffer.alloc(size);
    for (let i = 0; i < size; i++) piece[i] = Number((lsn + BigInt(i)) % 251n);
    for (const slice of segmenter.push(lsn, piece)) {
      const file = files.get(slice.fileName) ?? Buffer.alloc(segmentSize);
      slice.bytes.copy(file, slice.offset);
      files.set(slice.fileName, file);
      if (slice.completesSegment) completed.push(slice.fileName);
    }
    lsn += BigInt(size);
  }
  return { segmenter, files, completed };
}

function expectedByte(segmentStart: bigint, offset: number): number {
  return Number((segmentStart + BigInt(offset)) % 251n);
}

describe('WalSegmenter', () => {
  it('puts every byte at its place and completes segments exactly at their ends', () => {
    const size = MB;
    const { segmenter, files, completed } = replay(size, parseLsn('0/300000'), [
      128 * 1024,
      MB - 128 * 1024,
      1,
      3 * MB,
      5,
      MB - 7,
    ]);
    expect(completed).toEqual([
      '000000010000000000000003',
      '000000010000000000000004',
      '000000010000000000000005',
      '000000010000000000000006',
    ]);
    expect(segmenter.position).toBe(parseLsn('0/300000') + BigInt(5 * MB - 1));
    expect(segmenter.partial).toEqual({
      segmentNumber: 7n,
      fileName: '000000010000000000000007',
      segmentStartLsn: parseLsn('0/700000'),
      bytesFilled: MB - 1,
    });
    for (const [name, file] of files) {
      const start = parseLsn('0/300000') + BigInt((Number.parseInt(name.slice(16), 16) - 3) * MB);
      const limit = name.endsWith('07') ? MB - 1 : MB;
      for (const offset of [0, 1, 4095, limit - 1])
        expect(file[offset], `${name}@${offset}`).toBe(expectedByte(start, offset));
    }
  });

  it('splits one piece across several segments', () => {
    const segmenter = new WalSegmenter({
      segmentSize: MB,
      timeline: 2,
      startLsn: parseLsn('0/FFF00000'),
    });
    const slices = segmenter.push(parseLsn('0/FFF00000'), Buffer.alloc(2 * MB + 10));
    expect(slices.map((s) => [s.fileName, s.offset, s.bytes.length, s.completesSegment])).toEqual([
      ['000000020000000000000FFF', 0, MB, true],
      ['000000020000000100000000', 0, MB, true],
      ['000000020000000100000001', 0, 10, false],
    ]);
    expect(segmenter.position).toBe(parseLsn('1/10000A'));
  });

  it('has no partial segment at a boundary and ignores empty pieces', () => {
    const segmenter = new WalSegmenter({ segmentSize: 16 * MB, timeline: 1, startLsn: 0n });
    expect(segmenter.partial).toBeNull();
    expect(segmenter.push(0n, Buffer.alloc(0))).toEqual([]);
    const [slice] = segmenter.push(0n, Buffer.alloc(16 * MB));
    expect(slice?.completesSegment).toBe(true);
    expect(segmenter.partial).toBeNull();
  });

  it('returns views, not copies', () => {
    const segmenter = new WalSegmenter({ segmentSize: MB, timeline: 1, startLsn: 0n });
    const piece = Buffer.alloc(10);
    const [slice] = segmenter.push(0n, piece);
    piece[3] = 7;
    expect(slice?.bytes[3]).toBe(7);
  });

  it('refuses gaps, overlaps and a start inside a segment', () => {
    const segmenter = new WalSegmenter({ segmentSize: MB, timeline: 1, startLsn: 0n });
    segmenter.push(0n, Buffer.alloc(100));
    expect(() => segmenter.push(101n, Buffer.alloc(1))).toThrow(/gap or an overlap/);
    expect(() => segmenter.push(99n, Buffer.alloc(1))).toThrow(/gap or an overlap/);
    expect(() => new WalSegmenter({ segmentSize: MB, timeline: 1, startLsn: 5n })).toThrow(
      /segment boundary/,
    );
    expect(() => new WalSegmenter({ segmentSize: 3 * MB, timeline: 1, startLsn: 0n })).toThrow(
      RangeError,
    );
    expect(() => new WalSegmenter({ segmentSize: MB, timeline: 0, startLsn: 0n })).toThrow(
      RangeError,
    );
  });

  it('works with 1 GB segments', () => {
    const segmenter = new WalSegmenter({
      segmentSize: 1024 * MB,
      timeline: 1,
      startLsn: parseLsn('0/C0000000'),
    });
    expect(segmenter.push(parseLsn('0/C0000000'), Buffer.alloc(1))[0]).toMatchObject({
      fileName: '000000010000000000000003',
      offset: 0,
      completesSegment: false,
    });
    expect(segmenter.partial?.bytesFilled).toBe(1);
  });
});
