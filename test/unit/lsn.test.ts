import { describe, expect, it } from 'vitest';
import {
  compareLsn,
  formatLsn,
  isSegmentStart,
  isValidSegmentSize,
  maxLsn,
  parseLsn,
  parseTimelineHistoryFileName,
  parseWalSegmentFileName,
  segmentNumberOf,
  segmentOffsetOf,
  segmentStartLsn,
  segmentStartOf,
  timelineHistoryFileName,
  walSegmentFileName,
  walSegmentFileNameForLsn,
} from '../../main/engine/replication/lsn.js';

const MB = 1024 * 1024;
const GB = 1024 * MB;

describe('parseLsn / formatLsn', () => {
  it('parses the server notation into 64 bits', () => {
    expect(parseLsn('16/B374D848')).toBe(0x16_b374d848n);
    expect(parseLsn('0/0')).toBe(0n);
    expect(parseLsn('0/1')).toBe(1n);
    expect(parseLsn('1/0')).toBe(0x1_0000_0000n);
    expect(parseLsn('FFFFFFFF/FFFFFFFF')).toBe(maxLsn);
    expect(parseLsn('ab/cd')).toBe(0xab_0000_00cdn);
    expect(parseLsn(' 0/3000028 ')).toBe(0x3000028n);
  });

  it('formats like PostgreSQL: upper case, no padding', () => {
    expect(formatLsn(0x16_b374d848n)).toBe('16/B374D848');
    expect(formatLsn(0n)).toBe('0/0');
    expect(formatLsn(0x1_0000_0000n)).toBe('1/0');
    expect(formatLsn(0x3000028n)).toBe('0/3000028');
    expect(formatLsn(maxLsn)).toBe('FFFFFFFF/FFFFFFFF');
  });

  it('round-trips', () => {
    for (const lsn of [0n, 1n, 0xffff_ffffn, 0x1_0000_0000n, 0x1234_5678_9abc_def0n, maxLsn]) {
      expect(parseLsn(formatLsn(lsn))).toBe(lsn);
    }
  });

  it('rejects anything else', () => {
    for (const bad of [
      '',
      '0',
      '/0',
      '0/',
      '1/2/3',
      'G/0',
      '123456789/0',
      '0/123456789',
      '-1/0',
      '0x1/0',
      '1 /0',
    ]) {
      expect(() => parseLsn(bad), bad).toThrow(RangeError);
    }
    expect(() => formatLsn(-1n)).toThrow(RangeError);
    expect(() => formatLsn(maxLsn + 1n)).toThrow(RangeError);
  });

  it('compares', () => {
    expect(compareLsn(1n, 2n)).toBe(-1);
    expect(compareLsn(2n, 2n)).toBe(0);
    expect(compareLsn(parseLsn('1/0'), parseLsn('0/FFFFFFFF'))).toBe(1);
  });
});

describe('segment sizes', () => {
  it('accepts powers of two from 1 MB to 1 GB only', () => {
    for (const size of [MB, 2 * MB, 16 * MB, 64 * MB, 512 * MB, GB])
      expect(isValidSegmentSize(size)).toBe(true);
    for (const size of [0, MB / 2, 3 * MB, 2 * GB, 16 * MB + 1, -16 * MB, 1.5])
      expect(isValidSegmentSize(size)).toBe(false);
    expect(() => segmentNumberOf(0n, 3 * MB)).toThrow(RangeError);
  });
});

describe('segment arithmetic', () => {
  const size = 16 * MB;
  it('finds the segment of an LSN at and around boundaries', () => {
    expect(segmentNumberOf(0n, size)).toBe(0n);
    expect(segmentNumberOf(BigInt(size) - 1n, size)).toBe(0n);
    expect(segmentNumberOf(BigInt(size), size)).toBe(1n);
    expect(segmentNumberOf(parseLsn('16/B374D848'), size)).toBe(0x16b3n);
    expect(segmentStartOf(parseLsn('16/B374D848'), size)).toBe(parseLsn('16/B3000000'));
    expect(segmentOffsetOf(parseLsn('16/B374D848'), size)).toBe(0x74d848);
    expect(segmentStartOf(parseLsn('1/0'), size)).toBe(parseLsn('1/0'));
    expect(segmentStartOf(parseLsn('0/FFFFFFFF'), size)).toBe(parseLsn('0/FF000000'));
    expect(isSegmentStart(parseLsn('0/3000000'), size)).toBe(true);
    expect(isSegmentStart(parseLsn('0/3000001'), size)).toBe(false);
    expect(isSegmentStart(parseLsn('0/2FFFFFF'), size)).toBe(false);
    expect(segmentStartLsn(0x16b3n, size)).toBe(parseLsn('16/B3000000'));
    expect(() => segmentStartLsn(-1n, size)).toThrow(RangeError);
  });

  it('handles the last segment of the address space', () => {
    expect(segmentNumberOf(maxLsn, size)).toBe(0xffff_ffff_ffn);
    expect(walSegmentFileNameForLsn(1, maxLsn, size)).toBe('00000001FFFFFFFF000000FF');
    expect(() => segmentStartLsn(0x1_0000_0000_00n, size)).toThrow(RangeError);
  });
});

