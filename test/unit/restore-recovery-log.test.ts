import { describe, expect, it } from 'vitest';
import { readRecoveryLog } from '../../main/engine/restore/recovery-log.js';
import { parseTablespaceMap, relocateTablespaces, renderTablespaceMap } from '../../main/engine/restore/tablespace-map.js';
import { TidemarkError } from '../../main/engine/errors.js';

const log = (...lines: string[]): string => `${lines.join('\n')}\n`;

describe('reading a recovering server log', () => {
  it('sees the stop at the restore point', () => {
    const reading = readRecoveryLog(
      log(
        'tidemark|2024-05-01 10:00:00.123 UTC|4101|startup| LOG:  starting point-in-time recovery to "p1"',
        'tidemark|2024-05-01 10:00:00.123 UTC|4101|startup| LOG:  restored log file "000000010000000000000003" from archive',
        'tidemark|2024-05-01 10:00:00.123 UTC|4101|startup| LOG:  recovery stopping at restore point "p1", time 2024-05-01 10:00:00.1+00',
        'tidemark|2024-05-01 10:00:00.123 UTC|4101|startup| LOG:  pausing at the end of recovery',
        'tidemark|2024-05-01 10:00:00.123 UTC|4101|startup| HINT:  Execute pg_wal_replay_resume() to promote.',
      ),
      'p1',
    );
    expect(reading).toEqual({ reachedPoint: true, failure: null, redoDoneAt: null });
    // another point's stop line is not this point's
    expect(readRecoveryLog('tidemark|2024-05-01 10:00:00.123 UTC|1|startup| LOG:  recovery stopping at restore point "p10", time x\n', 'p1').reachedPoint).toBe(false);
  });

  it('reports a target beyond the WAL', () => {
    const reading = readRecoveryLog(
      log('tidemark|2024-05-01 10:00:00.123 UTC|4101|startup| LOG:  redo done at 0/3000100', 'tidemark|2024-05-01 10:00:00.123 UTC|4101|startup| FATAL:  recovery ended before configured recovery target was reached', 'tidemark|2024-05-01 10:00:00.123 UTC|4099|postmaster| LOG:  startup process (PID 4101) exited with exit code 1'),
      'p1',
    );
    expect(reading.failure?.kind).toBe('target_unreachable');
    expect(reading.redoDoneAt).toBe('0/3000100');
  });

  it('reports insufficient parameters with the detail that names the parameter', () => {
    const reading = readRecoveryLog(
      log(
        'tidemark|2024-05-01 10:00:00.123 UTC|4101|startup| WARNING:  hot standby is not possible because of insufficient parameter settings',
        'tidemark|2024-05-01 10:00:00.123 UTC|4101|startup| DETAIL:  max_prepared_transactions = 0 is a lower setting than on the primary server, where its value was 200.',
        'tidemark|2024-05-01 10:00:00.123 UTC|4101|startup| LOG:  recovery has paused',
      ),
      'p1',
    );
    expect(reading.failure?.kind).toBe('insufficient_parameters');
    expect(reading.failure?.message).toContain('max_prepared_transactions = 0');
  });

  it('prefers the restore_command timeout over the FATAL it causes', () => {
    const reading = readRecoveryLog(
      log(
        "tidemark restore_command: timed out after 600 s waiting for WAL file 000000010000000000000009 in /r/wal-spool: Tidemark did not deliver it",
        'tidemark|2024-05-01 10:00:00.123 UTC|4101|startup| FATAL:  could not restore file "000000010000000000000009" from archive: command not executable',
      ),
      'p1',
    );
    expect(reading.failure?.kind).toBe('wal_wait_timeout');
  });

  it('ignores a client connection refused while the server starts, but not a startup FATAL or any PANIC', () => {
    expect(readRecoveryLog('tidemark|2024-05-01 10:00:00.123 UTC|4200|client backend| FATAL:  the database system is starting up\n', 'p1').failure).toBeNull();
    expect(readRecoveryLog('tidemark|2024-05-01 10:00:00.123 UTC|4101|startup| FATAL:  requested timeline 2 is not a child of this server\'s history\n', 'p1').failure?.kind).toBe('fatal');
    expect(readRecoveryLog('tidemark|2024-05-01 10:00:00.123 UTC|4102|checkpointer| PANIC:  could not write to file "pg_wal/xlogtemp.1": No space left on device\n', 'p1').failure?.kind).toBe('fatal');
  });
});

describe('tablespace_map', () => {
  it('parses and writes back escaped paths', () => {
    const text = '16385 /srv/ts one\n16390 /srv/odd\\\\name\\\nline\n';
    const map = parseTablespaceMap(text);
    expect(map.get(16385)).toBe('/srv/ts one');
    expect(map.get(16390)).toBe('/srv/odd\\name\nline');
    expect(renderTablespaceMap(map)).toBe(text);
  });

  it('moves every tablespace to its new location, and refuses one without a location', () => {
    expect(relocateTablespaces('16385 /old/ts\n', { 16385: '/new/ts' }, 'n1')).toBe('16385 /new/ts\n');
    expect(() => relocateTablespaces('16385 /old/ts\n16386 /old/ts2\n', { 16385: '/new/ts' }, 'n1')).toThrow(TidemarkError);
    expect(() => parseTablespaceMap('garbage\n')).toThrow(TidemarkError);
  });
});
