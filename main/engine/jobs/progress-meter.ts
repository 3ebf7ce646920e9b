import type { Progress } from './job-types.js';

/** Turns successive `done` readings into a smoothed rate and an ETA. */
export class ProgressMeter {
  private lastAt = 0;
  private lastDone = 0;
  private rate: number | null = null;

  constructor(
    private readonly unit: Progress['unit'],
    private readonly now: () => number = Date.now,
    private readonly smoothing = 0.3,
  ) {}

  update(done: number, total: number | null): Progress {
    const t = this.now();
    if (this.lastAt !== 0 && t > this.lastAt && done >= this.lastDone) {
      const instant = ((done - this.lastDone) * 1000) / (t - this.lastAt);
      this.rate = this.rate === null ? instant : this.rate + this.smoothing * (instant - this.rate);
    }
    if (this.lastAt === 0 || t - this.lastAt >= 100) {
      this.lastAt = t;
      this.lastDone = done;
    }
    const eta =
      total !== null && this.rate !== null && this.rate > 0 ? Math.max(0, (total - done) / this.rate) : null;
    return { done, total, unit: this.unit, rate: this.rate, eta };
  }
}
