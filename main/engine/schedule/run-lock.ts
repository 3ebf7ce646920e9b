import { randomUUID } from 'node:crypto';
import { readFileSync, unlinkSync } from 'node:fs';
import { mkdir, open, readFile, stat, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { TidemarkError } from '../errors.js';
import type { Logger } from '../log/logger.js';

/** What a lock file says about the process holding it. */
export const lockHolderSchema = z.object({
  pid: z.number().int(),
  hostname: z.string(),
  startedAt: z.string(),
  purpose: z.string(),
  /** tells this holding apart from an earlier one by a process that got the same pid */
  token: z.string(),
  /** Linux: the boot the holder ran in; a lock from an earlier boot is stale */
  bootId: z.string().optional(),
  /** Linux: the holder's start time in clock ticks since boot; a different one means the pid was reused */
  processStart: z.string().optional(),
});
export type LockHolder = z.infer<typeof lockHolderSchema>;

export interface HeldLock {
  readonly path: string;
  readonly holder: LockHolder;
  /** Deletes the lock file if it is still ours. */
  release(): Promise<void>;
}

export type LockLogger = Pick<Logger, 'warn'>;

export interface AcquireLockOptions {
  path: string;
  purpose: string;
  /** the error for a lock a live process holds */
  busyError: (holder: LockHolder, path: string) => TidemarkError;
  logger?: LockLogger;
}

/** A lock file that is unreadable and younger than this is being written right now. */
const unreadableGraceMs = 10_000;
/** A takeover guard older than this was left by a process that died while taking over. */
const takeoverGuardStaleMs = 30_000;
const maxAttempts = 200;

/** Locks this process holds, by token. */
const held = new Map<string, { path: string; holder: LockHolder }>();
let exitHookInstalled = false;

/**
 * Takes a lock that survives crashes: the file is created with O_EXCL and names its holder.
 * A lock whose holder is gone (dead pid on this host, an earlier boot, a reused pid) is
 * stale and taken over, with a warning; one held by a live process (or by a process on
 * another host, whose life cannot be checked) is refused with `busyError`. Taking over
 * happens under a guard file so two processes never both remove a stale lock and then each
 * other's fresh one.
 */
export async function acquireFileLock(options: AcquireLockOptions): Promise<HeldLock> {
  await mkdir(dirname(options.path), { recursive: true, mode: 0o700 });
  const holder: LockHolder = {
    pid: process.pid,
    hostname: hostname(),
    startedAt: new Date().toISOString(),
    purpose: options.purpose,
    token: randomUUID(),
    ...processIdentity(process.pid),
  };
  for (let attempt = 0; attempt < maxAttempts; attempt++) {
    if (await tryCreate(options.path, holder)) return remember(options.path, holder, options.logger);
    const current = await readHolder(options.path);
    if (current.kind === 'missing') continue;
    if (current.kind === 'holder' && holderLiveness(current.holder) !== 'dead') {
      throw options.busyError(current.holder, options.path);
    }
    if (current.kind === 'unreadable' && current.ageMs < unreadableGraceMs) {
      await sleep(50);
      continue;
    }
    await takeOverStale(options.path, current, options.logger);
  }
  throw new TidemarkError('locked', `Could not take the lock ${options.path}: other processes keep taking it over. Try again.`, { retryable: true });
}

export function clusterLockPath(dataDir: string, clusterId: string): string {
  return join(dataDir, 'locks', `${clusterId}.lock`);
}

/** The per-cluster run lock: one backup, restore point, retention or verify run at a time. */
export function acquireClusterRunLock(options: { dataDir: string; clusterId: string; purpose: string; logger?: LockLogger }): Promise<HeldLock> {
  return acquireFileLock({
    path: clusterLockPath(options.dataDir, options.clusterId),
    purpose: options.purpose,
    ...(options.logger ? { logger: options.logger } : {}),
    busyError: (h, path) =>
      new TidemarkError(
        'conflict',
        `Cluster ${options.clusterId} is busy: ${h.purpose} started at ${h.startedAt} by process ${h.pid} on ${h.hostname}. ` +
          (h.hostname === hostname()
            ? 'Wait for it to finish, or stop that process.'
            : `Wait for it to finish; if that process no longer runs on ${h.hostname}, delete ${path}.`),
        { retryable: true, details: { clusterId: options.clusterId, holder: { pid: h.pid, hostname: h.hostname, startedAt: h.startedAt, purpose: h.purpose } } },
      ),
  });
}

/** Whoever holds a lock now, or null when it is free (or unreadable). */
export async function readLockHolder(path: string): Promise<LockHolder | null> {
  const current = await readHolder(path);
  return current.kind === 'holder' ? current.holder : null;
}

/** `dead` only when it is certain: a holder on another host is `unknown`. */
export function holderLiveness(holder: LockHolder): 'alive' | 'dead' | 'unknown' {
  if (holder.hostname !== hostname()) return 'unknown';
  const mine = processIdentity(holder.pid);
  if (holder.bootId !== undefined && mine.bootId !== undefined && holder.bootId !== mine.bootId) return 'dead';
  if (holder.pid === process.pid) return held.has(holder.token) ? 'alive' : 'dead';
  try {
    process.kill(holder.pid, 0);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ESRCH') return 'dead';
    if (code !== 'EPERM') return 'unknown';
  }
  if (holder.processStart !== undefined && mine.processStart !== undefined && holder.processStart !== mine.processStart) return 'dead';
  return 'alive';
}

/** Releases every lock this process still holds; for exit paths, so it is synchronous. */
export function releaseAllLocksSync(): void {
  for (const [token, { path, holder }] of held) {
    try {
      const current = lockHolderSchema.parse(JSON.parse(readFileSync(path, 'utf8')));
      if (current.token === holder.token) unlinkSync(path);
    } catch {
      // already gone or replaced: nothing of ours to remove
    }
    held.delete(token);
  }
}

type ReadResult = { kind: 'missing' } | { kind: 'holder'; holder: LockHolder } | { kind: 'unreadable'; ageMs: number };

async function readHolder(path: string): Promise<ReadResult> {
  let text: string;
  let mtimeMs: number;
  try {
    [text, { mtimeMs }] = await Promise.all([readFile(path, 'utf8'), stat(path)]);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'missing' };
    throw err;
  }
  try {
    return { kind: 'holder', holder: lockHolderSchema.parse(JSON.parse(text)) };
  } catch {
    return { kind: 'unreadable', ageMs: Date.now() - mtimeMs };
  }
}

