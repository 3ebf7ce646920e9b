/** Cancels a timer; calling it after the timer fired does nothing. */
export type CancelTimer = () => void;

/** Wall-clock time and timers, injected so schedules can be tested without waiting. */
export interface SchedulerClock {
  now(): Date;
  /** Calls `fn` once the wall clock has reached `at` (at once when `at` is past). */
  setTimer(at: Date, fn: () => void): CancelTimer;
}

/**
 * Longest single sleep. Node timers run on a monotonic clock that stops while a laptop
 * sleeps and ignores wall-clock changes, so a long timer is split into short ones that
 * each re-read the wall clock.
 */
const maxSleepMs = 60_000;

export const systemClock: SchedulerClock = {
  now: () => new Date(),
  setTimer(at, fn) {
    let handle: NodeJS.Timeout | undefined;
    let cancelled = false;
    const arm = () => {
      if (cancelled) return;
      const wait = at.getTime() - Date.now();
      if (wait <= 0) {
        handle = undefined;
        fn();
        return;
      }
      handle = setTimeout(arm, Math.min(wait, maxSleepMs));
    };
    handle = setTimeout(arm, Math.max(0, Math.min(at.getTime() - Date.now(), maxSleepMs)));
    return () => {
      cancelled = true;
      if (handle) clearTimeout(handle);
    };
  },
};

export interface AdvanceOptions {
  /** awaited after each timer fires (default: a few event-loop turns), e.g. `scheduler.idle()` */
  settle?: () => Promise<void>;
}

interface ManualTimer {
  at: number;
  seq: number;
  fn: () => void;
}

/**
 * A clock that moves only when told to: `advanceTo` fires every timer due on the way, in
 * time order, letting the work each one starts settle before moving on.
 */
export class ManualClock implements SchedulerClock {
  private current: number;
  private timers: ManualTimer[] = [];
  private seq = 0;

  constructor(start: Date | string) {
    this.current = new Date(start).getTime();
  }

  now(): Date {
    return new Date(this.current);
  }

  setTimer(at: Date, fn: () => void): CancelTimer {
    const timer: ManualTimer = { at: at.getTime(), seq: ++this.seq, fn };
    this.timers.push(timer);
    return () => {
      this.timers = this.timers.filter((t) => t !== timer);
    };
  }

  /** When the earliest pending timer is due, or null. */
  nextTimerAt(): Date | null {
    const next = this.earliest();
    return next ? new Date(next.at) : null;
  }

  pendingTimers(): number {
    return this.timers.length;
  }

  async advanceBy(ms: number, options: AdvanceOptions = {}): Promise<void> {
    await this.advanceTo(new Date(this.current + ms), options);
  }

  async advanceTo(target: Date | string, options: AdvanceOptions = {}): Promise<void> {
    const end = new Date(target).getTime();
    const wait = options.settle ?? (() => settle());
    await wait();
    for (;;) {
      const next = this.earliest();
      if (!next || next.at > end) break;
      this.timers = this.timers.filter((t) => t !== next);
      this.current = Math.max(this.current, next.at);
      next.fn();
      await wait();
    }
    this.current = Math.max(this.current, end);
    await wait();
  }

  private earliest(): ManualTimer | undefined {
    let best: ManualTimer | undefined;
    for (const t of this.timers) if (!best || t.at < best.at || (t.at === best.at && t.seq < best.seq)) best = t;
    return best;
  }
}

/** Lets promise chains and pending I/O callbacks run (a few turns of the event loop). */
export async function settle(turns = 20): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}
