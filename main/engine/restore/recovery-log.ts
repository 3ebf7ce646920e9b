import { restoreCommandTimeoutText } from './restore-command.js';

/**
 * Reads what a recovering server wrote to its log (with the line prefix the isolated phase sets,
 * `tidemark|<time>|<pid>|<backend type>| `) and tells whether recovery stopped at the restore point or
 * failed, and why. `pg_ctl -w` cannot tell: a hot standby accepts connections while it replays,
 * and a server that ends recovery early also starts.
 */

export type RecoveryFailureKind = 'target_unreachable' | 'wal_wait_timeout' | 'insufficient_parameters' | 'fatal';

export interface RecoveryFailure {
  kind: RecoveryFailureKind;
  /** the decisive log line(s), without the prefix */
  message: string;
}

export interface RecoveryLogReading {
  /** the server logged that it stopped at this restore point */
  reachedPoint: boolean;
  failure: RecoveryFailure | null;
  /** where replay ended when the server says so (`redo done at 0/3000100`) */
  redoDoneAt: string | null;
}

const prefixed = /^tidemark\|[^|]*\|(\d+)\|([^|]*)\| ([A-Z]+):\s+(.*)$/;

/** Server processes whose FATAL ends the recovery (a client backend's FATAL concerns one connection). */
const decisiveBackends = new Set(['startup', 'postmaster']);

export function readRecoveryLog(text: string, pointName: string): RecoveryLogReading {
  const lines = text.split('\n');
  let reachedPoint = false;
  let redoDoneAt: string | null = null;
  const failures: RecoveryFailure[] = [];
  const stopLine = `recovery stopping at restore point "${pointName}"`;

  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    if (line.includes(restoreCommandTimeoutText)) {
      failures.push({ kind: 'wal_wait_timeout', message: line.trim() });
      continue;
    }
    const match = prefixed.exec(line);
    if (!match) continue;
    const backend = match[2] as string;
    const level = match[3] as string;
    const message = match[4] as string;
    if (message.startsWith(stopLine)) reachedPoint = true;
    redoDoneAt = /^redo done at ([0-9A-F]+\/[0-9A-F]+)/.exec(message)?.[1] ?? redoDoneAt;
    if (message.includes('insufficient parameter settings')) {
      failures.push({ kind: 'insufficient_parameters', message: [message, ...followingDetails(lines, i)].join(' ') });
    } else if (message.includes('recovery ended before configured recovery target was reached') || message.includes('requested recovery stop point is before consistent recovery point')) {
      failures.push({ kind: 'target_unreachable', message });
    } else if (level === 'PANIC' || (level === 'FATAL' && decisiveBackends.has(backend))) {
      failures.push({ kind: 'fatal', message: [`${level}: ${message}`, ...followingDetails(lines, i)].join(' ') });
    }
  }
  const order: RecoveryFailureKind[] = ['wal_wait_timeout', 'insufficient_parameters', 'target_unreachable', 'fatal'];
  failures.sort((a, b) => order.indexOf(a.kind) - order.indexOf(b.kind));
  return { reachedPoint, failure: failures[0] ?? null, redoDoneAt };
}

/** DETAIL/HINT lines that belong to the message at `index`. */
function followingDetails(lines: string[], index: number): string[] {
  const details: string[] = [];
  for (let j = index + 1; j < lines.length; j++) {
    const match = prefixed.exec(lines[j] as string);
    if (!match || !['DETAIL', 'HINT', 'CONTEXT'].includes(match[3] as string)) break;
    details.push(`${match[3]}: ${match[4]}`);
  }
  return details;
}
