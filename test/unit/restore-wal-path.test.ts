import { describe, expect, it } from 'vitest';
import { timelinePath, walFilesForRange } from '../../main/engine/restore/wal-path.js';

const MB16 = 16 * 1024 * 1024;

describe('WAL path of a restore', () => {
  it('lists every segment on one timeline from the backup start to the target', () => {
    const path = timelinePath(1, 1, null)!;
    const files = walFilesForRange(path, 0x2000028n, 0x5000000n, MB16);
    expect(files.histories).toEqual([]);
    // the target sits exactly on a segment boundary: the segment starting there is not needed
    expect(files.segments).toEqual(['000000010000000000000002', '000000010000000000000003', '000000010000000000000004']);
  });

  it('switches to the new timeline at the segment that holds the switch point', () => {
    const history = [{ parent: 1, switchLsn: '0/3800000' }];
    const path = timelinePath(1, 2, history)!;
    expect(path.map((s) => s.timeline)).toEqual([1, 2]);
    const files = walFilesForRange(path, 0x2000028n, 0x4000100n, MB16);
    expect(files.histories).toEqual(['00000002.history']);
    expect(files.segments).toEqual(['000000010000000000000002', '000000020000000000000003', '000000020000000000000004']);
  });

  it('walks several timelines and refuses a backup that is not an ancestor', () => {
    const history = [
      { parent: 1, switchLsn: '0/3000000' },
      { parent: 2, switchLsn: '0/5000010' },
    ];
    const path = timelinePath(2, 3, history)!;
    expect(path).toEqual([
      { timeline: 2, begin: 0x3000000n },
      { timeline: 3, begin: 0x5000010n },
    ]);
    expect(walFilesForRange(path, 0x4000000n, 0x6000001n, MB16).segments).toEqual([
      '000000020000000000000004',
      '000000030000000000000005',
      '000000030000000000000006',
    ]);
    expect(timelinePath(4, 3, history)).toBeNull();
    expect(timelinePath(1, 2, null)).toBeNull();
  });
});
