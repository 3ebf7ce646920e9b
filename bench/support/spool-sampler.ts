/**
 * Watches the WAL spools of a running Tidemark restore from outside its process: how many
 * segments wait for replay, how many the restore_command has taken. A spool that is empty while
 * replay still needs files means replay waited for the prefetcher.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface SpoolSample {
  /** epoch ms */
  at: number;
  nodeId: string;
  /** delivered segments not yet taken by replay */
  waiting: number;
  /** segments the restore_command moved into pg_wal */
  taken: number;
  /** segments in the plan (0 before the plan is written) */
  planned: number;
}

const segmentPattern = /^[0-9A-F]{24}$/;
const takenPattern = /^\.[0-9A-F]{24}\.done$/;

export class SpoolSampler {
  readonly samples: SpoolSample[] = [];
  private timer: NodeJS.Timeout | null = null;
  private busy = false;
  private readonly planned = new Map<string, number>();

  constructor(
    private readonly restoreDir: string,
    private readonly intervalMs = 100,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.sample(), this.intervalMs);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private async sample(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      const nodes = await readdir(this.restoreDir).catch(() => [] as string[]);
      for (const nodeId of nodes) {
        const spool = join(this.restoreDir, nodeId, 'wal-spool');
        const names = await readdir(spool).catch(() => null);
        if (names === null) continue;
        if (!this.planned.get(nodeId)) {
          const plan = await readFile(join(spool, '.plan'), 'utf8').catch(() => '');
          this.planned.set(nodeId, plan.split('\n').filter((l) => segmentPattern.test(l)).length);
        }
        this.samples.push({
          at: Date.now(),
          nodeId,
          waiting: names.filter((n) => segmentPattern.test(n)).length,
          taken: names.filter((n) => takenPattern.test(n)).length,
          planned: this.planned.get(nodeId) ?? 0,
        });
      }
    } finally {
      this.busy = false;
    }
  }

  /** Epoch ms of the first sample where every planned segment of the node had been delivered, or null. */
  deliveredAt(nodeId: string): number | null {
    return this.samples.find((s) => s.nodeId === nodeId && s.planned > 0 && s.waiting + s.taken >= s.planned)?.at ?? null;
  }

  /** Samples of one node inside [from, to] (epoch ms) where replay still needed WAL and none was waiting. */
  starvation(nodeId: string, from: number, to: number): { samples: number; empty: number; maxWaiting: number } {
    const inside = this.samples.filter((s) => s.nodeId === nodeId && s.at >= from && s.at <= to);
    const empty = inside.filter((s) => s.waiting === 0 && s.taken < s.planned).length;
    return { samples: inside.length, empty, maxWaiting: Math.max(0, ...inside.map((s) => s.waiting)) };
  }
}
