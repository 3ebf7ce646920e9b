import { Cron } from 'croner';
import { z } from 'zod';

/** The scheduled task kinds. WAL streaming is not one: it runs all the time. */
export const taskKinds = ['baseBackup', 'restorePoint', 'retention', 'verify'] as const;
export type TaskKind = (typeof taskKinds)[number];

export const taskKindLabels: Record<TaskKind, string> = {
  baseBackup: 'base backup',
  restorePoint: 'restore point',
  retention: 'retention',
  verify: 'repository verify',
};

export const defaultSchedules = {
  baseBackup: { enabled: true, cron: '0 2 * * *' },
  restorePoints: { enabled: true, intervalMinutes: 5 },
  retention: { enabled: true, cron: '0 4 * * *' },
  verify: { enabled: true, cron: '0 5 * * 0' },
  walStreaming: { enabled: true },
} as const;

/** Whether `name` is an IANA time zone this runtime knows ("Europe/Berlin", "UTC"). */
export function isKnownTimeZone(name: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: name });
    return true;
  } catch {
    return false;
  }
}

/** Why croner rejects a pattern, or null when it is valid. */
export function cronProblem(pattern: string): string | null {
  try {
    new Cron(pattern, { paused: true });
    return null;
  } catch (err) {
    return err instanceof Error ? err.message.replace(/^CronPattern:\s*/, '') : String(err);
  }
}

/** A cron schedule: croner syntax (5 fields, or 6 with leading seconds), local time unless a zone is named. */
function cronFields(defaults: { enabled: boolean; cron: string }) {
  return {
    enabled: z.boolean().default(defaults.enabled),
    cron: z.string().trim().min(1, 'a cron expression such as "0 2 * * *"').default(defaults.cron),
    /** IANA time zone the cron fields are read in; the machine's local zone when omitted */
    timezone: z.string().optional(),
  };
}

function checkCron(value: { cron: string; timezone?: string | undefined }, ctx: z.RefinementCtx): void {
  const problem = cronProblem(value.cron);
  if (problem !== null) {
    ctx.addIssue({
      code: 'custom',
      path: ['cron'],
      message: `'${value.cron}' is not a valid cron expression: ${problem} (expected "minute hour day-of-month month day-of-week", e.g. "0 2 * * *")`,
    });
  }
  if (value.timezone !== undefined && !isKnownTimeZone(value.timezone)) {
    ctx.addIssue({
      code: 'custom',
      path: ['timezone'],
      message: `'${value.timezone}' is not a known IANA time zone (e.g. "Europe/Berlin", "America/New_York", "UTC")`,
    });
  }
}

export const baseBackupScheduleSchema = z.object(cronFields(defaultSchedules.baseBackup)).strict().superRefine(checkCron).prefault({});
export const retentionScheduleSchema = z.object(cronFields(defaultSchedules.retention)).strict().superRefine(checkCron).prefault({});
export const verifyScheduleSchema = z
  .object({
    ...cronFields(defaultSchedules.verify),
    /** fraction of the repository's objects a verify run reads back; all of them when omitted */
    sample: z.number().gt(0, 'a fraction greater than 0').max(1, 'a fraction of at most 1').optional(),
  })
  .strict()
  .superRefine(checkCron)
  .prefault({});

export const restorePointScheduleSchema = z
  .object({
    enabled: z.boolean().default(defaultSchedules.restorePoints.enabled),
    intervalMinutes: z
      .number()
      .int('a whole number of minutes')
      .min(1, 'at least 1 minute')
      .max(1440, 'at most 1440 minutes (one day)')
      .default(defaultSchedules.restorePoints.intervalMinutes),
  })
  .strict()
  .prefault({});

/** A cluster's schedules, part of its settings; every field has a default. */
export const schedulesSchema = z
  .object({
    baseBackup: baseBackupScheduleSchema,
    restorePoints: restorePointScheduleSchema,
    retention: retentionScheduleSchema,
    verify: verifyScheduleSchema,
    walStreaming: z
      .object({ enabled: z.boolean().default(defaultSchedules.walStreaming.enabled) })
      .strict()
      .prefault({}),
  })
  .strict()
  .prefault({});

export type Schedules = z.infer<typeof schedulesSchema>;
export type SchedulesInput = z.input<typeof schedulesSchema>;
/** What the scheduler needs of any cron schedule. */
export type CronSchedule = Pick<Schedules['baseBackup'], 'enabled' | 'cron' | 'timezone'>;

export function defaultClusterSchedules(): Schedules {
  return schedulesSchema.parse({});
}