async function tryCreate(path: string, holder: LockHolder): Promise<boolean> {
  let handle;
  try {
    handle = await open(path, 'wx', 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
  try {
    await handle.writeFile(`${JSON.stringify(holder)}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
  return true;
}

async function takeOverStale(path: string, seen: Exclude<ReadResult, { kind: 'missing' }>, logger: LockLogger | undefined): Promise<void> {
  const guard = `${path}.takeover`;
  let guardHandle;
  try {
    guardHandle = await open(guard, 'wx', 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    const age = await stat(guard).then((s) => Date.now() - s.mtimeMs, () => 0);
    if (age > takeoverGuardStaleMs) await unlink(guard).catch(() => undefined);
    else await sleep(20);
    return;
  }
  try {
    await guardHandle.close();
    // Under the guard, check it is still the same stale lock: another process may have
    // taken it over and hold a fresh one by now.
    const again = await readHolder(path);
    const same =
      (again.kind === 'holder' && seen.kind === 'holder' && again.holder.token === seen.holder.token) ||
      (again.kind === 'unreadable' && seen.kind === 'unreadable');
    if (!same) return;
    await unlink(path).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
    if (seen.kind === 'holder') {
      const h = seen.holder;
      logger?.warn({ lock: path, stale: { pid: h.pid, hostname: h.hostname, startedAt: h.startedAt, purpose: h.purpose } }, `took over a stale lock: process ${h.pid} (${h.purpose}, started ${h.startedAt}) is no longer running`);
    } else {
      logger?.warn({ lock: path }, 'took over an unreadable lock file left by a crash');
    }
  } finally {
    await unlink(guard).catch(() => undefined);
  }
}

function remember(path: string, holder: LockHolder, logger: LockLogger | undefined): HeldLock {
  held.set(holder.token, { path, holder });
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', releaseAllLocksSync);
  }
  let released = false;
  return {
    path,
    holder,
    async release() {
      if (released) return;
      released = true;
      held.delete(holder.token);
      const current = await readHolder(path);
      if (current.kind === 'holder' && current.holder.token === holder.token) {
        await unlink(path).catch(() => undefined);
      } else if (current.kind !== 'missing') {
        logger?.warn({ lock: path }, 'the lock file was replaced by another process before it was released; left as is');
      }
    },
  };
}

function processIdentity(pid: number): { bootId?: string; processStart?: string } {
  if (process.platform !== 'linux') return {};
  const identity: { bootId?: string; processStart?: string } = {};
  try {
    identity.bootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  } catch {
    // not readable in some sandboxes: liveness then rests on the pid alone
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces and parentheses); starttime is field 22.
    const start = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
    if (start) identity.processStart = start;
  } catch {
    // the process is gone or /proc is not mounted
  }
  return identity;
}
