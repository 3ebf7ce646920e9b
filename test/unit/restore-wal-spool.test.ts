import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { TidemarkError } from '../../main/engine/errors.js';
import { spoolPlanFile } from '../../main/engine/restore/restore-command.js';
import { prefetchWal, writeSpoolPlan, type SpoolTarget, type WalFileSource } from '../../main/engine/restore/wal-spool.js';

const segments = (n: number): string[] => Array.from({ length: n }, (_, i) => `0000000100000000${(i + 1).toString(16).toUpperCase().padStart(8, '0')}`);

/** A spool in memory with a replay that takes files out, like the restore_command does. */
class MemorySpool implements SpoolTarget {
  readonly files = new Map<string, string>();
  readonly deliveredOrder: string[] = [];
  maxWaiting = 0;

  async putSpoolFile(name: string, content: Readable | Buffer): Promise<void> {
    const body = Buffer.isBuffer(content) ? content.toString() : await text(content);
    this.files.set(name, body);
    if (!name.startsWith('.')) this.deliveredOrder.push(name);
    const waiting = [...this.files.keys()].filter((f) => !f.startsWith('.') && !f.endsWith('.history')).length;
    this.maxWaiting = Math.max(this.maxWaiting, waiting);
  }

  async listSpool(): Promise<string[]> {
    return [...this.files.keys()].filter((f) => !f.startsWith('.'));
  }

  /** Replays in plan order: takes each file once it is there. */
  async replay(plan: string[], delayMs: number): Promise<void> {
    for (const name of plan) {
      while (!this.files.has(name)) await sleep(2);
      this.files.delete(name);
      await sleep(delayMs);
    }
  }
}

class SlowSource implements WalFileSource {
  inFlight = 0;
  maxInFlight = 0;
  constructor(private readonly missing: string[] = [], private readonly delayMs = 5) {}

  async openWal(name: string, signal?: AbortSignal): Promise<Readable | null> {
    this.inFlight += 1;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      await sleep(this.delayMs, undefined, signal ? { signal } : {});
      return this.missing.includes(name) ? null : Readable.from([Buffer.from(`wal:${name}`)]);
    } finally {
      this.inFlight -= 1;
    }
  }
}

describe('WAL prefetch into the spool', () => {
  it('writes the plan for the restore_command and refuses names that are not WAL files', async () => {
    const spool = new MemorySpool();
    await writeSpoolPlan(spool, ['00000002.history', '000000020000000000000003']);
    expect(spool.files.get(spoolPlanFile)).toBe('00000002.history\n000000020000000000000003\n');
    await expect(writeSpoolPlan(spool, ['../../etc/passwd'])).rejects.toThrow(TidemarkError);
  });

  it('delivers every planned file, several at a time, never more than the window waiting', async () => {
    const plan = ['00000002.history', ...segments(40)];
    const spool = new MemorySpool();
    const source = new SlowSource();
    const replay = spool.replay(plan.filter((f) => !f.endsWith('.history')), 3);
    await prefetchWal(spool, source, plan, { concurrency: 4, window: 8, pollIntervalMs: 5 });
    await replay;
    expect(new Set(spool.deliveredOrder)).toEqual(new Set(plan));
    expect(source.maxInFlight).toBe(4);
    expect(spool.maxWaiting).toBeLessThanOrEqual(8);
    expect(spool.files.get('00000002.history')).toBe('wal:00000002.history');
  });

  it('stops filling when replay does not take files, and resumes when it does', async () => {
    const plan = segments(10);
    const spool = new MemorySpool();
    const running = prefetchWal(spool, new SlowSource([], 1), plan, { concurrency: 2, window: 3, pollIntervalMs: 5 });
    await sleep(100);
    expect(spool.deliveredOrder.length).toBe(3);
    await spool.replay(plan, 0);
    await running;
    expect(spool.deliveredOrder).toHaveLength(10);
  });

  it('fails loudly, naming the file, when the source lacks a planned file', async () => {
    const plan = segments(6);
    const spool = new MemorySpool();
    void spool.replay(plan.slice(0, 3), 0);
    const error = await prefetchWal(spool, new SlowSource([plan[3] as string]), plan, { concurrency: 2, window: 4, pollIntervalMs: 5 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TidemarkError);
    expect((error as TidemarkError).code).toBe('target_unreachable');
    expect((error as TidemarkError).message).toContain(plan[3]);
  });

  it('ends with "cancelled" when the signal fires', async () => {
    const controller = new AbortController();
    const running = prefetchWal(new MemorySpool(), new SlowSource([], 50), segments(20), { concurrency: 2, window: 4, signal: controller.signal });
    setTimeout(() => controller.abort(), 30);
    const error = await running.catch((e: unknown) => e);
    expect((error as TidemarkError).code).toBe('cancelled');
  });
});
