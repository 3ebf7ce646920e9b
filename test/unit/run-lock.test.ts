import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, readFile, utimes, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TidemarkError } from '../../main/engine/errors.js';
import { acquireClusterRunLock, clusterLockPath, readLockHolder, type LockHolder } from '../../main/engine/schedule/run-lock.js';
import { tempDir } from '../support/temp-dir.js';

const runLockModule = resolve('main/engine/schedule/run-lock.ts');

/**
 * A child process that tries to take the cluster lock, prints one JSON line with the
 * outcome, then holds it: until killed (`hold`), or exits without releasing it (`exit`).
 */
const childSource = `
import { acquireClusterRunLock } from ${JSON.stringify(runLockModule)};
const [dataDir, mode, holdMs] = process.argv.slice(2);
try {
  await acquireClusterRunLock({ dataDir, clusterId: 'prod', purpose: 'manual base backup', logger: { warn: (_o, msg) => console.log(JSON.stringify({ warn: msg })) } });
  console.log(JSON.stringify({ result: 'locked', pid: process.pid }));
  if (mode === 'exit') process.exit(0);
  setTimeout(() => process.exit(0), Number(holdMs));
} catch (err) {
  console.log(JSON.stringify({ result: 'busy', code: err.code, message: err.message }));
  process.exit(3);
}
`;

interface ChildLine {
  result?: 'locked' | 'busy';
  warn?: string;
  pid?: number;
  code?: string;
  message?: string;
}

let dir: { path: string; cleanup: () => Promise<void> };
let script: string;
const children: ChildProcess[] = [];

beforeEach(async () => {
  dir = await tempDir('tidemark-lock-');
  script = join(dir.path, 'lock-child.mts');
  await writeFile(script, childSource);
});
afterEach(async () => {
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await dir.cleanup();
});

function startChild(mode: 'hold' | 'exit', holdMs = 60_000): { child: ChildProcess; lines: ChildLine[]; result: Promise<ChildLine> } {
  const child = spawn(process.execPath, ['--import', 'tsx', script, dir.path, mode, String(holdMs)], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  const lines: ChildLine[] = [];
  const result = new Promise<ChildLine>((resolveResult, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const parsed = JSON.parse(line) as ChildLine;
      lines.push(parsed);
      if (parsed.result) resolveResult(parsed);
    });
    child.once('exit', (code) => reject(new Error(`child exited with ${code} before reporting`)));
  });
  return { child, lines, result };
}

function expectBusy(err: unknown): TidemarkError {
  expect(err).toBeInstanceOf(TidemarkError);
  expect((err as TidemarkError).code).toBe('conflict');
  return err as TidemarkError;
}

