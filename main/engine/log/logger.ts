import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import pino, { type Logger } from 'pino';

export type { Logger };

/** Keys whose values are never written to a log, wherever they appear. */
export const redactedKeys = ['password', 'passphrase', 'secret', 'secretAccessKey', 'accountKey', 'sasToken', 'token', 'privateKey', 'key', 'masterKey', 'dataKey'];

const redactPaths = redactedKeys.flatMap((k) => [k, `*.${k}`, `*.*.${k}`]);

export interface LoggerOptions {
  dir?: string;
  level?: string;
  /** also write JSON lines to stdout (the headless agent) */
  stdout?: boolean;
}

/**
 * Structured JSON logs, rotated daily or at 10 MB, seven files kept. Secrets are redacted
 * by key name; callers must still never pass secret values in messages.
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const targets: pino.TransportTargetOptions[] = [];
  if (options.dir) {
    mkdirSync(options.dir, { recursive: true, mode: 0o700 });
    targets.push({
      target: 'pino-roll',
      options: { file: join(options.dir, 'tidemark'), extension: '.log', frequency: 'daily', size: '10m', limit: { count: 7 }, mkdir: true },
    });
  }
  if (options.stdout) targets.push({ target: 'pino/file', options: { destination: 1 } });
  const base = { level: options.level ?? 'info', redact: { paths: redactPaths, censor: '[redacted]' } };
  if (targets.length === 0) return pino({ ...base, enabled: false });
  return pino(base, pino.transport({ targets }));
}
