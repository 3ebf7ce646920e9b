import type { Repository } from '../repository/repository.js';
import { TidemarkError } from '../errors.js';
import { layout } from '../catalog/layout.js';
import { runPool } from '../run-pool.js';
import { planObjectKeys, type RestorePlan } from './restore-planner.js';

export interface PlanValidation {
  objects: number;
  /** objects authenticated: every byte with `full`, header and final chunk otherwise */
  authenticated: number;
  full: boolean;
  /** zones that could not be listed: the restore will read from the others */
  unreachableZones: string[];
}

/** Objects checked at once: each check is two small reads, so latency, not bandwidth, bounds it. */
const concurrency = 8;

/**
 * Checks, before any target is touched, that every object the plan reads is in at least one
 * reachable zone and authenticates in one: its header and final chunk by default (it is this
 * repository's object, under this key, complete), every byte with `full`. Without `full` the
 * chunks in between are authenticated as the restore reads them, moving to another zone at the
 * first chunk that fails, so a damaged copy in one zone still restores; damage in every zone
 * fails the restore, which then removes what it created. `full` finds that before, at the cost
 * of reading everything twice.
 */
export async function validatePlan(repository: Repository, plan: RestorePlan, options: { full?: boolean; signal?: AbortSignal; onProgress?: (done: number, total: number) => void } = {}): Promise<PlanValidation> {
  const keys = planObjectKeys(plan);
  const present = new Set<string>();
  const unreachable = new Set<string>();
  for (const node of plan.nodes) {
    for (const prefix of [layout.backupPrefix(plan.clusterId, node.nodeId, node.backup.backupId), layout.walPrefix(plan.clusterId, node.nodeId)]) {
      const listing = await repository.list(prefix);
      for (const o of listing.objects) present.add(o.key);
      for (const u of listing.unreachable) unreachable.add(u.zoneId);
    }
  }
  if (unreachable.size === repository.zones.zones.length) {
    throw new TidemarkError('zone_unavailable', `No zone of repository "${repository.id}" can be reached; nothing was created.`, { retryable: true });
  }
  const missing = keys.filter((k) => !present.has(k));
  if (missing.length > 0) {
    throw new TidemarkError('target_unreachable', `Cannot restore: ${missing.length} object(s) the plan needs are missing in every reachable zone, first ${missing[0]}. Nothing was created.`, { details: { missing: missing.slice(0, 20) } });
  }
  const signal = options.signal ? { signal: options.signal } : {};
  let done = 0;
  await runPool(keys, options.full ? 1 : concurrency, async (key) => {
    if (options.full) {
      for await (const _ of repository.openObject(key, signal)) {
        // every chunk is authenticated as it is read
      }
    } else {
      await repository.authenticateEnds(key, signal);
    }
    options.onProgress?.(++done, keys.length);
  });
  return { objects: keys.length, authenticated: done, full: options.full ?? false, unreachableZones: [...unreachable] };
}