describe('WAL segment file names', () => {
  it('matches PostgreSQL for 16 MB segments', () => {
    expect(walSegmentFileName(1, 1n, 16 * MB)).toBe('000000010000000000000001');
    expect(walSegmentFileNameForLsn(1, parseLsn('0/3000028'), 16 * MB)).toBe(
      '000000010000000000000003',
    );
    expect(walSegmentFileNameForLsn(1, parseLsn('16/B374D848'), 16 * MB)).toBe(
      '0000000100000016000000B3',
    );
    expect(walSegmentFileNameForLsn(1, parseLsn('0/FF000000'), 16 * MB)).toBe(
      '0000000100000000000000FF',
    );
    expect(walSegmentFileNameForLsn(1, parseLsn('1/0'), 16 * MB)).toBe('000000010000000100000000');
  });

  it('writes the timeline in hex', () => {
    expect(walSegmentFileName(10, 0n, 16 * MB)).toBe('0000000A0000000000000000');
    expect(walSegmentFileName(0x1f, 0x100n, 16 * MB)).toBe('0000001F0000000100000000');
    expect(walSegmentFileName(0xffff_ffff, 0n, 16 * MB)).toBe('FFFFFFFF0000000000000000');
    expect(() => walSegmentFileName(0, 0n, 16 * MB)).toThrow(RangeError);
    expect(() => walSegmentFileName(0x1_0000_0000, 0n, 16 * MB)).toThrow(RangeError);
    expect(() => walSegmentFileName(1.5, 0n, 16 * MB)).toThrow(RangeError);
  });

  it('uses 4 segments per 4 GB with 1 GB segments, and 4096 with 1 MB', () => {
    expect(walSegmentFileNameForLsn(1, parseLsn('0/C0000000'), GB)).toBe(
      '000000010000000000000003',
    );
    expect(walSegmentFileNameForLsn(1, parseLsn('1/0'), GB)).toBe('000000010000000100000000');
    expect(walSegmentFileNameForLsn(1, parseLsn('1/7FFFFFFF'), GB)).toBe(
      '000000010000000100000001',
    );
    expect(walSegmentFileNameForLsn(1, parseLsn('0/FFF00000'), MB)).toBe(
      '000000010000000000000FFF',
    );
    expect(walSegmentFileNameForLsn(1, parseLsn('1/100000'), MB)).toBe('000000010000000100000001');
  });

  it('parses names back', () => {
    expect(parseWalSegmentFileName('0000000100000016000000B3', 16 * MB)).toEqual({
      timeline: 1,
      segmentNumber: 0x16b3n,
      startLsn: parseLsn('16/B3000000'),
    });
    expect(parseWalSegmentFileName('0000000A0000000100000003', GB)).toEqual({
      timeline: 10,
      segmentNumber: 7n,
      startLsn: parseLsn('1/C0000000'),
    });
    for (const size of [MB, 16 * MB, GB]) {
      for (const lsn of [
        0n,
        parseLsn('0/FFFFFFFF'),
        parseLsn('1/0'),
        parseLsn('16/B374D848'),
        maxLsn,
      ]) {
        const name = walSegmentFileNameForLsn(3, lsn, size);
        expect(parseWalSegmentFileName(name, size)).toEqual({
          timeline: 3,
          segmentNumber: segmentNumberOf(lsn, size),
          startLsn: segmentStartOf(lsn, size),
        });
      }
    }
  });

  it('refuses what is not a segment name for that size', () => {
    expect(parseWalSegmentFileName('000000010000000000000004', GB)).toBeNull();
    expect(parseWalSegmentFileName('000000010000000000000100', 16 * MB)).toBeNull();
    expect(parseWalSegmentFileName('000000000000000000000001', 16 * MB)).toBeNull();
    expect(parseWalSegmentFileName('00000001000000000000000a', 16 * MB)).toBeNull();
    expect(parseWalSegmentFileName('000000010000000000000001.partial', 16 * MB)).toBeNull();
    expect(parseWalSegmentFileName('00000002.history', 16 * MB)).toBeNull();
    expect(parseWalSegmentFileName('00000001000000000000001', 16 * MB)).toBeNull();
  });
});

describe('timeline history file names', () => {
  it('formats and parses', () => {
    expect(timelineHistoryFileName(2)).toBe('00000002.history');
    expect(timelineHistoryFileName(0x1a)).toBe('0000001A.history');
    expect(parseTimelineHistoryFileName('0000001A.history')).toBe(26);
    expect(parseTimelineHistoryFileName('00000000.history')).toBeNull();
    expect(parseTimelineHistoryFileName('0000001a.history')).toBeNull();
    expect(parseTimelineHistoryFileName('000000010000000000000001')).toBeNull();
    expect(() => timelineHistoryFileName(0)).toThrow(RangeError);
  });
});
