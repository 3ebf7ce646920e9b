/** Milliseconds since the epoch: the timeline works in numbers, the API in ISO strings. */
export interface TimeRange {
  from: number;
  to: number;
}

export function rangeOf(range: { from: string; to: string }): TimeRange {
  return { from: Date.parse(range.from), to: Date.parse(range.to) };
}

/** The x of a time on a track `width` wide (not clamped). */
export function xOf(range: TimeRange, t: number, width: number): number {
  return ((t - range.from) / (range.to - range.from)) * width;
}

/** The time at an x of the track, clamped to the range. */
export function timeAt(range: TimeRange, x: number, width: number): number {
  const ratio = Math.min(Math.max(x / width, 0), 1);
  return range.from + ratio * (range.to - range.from);
}

/**
 * A span [from, to] clipped to the range, as x and width on the track; null when it lies
 * outside. `minWidth` keeps short things (a 2-minute backup on a 35-day track) visible.
 */
export function spanBox(
  range: TimeRange,
  from: number,
  to: number,
  width: number,
  minWidth = 2,
): { x: number; w: number } | null {
  if (to < range.from || from > range.to) return null;
  const x0 = Math.max(0, xOf(range, Math.max(from, range.from), width));
  const x1 = Math.min(width, xOf(range, Math.min(to, range.to), width));
  const w = Math.max(x1 - x0, minWidth);
  return { x: Math.min(x0, width - w), w };
}

const second = 1000;
const minute = 60 * second;
const hour = 60 * minute;
const day = 24 * hour;
/** Steps a DBA reads at a glance. */
const tickSteps = [
  second,
  5 * second,
  15 * second,
  30 * second,
  minute,
  5 * minute,
  15 * minute,
  30 * minute,
  hour,
  3 * hour,
  6 * hour,
  12 * hour,
  day,
  2 * day,
  7 * day,
  14 * day,
  30 * day,
];

export interface Tick {
  t: number;
  label: string;
}

/** Round-valued ticks (local time) about `approx` of them, with labels as precise as the step. */
export function timeTicks(range: TimeRange, approx: number): Tick[] {
  const span = range.to - range.from;
  if (!(span > 0) || approx < 1) return [];
  const step = tickSteps.find((s) => span / s <= approx) ?? tickSteps[tickSteps.length - 1]!;
  // Align to local midnight for day steps (and to the local hour below that), so labels read round.
  const first = alignUp(range.from, step);
  const ticks: Tick[] = [];
  const multiDay = new Date(range.from).toDateString() !== new Date(range.to).toDateString();
  for (let t = first; t <= range.to; t = nextTick(t, step))
    ticks.push({ t, label: tickLabel(t, step, multiDay) });
  return ticks;
}

function alignUp(t: number, step: number): number {
  const d = new Date(t);
  if (step >= day) {
    d.setHours(0, 0, 0, 0);
    if (d.getTime() < t) d.setDate(d.getDate() + 1);
    return d.getTime();
  }
  // offset of local time from UTC, so "every 3 h" lands on 00, 03, 06… local
  const offset = -d.getTimezoneOffset() * minute;
  return Math.ceil((t + offset) / step) * step - offset;
}

function nextTick(t: number, step: number): number {
  if (step < day) return t + step;
  const d = new Date(t);
  d.setDate(d.getDate() + Math.round(step / day));
  return d.getTime();
}

function pad(n: number): string {
  return n.toString().padStart(2, '0');
}

export function tickLabel(t: number, step: number, multiDay: boolean): string {
  const d = new Date(t);
  const date = `${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
  const time = `${pad(d.getHours())}:${pad(d.getMinutes())}`;
  if (step >= day) return date;
  if (step < minute) return `${time}:${pad(d.getSeconds())}`;
  // at midnight the date says more than 00:00
  if (multiDay && d.getHours() === 0 && d.getMinutes() === 0) return date;
  return time;
}

/** Zoom choices: the whole window, the data there is, and the recent past. */
export type ZoomId = 'window' | 'data' | '7d' | '24h' | '1h';

export const zoomLabels: Record<ZoomId, string> = {
  window: 'Retention window',
  data: 'All data',
  '7d': 'Last 7 days',
  '24h': 'Last 24 hours',
  '1h': 'Last hour',
};

/**
 * The range a zoom shows, or null for the default (the retention window). "All data" runs
 * from the oldest backup or point (a little margin before it) to now.
 */
export function zoomRange(
  zoom: ZoomId,
  now: number,
  extent: TimeRange | null,
  windowFrom: number,
): TimeRange | null {
  switch (zoom) {
    case 'window':
      return null;
    case 'data': {
      if (!extent) return null;
      const from = Math.max(windowFrom, extent.from);
      const margin = Math.max((now - from) * 0.03, minute);
      return { from: Math.max(windowFrom, from - margin), to: now };
    }
    case '7d':
      return { from: now - 7 * day, to: now };
    case '24h':
      return { from: now - day, to: now };
    case '1h':
      return { from: now - hour, to: now };
  }
}