describe('cluster run lock', () => {
  it('lets exactly one of several processes racing for it through (O_EXCL)', async () => {
    const racers = Array.from({ length: 4 }, () => startChild('hold', 3_000));
    const results = await Promise.all(racers.map((r) => r.result));
    expect(results.filter((r) => r.result === 'locked')).toHaveLength(1);
    const busy = results.filter((r) => r.result === 'busy');
    expect(busy).toHaveLength(3);
    const winner = results.find((r) => r.result === 'locked')!;
    for (const b of busy) expect(b.message).toContain(`by process ${winner.pid} on ${hostname()}`);
  });

  it('refuses while a live process holds it, naming purpose, start time, pid and host', async () => {
    const holder = startChild('hold');
    const locked = await holder.result;
    expect(locked.result).toBe('locked');
    const onDisk = (await readLockHolder(clusterLockPath(dir.path, 'prod'))) as LockHolder;
    const err = expectBusy(await acquireClusterRunLock({ dataDir: dir.path, clusterId: 'prod', purpose: 'scheduled restore point' }).catch((e: unknown) => e));
    expect(err.message).toBe(
      `Cluster prod is busy: manual base backup started at ${onDisk.startedAt} by process ${locked.pid} on ${hostname()}. Wait for it to finish, or stop that process.`,
    );
    expect(err.retryable).toBe(true);
  });

  it('takes over the lock of a SIGKILLed process, with a warning', async () => {
    const holder = startChild('hold');
    const locked = await holder.result;
    holder.child.kill('SIGKILL');
    await once(holder.child, 'exit');
    expect((await readLockHolder(clusterLockPath(dir.path, 'prod')))?.pid).toBe(locked.pid);
    const warnings: string[] = [];
    const lock = await acquireClusterRunLock({ dataDir: dir.path, clusterId: 'prod', purpose: 'scheduled base backup', logger: { warn: (_o: unknown, msg?: string) => void warnings.push(msg ?? '') } as never });
    expect(warnings).toEqual([expect.stringMatching(new RegExp(`^took over a stale lock: process ${locked.pid} \\(manual base backup, started .*\\) is no longer running$`))]);
    expect(await readLockHolder(lock.path)).toMatchObject({ pid: process.pid, purpose: 'scheduled base backup' });
    // While this process holds it, the lock is refused to others in this process too.
    expectBusy(await acquireClusterRunLock({ dataDir: dir.path, clusterId: 'prod', purpose: 'again' }).catch((e: unknown) => e));
    await lock.release();
    expect(existsSync(lock.path)).toBe(false);
  });

  it('lets exactly one of several processes take over the same stale lock', async () => {
    const dead = startChild('hold');
    await dead.result;
    dead.child.kill('SIGKILL');
    await once(dead.child, 'exit');
    const racers = Array.from({ length: 4 }, () => startChild('hold', 3_000));
    const results = await Promise.all(racers.map((r) => r.result));
    expect(results.filter((r) => r.result === 'locked')).toHaveLength(1);
    expect(racers.flatMap((r) => r.lines.filter((l) => l.warn))).toHaveLength(1);
  });

  it('is released when its process exits without releasing it', async () => {
    const holder = startChild('exit');
    expect((await holder.result).result).toBe('locked');
    const [code] = await once(holder.child, 'exit');
    expect(code).toBe(0);
    expect(existsSync(clusterLockPath(dir.path, 'prod'))).toBe(false);
  });

  it('treats a lock from an earlier boot or a reused pid as stale, and one from another host as live', async () => {
    const path = clusterLockPath(dir.path, 'prod');
    await mkdir(join(dir.path, 'locks'));
    const lockOf = async (holder: Partial<LockHolder>) => {
      await writeFile(path, JSON.stringify({ pid: process.ppid, hostname: hostname(), startedAt: '2024-01-01T00:00:00.000Z', purpose: 'old', token: 't', ...holder }));
    };
    if (process.platform === 'linux') {
      // The parent process is alive, but the lock names another boot / another process start.
      await lockOf({ bootId: 'another-boot' });
      await (await acquireClusterRunLock({ dataDir: dir.path, clusterId: 'prod', purpose: 'x' })).release();
      await lockOf({ processStart: '1' });
      await (await acquireClusterRunLock({ dataDir: dir.path, clusterId: 'prod', purpose: 'x' })).release();
    }
    await lockOf({});
    expectBusy(await acquireClusterRunLock({ dataDir: dir.path, clusterId: 'prod', purpose: 'x' }).catch((e: unknown) => e));
    await lockOf({ hostname: 'db-backup-02' });
    const err = expectBusy(await acquireClusterRunLock({ dataDir: dir.path, clusterId: 'prod', purpose: 'x' }).catch((e: unknown) => e));
    expect(err.message).toBe(
      `Cluster prod is busy: old started at 2024-01-01T00:00:00.000Z by process ${process.ppid} on db-backup-02. Wait for it to finish; if that process no longer runs on db-backup-02, delete ${path}.`,
    );
  });

  it('takes over an unreadable lock file left by a crash once it is old, and never removes a lock it does not own', async () => {
    const path = clusterLockPath(dir.path, 'prod');
    const first = await acquireClusterRunLock({ dataDir: dir.path, clusterId: 'prod', purpose: 'x' });
    await first.release();
    await writeFile(path, '');
    const old = new Date(Date.now() - 60_000);
    await utimes(path, old, old);
    const lock = await acquireClusterRunLock({ dataDir: dir.path, clusterId: 'prod', purpose: 'after crash' });
    // Someone replaced the file (an operator deleted it and another process took it): release leaves theirs.
    const theirs = JSON.stringify({ pid: 1, hostname: 'elsewhere', startedAt: 'now', purpose: 'theirs', token: 'other' });
    await writeFile(path, theirs);
    await lock.release();
    expect(await readFile(path, 'utf8')).toBe(theirs);
  });
});
