import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { PassThrough } from 'node:stream';
import { once } from 'node:events';
import type { Zone, ZoneObjectInfo } from '../../main/engine/repository/zone.js';
import { readAll } from '../../main/engine/repository/zones/zone-probe.js';
import { TidemarkError } from '../../main/engine/errors.js';

export { readAll };

export function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

export async function collect(items: AsyncIterable<ZoneObjectInfo>): Promise<ZoneObjectInfo[]> {
  const out: ZoneObjectInfo[] = [];
  for await (const item of items) out.push(item);
  return out;
}

export async function keysOf(zone: Zone, prefix: string): Promise<string[]> {
  return (await collect(zone.list(prefix))).map((i) => i.key);
}

export async function getBytes(zone: Zone, key: string, offset?: number): Promise<Buffer> {
  return readAll(await zone.get(key, offset === undefined ? {} : { offset }));
}

/**
 * A stream the test feeds by hand: `write` resolves once the reader has taken the bytes
 * (backpressure released), so the test knows the put is in progress.
 */
export class HeldStream {
  readonly stream = new PassThrough({ highWaterMark: 64 * 1024 });
  private readonly parts: Buffer[] = [];

  async write(bytes: number, chunkSize = 64 * 1024): Promise<void> {
    for (let sent = 0; sent < bytes; sent += chunkSize) {
      const chunk = randomBytes(Math.min(chunkSize, bytes - sent));
      this.parts.push(chunk);
      if (!this.stream.write(chunk)) await once(this.stream, 'drain');
    }
  }

  end(): void {
    this.stream.end();
  }

  get written(): Buffer {
    return Buffer.concat(this.parts);
  }
}

/** Runs `fn` and returns the TidemarkError it rejects with (fails the test otherwise). */
export async function rejection(fn: () => Promise<unknown>): Promise<TidemarkError> {
  try {
    await fn();
  } catch (err) {
    if (err instanceof TidemarkError) return err;
    throw new Error(`expected a TidemarkError, got ${String(err)}`, { cause: err });
  }
  throw new Error('expected a rejection, but it resolved');
}

const writerChild = fileURLToPath(new URL('./zone-writer-child.ts', import.meta.url));

/**
 * Starts test/support/zone-writer-child.ts (one node process, so SIGKILL hits the writer
 * itself), optionally as another OS user.
 */
export function spawnZoneWriter(
  root: string,
  key: string,
  bytes: number,
  options: { user?: string } = {},
): ChildProcess {
  const argv = ['--import', 'tsx', writerChild, root, key, String(bytes)];
  const [command, args] = options.user
    ? ['runuser', ['-u', options.user, '--', process.execPath, ...argv]]
    : [process.execPath, argv];
  return spawn(command, args, {
    cwd: fileURLToPath(new URL('../..', import.meta.url)),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** Resolves with the first stdout line matching `pattern` (rejects if the child exits first). */
export function waitForLine(child: ChildProcess, pattern: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    let buffered = '';
    let stderr = '';
    const onData = (chunk: Buffer) => {
      buffered += chunk.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      const line = lines.find((l) => pattern.test(l));
      if (line !== undefined) {
        child.stdout?.off('data', onData);
        resolve(line);
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('exit', (code) =>
      reject(new Error(`writer exited (${code}) before printing ${pattern}: ${stderr}`)),
    );
  });
}
