import type { NearestPoint, TimelinePoint } from '../api/types.js';
import { formatDuration } from '../format.js';

/**
 * The slider's snap, done here when the timeline holds every point of the range: the latest
 * RESTORABLE point at or before the time (as the planner picks it). Returns undefined when the
 * points were not all sent (bucketed), or the answer may lie before the range: then ask the
 * API (`timeline.nearestPoint`).
 */
export function snapLocally(
  points: readonly TimelinePoint[] | null,
  at: number,
): NearestPoint | undefined {
  if (points === null) return undefined;
  let lo = 0;
  let hi = points.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (Date.parse(points[mid]!.createdAt) > at) hi = mid;
    else lo = mid + 1;
  }
  for (let i = lo - 1; i >= 0; i--) {
    const point = points[i]!;
    if (point.status === 'restorable')
      return {
        at: new Date(at).toISOString(),
        point,
        distanceSeconds: (at - Date.parse(point.createdAt)) / 1000,
        earliest: null,
      };
  }
  // nothing restorable in the range before `at`: an older one may exist before the range
  return undefined;
}

/** "at the chosen time", "42 s before the chosen time", "2 h 5 min before the chosen time". */
export function describeDistance(seconds: number): string {
  if (seconds < 0.5) return 'at the chosen time';
  return `${formatDuration(seconds)} before the chosen time`;
}
