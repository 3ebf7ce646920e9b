import { describe, expect, it } from 'vitest';
import {
  formatAmount,
  formatBytes,
  formatDuration,
  formatElapsed,
  formatEta,
  formatProgress,
  formatRate,
  formatTimestamp,
  progressPercent,
} from '../../renderer/src/format.js';

describe('formatBytes', () => {
  it('keeps small sizes in bytes', () => {
    expect(formatBytes(0)).toBe('0 bytes');
    expect(formatBytes(1023)).toBe('1023 bytes');
  });

  it('uses 1024 steps and pg_size_pretty unit names with three significant digits', () => {
    expect(formatBytes(1024)).toBe('1.00 kB');
    expect(formatBytes(1536)).toBe('1.50 kB');
    expect(formatBytes(16 * 1024 * 1024)).toBe('16.0 MB');
    expect(formatBytes(150 * 1024 * 1024)).toBe('150 MB');
    expect(formatBytes(3.4 * 1024 ** 3)).toBe('3.40 GB');
    expect(formatBytes(2 * 1024 ** 4)).toBe('2.00 TB');
  });

  it('moves up a unit instead of printing 1024 of the smaller one', () => {
    expect(formatBytes(1024 * 1024 - 10)).toBe('1.00 MB');
  });

  it('keeps the sign and refuses non-numbers', () => {
    expect(formatBytes(-2048)).toBe('-2.00 kB');
    expect(formatBytes(Number.NaN)).toBe('—');
  });
});

describe('formatDuration', () => {
  it('shows the two largest units', () => {
    expect(formatDuration(130)).toBe('2 min 10 s');
    expect(formatDuration(45)).toBe('45 s');
    expect(formatDuration(3_600 + 5 * 60 + 9)).toBe('1 h 5 min');
    expect(formatDuration(2 * 86_400 + 3 * 3_600 + 59)).toBe('2 d 3 h');
  });

  it('drops a trailing zero unit', () => {
    expect(formatDuration(3_600)).toBe('1 h');
    expect(formatDuration(3_605)).toBe('1 h');
    expect(formatDuration(120)).toBe('2 min');
  });

  it('handles zero, fractions and nonsense', () => {
    expect(formatDuration(0)).toBe('0 s');
    expect(formatDuration(0.2)).toBe('< 1 s');
    expect(formatDuration(59.6)).toBe('1 min');
    expect(formatDuration(-1)).toBe('—');
    expect(formatDuration(Number.POSITIVE_INFINITY)).toBe('—');
  });
});

describe('rates and amounts', () => {
  it('formats rates per unit', () => {
    expect(formatRate(45.3 * 1024 * 1024, 'bytes')).toBe('45.3 MB/s');
    expect(formatRate(12.5, 'items')).toBe('12.5 items/s');
    expect(formatRate(250, 'items')).toBe('250 items/s');
    expect(formatRate(3, 'seconds')).toBe('3.0 s/s');
    expect(formatRate(null, 'bytes')).toBe('—');
  });

  it('formats amounts per unit', () => {
    expect(formatAmount(1, 'items')).toBe('1 item');
    expect(formatAmount(12, 'items')).toBe('12 items');
    expect(formatAmount(130, 'seconds')).toBe('2 min 10 s');
    expect(formatAmount(2048, 'bytes')).toBe('2.00 kB');
  });

  it('formats the time left', () => {
    expect(formatEta(130)).toBe('2 min 10 s left');
    expect(formatEta(null)).toBe('—');
  });
});

describe('progress', () => {
  it('never shows 100 % before the work is done, nor more than 100 %', () => {
    expect(progressPercent(999, 1000)).toBe(99);
    expect(progressPercent(1000, 1000)).toBe(100);
    expect(progressPercent(1500, 1000)).toBe(100);
    expect(progressPercent(5, null)).toBeNull();
    expect(progressPercent(5, 0)).toBeNull();
  });

  it('says done of total with the percentage, or only done when the total is unknown', () => {
    expect(formatProgress({ done: 1.2 * 1024 ** 3, total: 3.4 * 1024 ** 3, unit: 'bytes' })).toBe(
      '1.20 GB of 3.40 GB (35 %)',
    );
    expect(formatProgress({ done: 3, total: 10, unit: 'items' })).toBe(
      '3 items of 10 items (30 %)',
    );
    expect(formatProgress({ done: 5 * 1024 * 1024, total: null, unit: 'bytes' })).toBe('5.00 MB');
  });
});

describe('timestamps', () => {
  it('prints local wall-clock time, sortable', () => {
    const date = new Date(2025, 2, 5, 14, 3, 22);
    expect(formatTimestamp(date.toISOString())).toBe('2025-03-05 14:03:22');
    expect(formatTimestamp(null)).toBe('—');
    expect(formatTimestamp('not a date')).toBe('—');
  });

  it('measures elapsed time up to now while running, up to the end once ended', () => {
    const start = '2025-03-05T10:00:00.000Z';
    expect(formatElapsed(start, '2025-03-05T10:02:10.000Z', 0)).toBe('2 min 10 s');
    expect(formatElapsed(start, null, Date.parse('2025-03-05T11:00:00.000Z'))).toBe('1 h');
    expect(formatElapsed(null, null, 0)).toBe('—');
  });
});
