import { Cron } from 'croner';
import type { CronSchedule, Schedules, TaskKind } from './schedule-config.js';

/** When one task kind of one cluster is due. */
export interface TaskTiming {
  readonly kind: TaskKind;
  /** the first slot strictly after `after` */
  next(after: Date): Date | null;
  /** the last slot at or before `atOrBefore`, counted from the anchor `anchor` (a past slot) */
  latest(anchor: Date, atOrBefore: Date): Date | null;
  /** whether a first start with no history runs the task at once */
  readonly runOnFirstStart: boolean;
}

/** Cron slots, in the schedule's time zone (local time when none is named). */
export function cronTiming(kind: TaskKind, schedule: CronSchedule): TaskTiming {
  const cron = new Cron(schedule.cron, {
    paused: true,
    ...(schedule.timezone === undefined ? {} : { timezone: schedule.timezone }),
  });
  return {
    kind,
    runOnFirstStart: false,
    next: (after) => cron.nextRun(after),
    latest: (_anchor, atOrBefore) => cron.previousRuns(1, new Date(atOrBefore.getTime() + 1))[0] ?? null,
  };
}

/** Fixed-interval slots, each `intervalMs` after the previous one. */
export function intervalTiming(kind: TaskKind, intervalMs: number, runOnFirstStart: boolean): TaskTiming {
  return {
    kind,
    runOnFirstStart,
    next: (after) => new Date(after.getTime() + intervalMs),
    latest: (anchor, atOrBefore) => {
      const steps = Math.floor((atOrBefore.getTime() - anchor.getTime()) / intervalMs);
      return steps < 0 ? null : new Date(anchor.getTime() + steps * intervalMs);
    },
  };
}

export interface TimingOptions {
  /** length of one minute of the restore-point interval: 60,000 except in tests that cannot wait minutes */
  minuteMs?: number;
  /** only these kinds (those a task exists for); all when omitted */
  kinds?: readonly TaskKind[];
}

/** The timings of a cluster's enabled scheduled tasks. */
export function timingsOf(schedules: Schedules, options: TimingOptions = {}): TaskTiming[] {
  const wanted = (kind: TaskKind, enabled: boolean) => enabled && (options.kinds === undefined || options.kinds.includes(kind));
  const timings: TaskTiming[] = [];
  if (wanted('baseBackup', schedules.baseBackup.enabled)) timings.push(cronTiming('baseBackup', schedules.baseBackup));
  if (wanted('restorePoint', schedules.restorePoints.enabled)) {
    timings.push(intervalTiming('restorePoint', schedules.restorePoints.intervalMinutes * (options.minuteMs ?? 60_000), true));
  }
  if (wanted('retention', schedules.retention.enabled)) timings.push(cronTiming('retention', schedules.retention));
  if (wanted('verify', schedules.verify.enabled)) timings.push(cronTiming('verify', schedules.verify));
  return timings;
}

export interface StartPlan {
  /** the slot a catch-up run stands for (the latest missed one), or null when none was missed */
  catchUp: Date | null;
  /** the next regular slot */
  next: Date | null;
}

/**
 * What to do for one task at start. `anchor` is the last slot that ran to its end, or,
 * when none did yet, when Tidemark began scheduling the task. Every missed slot since the
 * anchor is covered by ONE catch-up run; a task never scheduled before runs at once only
 * when its timing says so (restore points), otherwise it waits for its first slot.
 */
export function planStart(timing: TaskTiming, anchor: Date | null, now: Date): StartPlan {
  if (anchor === null) {
    return timing.runOnFirstStart ? { catchUp: now, next: timing.next(now) } : { catchUp: null, next: timing.next(now) };
  }
  const firstMissed = timing.next(anchor);
  if (firstMissed === null) return { catchUp: null, next: null };
  if (firstMissed.getTime() > now.getTime()) return { catchUp: null, next: firstMissed };
  const latest = timing.latest(anchor, now) ?? firstMissed;
  return { catchUp: latest, next: timing.next(latest) };
}
