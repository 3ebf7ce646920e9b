import { spawn } from 'node:child_process';
import { open, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import { isAbortError } from '../errors.js';
import type { LocalNode } from '../restore/local-node.js';
import { connectSandboxNode } from './sandbox-node.js';

/** Sample tables: a reference table and a distributed one, so writes are 2PC across workers. */
export const sandboxSchemaSql = `
CREATE TABLE sandbox_devices (device_id int PRIMARY KEY, name text NOT NULL, updated_at timestamptz NOT NULL DEFAULT now());
SELECT create_reference_table('sandbox_devices');
INSERT INTO sandbox_devices (device_id, name) SELECT i, 'device ' || i FROM generate_series(1, 32) AS i;
CREATE TABLE sandbox_readings (
  device_id int NOT NULL,
  reading_id bigserial,
  taken_at timestamptz NOT NULL DEFAULT now(),
  value double precision NOT NULL,
  PRIMARY KEY (device_id, reading_id)
);
SELECT create_distributed_table('sandbox_readings', 'device_id');
INSERT INTO sandbox_readings (device_id, value) SELECT 1 + i % 32, random() * 100 FROM generate_series(1, 10000) AS i;
`;

/** One round of the light writer: readings across shards, now and then a reference-table update. */
async function writeRound(client: pg.Client, round: number): Promise<void> {
  await client.query(
    'INSERT INTO sandbox_readings (device_id, value) SELECT 1 + (random() * 31)::int, random() * 100 FROM generate_series(1, 20)',
  );
  if (round % 10 === 0) {
    await client.query('UPDATE sandbox_devices SET updated_at = now() WHERE device_id = $1', [
      1 + (round % 32),
    ]);
  }
}

/**
 * Writes a little into the sandbox every `intervalMs` until `signal` aborts, so its timeline
 * fills. A lost connection is retried; errors go to `log`.
 */
export async function runSandboxWriter(
  coordinator: LocalNode,
  options: { signal: AbortSignal; intervalMs?: number; log?: (line: string) => void },
): Promise<void> {
  const intervalMs = options.intervalMs ?? 1000;
  let client: pg.Client | null = null;
  try {
    for (let round = 1; !options.signal.aborted; round++) {
      try {
        client ??= await connectSandboxNode(coordinator, 10_000);
        await writeRound(client, round);
      } catch (err) {
        options.log?.(`${new Date().toISOString()} write failed: ${(err as Error).message}`);
        await client?.end().catch(() => undefined);
        client = null;
      }
      await sleep(intervalMs, undefined, { signal: options.signal }).catch((err: unknown) => {
        if (!isAbortError(err)) throw err;
      });
    }
  } finally {
    await client?.end().catch(() => undefined);
  }
}

export interface WriterCommand {
  command: string;
  args: string[];
}

/** Starts the writer as a detached process (it outlives the command that started it); returns its pid. */
export async function startWriterProcess(writer: WriterCommand, logFile: string): Promise<number> {
  const log = await open(logFile, 'a', 0o600);
  try {
    const child = spawn(writer.command, writer.args, {
      detached: true,
      stdio: ['ignore', log.fd, log.fd],
    });
    const pid = child.pid;
    child.unref();
    if (pid === undefined) throw new Error(`could not start ${writer.command}`);
    return pid;
  } finally {
    await log.close();
  }
}

/**
 * Whether `pid` is still the writer: alive, and (where /proc exists) running the sandbox
 * writer command, so a recycled pid is never taken for it.
 */
export async function isWriterProcess(pid: number): Promise<boolean> {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const cmdline = await readFile(join('/proc', String(pid), 'cmdline'), 'utf8').catch(() => null);
  if (cmdline === null) return process.platform !== 'linux';
  const args = cmdline.split('\0');
  return args.includes('sandbox') && args.includes('writer');
}

/** Stops the writer (SIGTERM), waiting up to 5 s. */
export async function stopWriterProcess(pid: number): Promise<void> {
  if (!(await isWriterProcess(pid))) return;
  process.kill(pid, 'SIGTERM');
  for (let i = 0; i < 100 && (await isWriterProcess(pid)); i++) await sleep(50);
}
