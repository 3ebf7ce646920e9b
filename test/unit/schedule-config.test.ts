import { describe, expect, it } from 'vitest';
import { cronProblem, defaultClusterSchedules, schedulesSchema } from '../../main/engine/schedule/schedule-config.js';
import { cronTiming, intervalTiming, planStart, timingsOf } from '../../main/engine/schedule/task-timing.js';

function issues(input: unknown): string[] {
  const result = schedulesSchema.safeParse(input);
  return result.success ? [] : result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
}

describe('schedule config', () => {
  it('defaults to daily 02:00 base backups, 5-minute restore points, daily retention, weekly verify, WAL on', () => {
    expect(defaultClusterSchedules()).toEqual({
      baseBackup: { enabled: true, cron: '0 2 * * *' },
      restorePoints: { enabled: true, intervalMinutes: 5 },
      retention: { enabled: true, cron: '0 4 * * *' },
      verify: { enabled: true, cron: '0 5 * * 0' },
      walStreaming: { enabled: true },
    });
  });

  it('names the field and the reason for an invalid cron expression', () => {
    expect(issues({ baseBackup: { cron: '0 25 * * *' } })).toEqual([
      expect.stringMatching(/^baseBackup\.cron: '0 25 \* \* \*' is not a valid cron expression: Invalid value for hour: 25/),
    ]);
    expect(issues({ retention: { cron: 'daily' } })[0]).toMatch(/^retention\.cron: 'daily' is not a valid cron expression: /);
    expect(issues({ verify: { cron: '* * *' } })[0]).toMatch(/^verify\.cron: /);
    expect(cronProblem('0 2 * * *')).toBeNull();
    expect(cronProblem('*/10 * * * * *')).toBeNull();
  });

  it('rejects unknown time zones, restore-point intervals under one minute, samples outside (0, 1] and unknown keys', () => {
    expect(issues({ baseBackup: { timezone: 'Mars/Olympus' } })).toEqual([
      `baseBackup.timezone: 'Mars/Olympus' is not a known IANA time zone (e.g. "Europe/Berlin", "America/New_York", "UTC")`,
    ]);
    expect(issues({ restorePoints: { intervalMinutes: 0 } })).toEqual(['restorePoints.intervalMinutes: at least 1 minute']);
    expect(issues({ restorePoints: { intervalMinutes: 2.5 } })).toEqual(['restorePoints.intervalMinutes: a whole number of minutes']);
    expect(issues({ verify: { sample: 0 } })).toEqual(['verify.sample: a fraction greater than 0']);
    expect(issues({ verify: { sample: 1.5 } })).toEqual(['verify.sample: a fraction of at most 1']);
    expect(issues({ verify: { sample: 0.1 } })).toEqual([]);
    expect(issues({ baseBackup: { crom: '0 2 * * *' } })[0]).toMatch(/^baseBackup: Unrecognized key: "crom"/);
  });
});

describe('task timing', () => {
  it('reads cron fields in the named time zone, across daylight-saving changes', () => {
    const ny = cronTiming('baseBackup', { enabled: true, cron: '0 2 * * *', timezone: 'America/New_York' });
    expect(ny.next(new Date('2024-01-15T12:00:00Z'))?.toISOString()).toBe('2024-01-16T07:00:00.000Z'); // EST
    expect(ny.next(new Date('2024-07-15T12:00:00Z'))?.toISOString()).toBe('2024-07-16T06:00:00.000Z'); // EDT
    // 02:00 does not exist on 2024-03-10 in New York: the backup still runs that day, not skipped.
    expect(ny.next(new Date('2024-03-10T00:00:00Z'))?.toISOString()).toBe('2024-03-10T07:00:00.000Z');
    const tokyo = cronTiming('retention', { enabled: true, cron: '30 4 * * *', timezone: 'Asia/Tokyo' });
    expect(tokyo.next(new Date('2024-01-15T00:00:00Z'))?.toISOString()).toBe('2024-01-15T19:30:00.000Z');
    expect(tokyo.latest(new Date(0), new Date('2024-01-15T19:30:00Z'))?.toISOString()).toBe('2024-01-15T19:30:00.000Z');
  });

  it('plans one catch-up standing for the latest missed slot, then the next regular slot', () => {
    const daily = cronTiming('baseBackup', { enabled: true, cron: '0 2 * * *', timezone: 'UTC' });
    expect(planStart(daily, new Date('2024-01-01T02:00:00Z'), new Date('2024-01-04T10:00:00Z'))).toEqual({
      catchUp: new Date('2024-01-04T02:00:00Z'),
      next: new Date('2024-01-05T02:00:00Z'),
    });
    expect(planStart(daily, new Date('2024-01-04T02:00:00Z'), new Date('2024-01-04T10:00:00Z'))).toEqual({
      catchUp: null,
      next: new Date('2024-01-05T02:00:00Z'),
    });
    // Never scheduled before: a cron task waits for its first slot, restore points run at once.
    expect(planStart(daily, null, new Date('2024-01-04T10:00:00Z')).catchUp).toBeNull();
    const points = intervalTiming('restorePoint', 5 * 60_000, true);
    const now = new Date('2024-01-04T10:00:00Z');
    expect(planStart(points, null, now)).toEqual({ catchUp: now, next: new Date('2024-01-04T10:05:00Z') });
    expect(planStart(points, new Date('2024-01-04T09:00:00Z'), new Date('2024-01-04T10:07:00Z'))).toEqual({
      catchUp: new Date('2024-01-04T10:05:00Z'),
      next: new Date('2024-01-04T10:10:00Z'),
    });
  });

  it('leaves disabled tasks and tasks without a handler out; minuteMs shortens the interval', () => {
    const schedules = schedulesSchema.parse({ verify: { enabled: false }, restorePoints: { enabled: false } });
    expect(timingsOf(schedules).map((t) => t.kind)).toEqual(['baseBackup', 'retention']);
    expect(timingsOf(defaultClusterSchedules(), { kinds: ['restorePoint', 'verify'] }).map((t) => t.kind)).toEqual(['restorePoint', 'verify']);
    const fast = timingsOf(defaultClusterSchedules(), { kinds: ['restorePoint'], minuteMs: 1_000 })[0]!;
    expect(fast.next(new Date('2024-01-01T00:00:00Z'))?.toISOString()).toBe('2024-01-01T00:00:05.000Z');
  });
});
