import type { PointBucket } from '../api/types.js';
import { rangeOf, spanBox } from './time-scale.js';

export interface DensityBar {
  x: number;
  w: number;
  /** bar heights in px, stacked: restorable at the bottom, then created, then failed */
  restorable: number;
  created: number;
  failed: number;
  counts: Pick<PointBucket, 'restorable' | 'created' | 'failed'>;
  from: string;
  to: string;
}

/**
 * Bars for the restore-point density row: heights relative to the fullest bucket, with a
 * floor so a bucket holding a single point is still visible next to one holding sixty.
 */
export function densityBars(
  buckets: readonly PointBucket[],
  range: { from: string; to: string },
  width: number,
  height: number,
  minHeight = 2,
): DensityBar[] {
  const r = rangeOf(range);
  const max = buckets.reduce((m, b) => Math.max(m, b.restorable + b.created + b.failed), 0);
  if (max === 0) return [];
  const scale = (count: number) => (count === 0 ? 0 : Math.max(minHeight, (count / max) * height));
  const bars: DensityBar[] = [];
  for (const bucket of buckets) {
    const total = bucket.restorable + bucket.created + bucket.failed;
    if (total === 0) continue;
    const box = spanBox(r, Date.parse(bucket.from), Date.parse(bucket.to), width, 1);
    if (!box) continue;
    // a gap of a pixel between neighbours once buckets are wide enough to afford it
    const w = box.w > 3 ? box.w - 1 : box.w;
    bars.push({
      x: box.x,
      w,
      restorable: scale(bucket.restorable),
      created: scale(bucket.created),
      failed: scale(bucket.failed),
      counts: { restorable: bucket.restorable, created: bucket.created, failed: bucket.failed },
      from: bucket.from,
      to: bucket.to,
    });
  }
  return bars;
}
