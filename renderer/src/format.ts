/**
 * How numbers read in the UI. Sizes use 1024 steps with the unit names of PostgreSQL's
 * pg_size_pretty (bytes, kB, MB, GB, TB), which is what DBAs compare them with.
 */

export type ProgressUnit = 'bytes' | 'items' | 'seconds';

const sizeUnits = ['bytes', 'kB', 'MB', 'GB', 'TB', 'PB'] as const;

/** Three significant digits are enough to compare sizes and keep columns steady. */
function significant(value: number): string {
  if (value >= 100) return Math.round(value).toString();
  if (value >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes)) return '—';
  const sign = bytes < 0 ? '-' : '';
  let value = Math.abs(bytes);
  if (value < 1024) return `${sign}${Math.round(value)} bytes`;
  let unit = 0;
  while (value >= 1024 && unit < sizeUnits.length - 1) {
    value /= 1024;
    unit++;
  }
  // 1023.96 kB rounds to "1024 kB": say "1.00 MB" instead.
  if (Math.round(value) >= 1024 && unit < sizeUnits.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${sign}${significant(value)} ${sizeUnits[unit]}`;
}

const durationUnits = [
  ['d', 86_400],
  ['h', 3_600],
  ['min', 60],
  ['s', 1],
] as const;

/** "2 min 10 s": the two largest units, which is as precise as an estimate deserves. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '—';
  if (seconds === 0) return '0 s';
  if (seconds < 1) return '< 1 s';
  let rest = Math.round(seconds);
  const parts: string[] = [];
  for (const [name, size] of durationUnits) {
    if (parts.length === 2) break;
    const count = Math.floor(rest / size);
    rest -= count * size;
    if (count > 0) parts.push(`${count} ${name}`);
    // A zero after the largest unit ends the text: "1 h", not "1 h 0 min".
    else if (parts.length > 0) break;
  }
  return parts.join(' ');
}

function formatCount(count: number): string {
  return Number.isInteger(count) ? count.toString() : count.toFixed(1);
}

/** One amount in its unit: "1.50 GB", "12 items", "2 min 10 s". */
export function formatAmount(value: number, unit: ProgressUnit): string {
  switch (unit) {
    case 'bytes':
      return formatBytes(value);
    case 'items':
      return `${formatCount(value)} ${value === 1 ? 'item' : 'items'}`;
    case 'seconds':
      return formatDuration(value);
  }
}

/** A speed: "45.3 MB/s", "12.5 items/s", "3.0 s/s" (e.g. seconds of WAL replayed per second). */
export function formatRate(rate: number | null, unit: ProgressUnit): string {
  if (rate === null || !Number.isFinite(rate) || rate < 0) return '—';
  switch (unit) {
    case 'bytes':
      return `${formatBytes(rate)}/s`;
    case 'items':
      return `${rate >= 100 ? Math.round(rate) : rate.toFixed(1)} items/s`;
    case 'seconds':
      return `${rate >= 100 ? Math.round(rate) : rate.toFixed(1)} s/s`;
  }
}

export function formatEta(eta: number | null): string {
  if (eta === null || !Number.isFinite(eta) || eta < 0) return '—';
  return `${formatDuration(eta)} left`;
}

/** Whole percent, never claiming 100 % before the work is actually done. */
export function progressPercent(done: number, total: number | null): number | null {
  if (total === null || !Number.isFinite(total) || total <= 0) return null;
  const ratio = Math.min(Math.max(done / total, 0), 1);
  return Math.floor(ratio * 100);
}

export interface ProgressLike {
  done: number;
  total: number | null;
  unit: ProgressUnit;
}

/** "1.20 GB of 3.40 GB (35 %)", or just the amount done when the total is unknown. */
export function formatProgress(progress: ProgressLike): string {
  const done = formatAmount(progress.done, progress.unit);
  if (progress.total === null) return done;
  const percent = progressPercent(progress.done, progress.total);
  const of = `${done} of ${formatAmount(progress.total, progress.unit)}`;
  return percent === null ? of : `${of} (${percent} %)`;
}

function pad(value: number): string {
  return value.toString().padStart(2, '0');
}

/** Local wall-clock time as "2025-03-05 14:03:22": unambiguous and sortable. */
export function formatTimestamp(iso: string | null): string {
  if (iso === null) return '—';
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return '—';
  return (
    `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ` +
    `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`
  );
}

/** How long something took (or has taken so far) between two ISO timestamps. */
export function formatElapsed(
  startIso: string | null,
  endIso: string | null,
  nowMs: number,
): string {
  if (startIso === null) return '—';
  const start = Date.parse(startIso);
  const end = endIso === null ? nowMs : Date.parse(endIso);
  if (Number.isNaN(start) || Number.isNaN(end)) return '—';
  return formatDuration(Math.max(0, (end - start) / 1000));
}
