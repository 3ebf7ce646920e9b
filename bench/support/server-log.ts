/**
 * Recovery milestones read from a PostgreSQL server log, for per-phase timings. Understands both
 * `%m [%p] ` (the test servers' prefix, carried to restored nodes) and Tidemark's isolated-phase
 * prefix `tidemark|%m|%p|%b| `; timestamps must be in UTC (log_timezone = 'UTC').
 */
import { readFile } from 'node:fs/promises';

export interface LogLine {
  /** epoch milliseconds */
  at: number;
  level: string;
  message: string;
}

const linePattern = /(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d\.\d{3}) UTC\b.*?\b(LOG|WARNING|ERROR|FATAL|PANIC):\s+(.*)$/;

export function parseServerLog(text: string): LogLine[] {
  const lines: LogLine[] = [];
  for (const raw of text.split('\n')) {
    const match = linePattern.exec(raw);
    if (match) lines.push({ at: Date.parse(`${match[1]}T${match[2]}Z`), level: match[3]!, message: match[4]! });
  }
  return lines;
}

export async function readServerLog(path: string): Promise<LogLine[]> {
  return parseServerLog(await readFile(path, 'utf8').catch(() => ''));
}

/** Epoch ms of the milestones of one recovery (null when the log does not show one). */
export interface RecoveryMilestones {
  /** the postmaster's first line */
  serverStart: number | null;
  redoStart: number | null;
  /** "recovery stopping at restore point …" */
  targetReached: number | null;
  /** "archive recovery complete": promotion ended recovery */
  recoveryComplete: number | null;
  /** the first "ready to accept connections" after recovery completed: the server is promoted */
  promotedReady: number | null;
  /** the last "ready to accept connections" in the log (after a restart, if there was one) */
  lastReady: number | null;
}

export function recoveryMilestones(lines: readonly LogLine[]): RecoveryMilestones {
  const first = (pattern: RegExp, after = -Infinity): number | null => lines.find((l) => l.at >= after && pattern.test(l.message))?.at ?? null;
  const recoveryComplete = first(/^archive recovery complete/);
  const ready = lines.filter((l) => /ready to accept connections/.test(l.message));
  return {
    serverStart: lines[0]?.at ?? null,
    redoStart: first(/^redo starts at/),
    targetReached: first(/^recovery stopping at restore point/),
    recoveryComplete,
    promotedReady: recoveryComplete === null ? null : (ready.find((l) => l.at >= recoveryComplete)?.at ?? null),
    lastReady: ready.at(-1)?.at ?? null,
  };
}
