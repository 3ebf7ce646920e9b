import { describe, expect, it } from 'vitest';
import type { PointBucket, TimelinePoint } from '../../renderer/src/api/types.js';
import { densityBars } from '../../renderer/src/timeline/density-layout.js';
import { describeDistance, snapLocally } from '../../renderer/src/timeline/point-snap.js';
import {
  spanBox,
  timeAt,
  timeTicks,
  xOf,
  zoomRange,
} from '../../renderer/src/timeline/time-scale.js';

const t0 = Date.parse('2025-03-01T00:00:00.000Z');
const minute = 60_000;
const hour = 60 * minute;
const day = 24 * hour;

const point = (name: string, minutes: number, status: TimelinePoint['status']): TimelinePoint => ({
  name,
  label: null,
  createdAt: new Date(t0 + minutes * minute).toISOString(),
  status,
  error: null,
});

describe('slider snapping', () => {
  const points = [
    point('a', 0, 'restorable'),
    point('b', 5, 'failed'),
    point('c', 10, 'restorable'),
    point('d', 15, 'created'),
  ];

  it('snaps to the latest restorable point at or before the time, skipping failed and pending ones', () => {
    expect(snapLocally(points, t0 + 7 * minute)).toMatchObject({
      point: { name: 'a' },
      distanceSeconds: 420,
    });
    expect(snapLocally(points, t0 + 10 * minute)).toMatchObject({
      point: { name: 'c' },
      distanceSeconds: 0,
    });
    expect(snapLocally(points, t0 + 20 * minute)).toMatchObject({
      point: { name: 'c' },
      distanceSeconds: 600,
    });
  });

  it('leaves it to the engine when the points were bucketed or none in view qualifies', () => {
    expect(snapLocally(null, t0)).toBeUndefined();
    expect(snapLocally(points, t0 - 1)).toBeUndefined();
    expect(snapLocally([point('x', 0, 'failed')], t0 + minute)).toBeUndefined();
  });

  it('says how far before the chosen time the point is', () => {
    expect(describeDistance(0)).toBe('at the chosen time');
    expect(describeDistance(42)).toBe('42 s before the chosen time');
    expect(describeDistance(7500)).toBe('2 h 5 min before the chosen time');
  });
});

describe('time scale', () => {
  const range = { from: t0, to: t0 + day };

  it('maps times to x and back', () => {
    expect(xOf(range, t0 + 6 * hour, 800)).toBe(200);
    expect(timeAt(range, 200, 800)).toBe(t0 + 6 * hour);
    expect(timeAt(range, -50, 800)).toBe(t0);
    expect(timeAt(range, 900, 800)).toBe(t0 + day);
  });

  it('clips spans to the range and keeps short ones visible', () => {
    expect(spanBox(range, t0 - hour, t0 + 6 * hour, 800)).toEqual({ x: 0, w: 200 });
    expect(spanBox(range, t0 + 12 * hour, t0 + 12 * hour + 1000, 800)).toEqual({ x: 400, w: 2 });
    expect(spanBox(range, t0 + day + 1, t0 + 2 * day, 800)).toBeNull();
    // a short span at the very end stays inside the track
    expect(spanBox(range, t0 + day, t0 + day, 800, 4)).toEqual({ x: 796, w: 4 });
  });

  it('puts round ticks in local time, about as many as asked', () => {
    const ticks = timeTicks(range, 8);
    expect(ticks.length).toBeGreaterThanOrEqual(4);
    expect(ticks.length).toBeLessThanOrEqual(9);
    const step = ticks[1]!.t - ticks[0]!.t;
    expect(step).toBe(3 * hour);
    for (const tick of ticks) {
      const d = new Date(tick.t);
      expect(d.getMinutes()).toBe(0);
      expect(d.getHours() % 3).toBe(0);
      expect(tick.t).toBeGreaterThanOrEqual(range.from);
      expect(tick.t).toBeLessThanOrEqual(range.to);
    }
    const month = timeTicks({ from: t0, to: t0 + 35 * day }, 8);
    for (const tick of month) {
      expect(new Date(tick.t).getHours()).toBe(0);
      expect(tick.label).toMatch(/^\d{2}-\d{2}$/);
    }
    expect(
      timeTicks({ from: t0, to: t0 + 2 * minute }, 5).every((t) =>
        /^\d{2}:\d{2}:\d{2}$/.test(t.label),
      ),
    ).toBe(true);
  });

  it('zooms to the data with a margin, within the window', () => {
    const now = t0 + 10 * day;
    expect(zoomRange('window', now, null, now - 35 * day)).toBeNull();
    expect(zoomRange('24h', now, null, now - 35 * day)).toEqual({ from: now - day, to: now });
    const data = zoomRange('data', now, { from: now - 2 * day, to: now - hour }, now - 35 * day)!;
    expect(data.to).toBe(now);
    expect(data.from).toBeLessThan(now - 2 * day);
    expect(data.from).toBeGreaterThan(now - 3 * day);
    // data older than the window starts the view at the window
    expect(zoomRange('data', now, { from: now - 90 * day, to: now }, now - 35 * day)!.from).toBe(
      now - 35 * day,
    );
  });
});

describe('restore point density', () => {
  const bucket = (i: number, restorable: number, created = 0, failed = 0): PointBucket => ({
    from: new Date(t0 + i * hour).toISOString(),
    to: new Date(t0 + (i + 1) * hour).toISOString(),
    restorable,
    created,
    failed,
  });

  it('scales bars to the fullest bucket with a floor, stacked by status, skipping empty buckets', () => {
    const range = { from: new Date(t0).toISOString(), to: new Date(t0 + 4 * hour).toISOString() };
    const bars = densityBars(
      [bucket(0, 60), bucket(1, 0), bucket(2, 1, 0, 1), bucket(3, 30, 30)],
      range,
      400,
      20,
    );
    expect(bars.map((b) => b.x)).toEqual([0, 200, 300]);
    expect(bars[0]).toMatchObject({ w: 99, restorable: 20, created: 0, failed: 0 });
    expect(bars[1]).toMatchObject({
      restorable: 2,
      failed: 2,
      counts: { restorable: 1, created: 0, failed: 1 },
    });
    expect(bars[2]).toMatchObject({ restorable: 10, created: 10 });
    expect(densityBars([bucket(0, 0)], range, 400, 20)).toEqual([]);
  });
});
