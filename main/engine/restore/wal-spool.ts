import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseTimelineHistoryFileName } from '../replication/lsn.js';
import { TidemarkError, throwIfAborted } from '../errors.js';
import { spoolPlanFile } from './restore-command.js';

/**
 * Fills a node's WAL spool ahead of replay: several files fetched at once (the repository is
 * often remote and decrypts on the way), in plan order, each written atomically, and never more
 * than `window` segments waiting, so the spool's disk use stays bounded. The restore_command
 * moves files out as replay uses them; the prefetcher sees that through `listSpool`.
 */

export interface SpoolTarget {
  putSpoolFile(name: string, content: Readable | Buffer): Promise<void>;
  listSpool(): Promise<string[]>;
}

export interface WalFileSource {
  openWal(fileName: string, signal?: AbortSignal): Promise<Readable | null>;
}

export interface WalPrefetchOptions {
  /** files fetched at the same time (default 4) */
  concurrency?: number;
  /** most segments waiting in the spool or in flight (default 64) */
  window?: number;
  /** how often a full spool is looked at again (default 100 ms) */
  pollIntervalMs?: number;
  signal?: AbortSignal;
  /** called after each file is in the spool */
  onDelivered?: (fileName: string, deliveredCount: number) => void;
}

export const defaultPrefetchConcurrency = 4;
export const defaultSpoolWindow = 64;

const walNamePattern = /^[0-9A-F]{24}$|^[0-9A-F]{8}\.history$/;

/** Writes the plan file the restore_command consults. Must happen before the server starts. */
export async function writeSpoolPlan(target: SpoolTarget, files: readonly string[]): Promise<void> {
  for (const name of files) {
    if (!walNamePattern.test(name)) throw new TidemarkError('invalid_input', `"${name}" is not a WAL segment or history file name; the restore plan is invalid.`);
  }
  await target.putSpoolFile(spoolPlanFile, Buffer.from(files.map((f) => `${f}\n`).join('')));
}

/**
 * Delivers every file of `files` into the spool, then resolves. Rejects with `target_unreachable` when
 * the source lacks a planned file, or `cancelled` when the signal fires.
 */
export async function prefetchWal(target: SpoolTarget, source: WalFileSource, files: readonly string[], options: WalPrefetchOptions = {}): Promise<void> {
  const concurrency = Math.max(1, options.concurrency ?? defaultPrefetchConcurrency);
  const window = Math.max(concurrency, options.window ?? defaultSpoolWindow);
  const pollIntervalMs = options.pollIntervalMs ?? 100;
  const { signal } = options;
  // History files are tiny and replay may never ask for some: they do not count against the window.
  const counts = (name: string): boolean => parseTimelineHistoryFileName(name) === null;

  const waiting = new Set<string>(); // delivered, not yet taken by the restore_command
  const inFlight = new Map<string, Promise<void>>();
  let next = 0;
  let delivered = 0;
  let failure: unknown = null;

  const fetchOne = async (name: string): Promise<void> => {
    const content = await source.openWal(name, signal);
    if (content === null) {
      throw new TidemarkError('target_unreachable', `WAL file ${name} is in the restore plan but missing from the repository, so the restore point cannot be reached. Verify the repository, or choose an earlier restore point.`, { details: { walFile: name } });
    }
    await target.putSpoolFile(name, content);
    if (counts(name)) waiting.add(name);
    delivered += 1;
    options.onDelivered?.(name, delivered);
  };

  const occupied = (): number => waiting.size + [...inFlight.keys()].filter(counts).length;

  while (next < files.length || inFlight.size > 0) {
    if (failure) break;
    throwIfAborted(signal);
    let launched = false;
    while (next < files.length && inFlight.size < concurrency) {
      const name = files[next] as string;
      if (counts(name) && occupied() >= window) break;
      next += 1;
      launched = true;
      const task = fetchOne(name)
        .catch((err: unknown) => {
          failure ??= err;
        })
        .finally(() => inFlight.delete(name));
      inFlight.set(name, task);
    }
    if (inFlight.size > 0 && (launched || next >= files.length || inFlight.size >= concurrency)) {
      await Promise.race(inFlight.values());
      continue;
    }
    if (next < files.length) {
      // The window is full: wait for replay to take files out of the spool.
      await sleep(pollIntervalMs, undefined, { signal }).catch(() => undefined);
      const present = new Set(await target.listSpool());
      for (const name of waiting) if (!present.has(name)) waiting.delete(name);
    }
  }
  await Promise.allSettled(inFlight.values());
  throwIfAborted(signal);
  if (failure) throw failure;
}
