import type { Repository } from '../repository/repository.js';
import { TidemarkError } from '../errors.js';
import { layout } from '../catalog/layout.js';
import { planObjectKeys, type RestorePlan } from './restore-planner.js';

export interface PlanValidation {
  objects: number;
  authenticated: number;
  /** zones that could not be listed: the restore will read from the others */
  unreachableZones: string[];
}

/**
 * Checks, before any target is touched, that every object the plan reads is in at least one
 * reachable zone, and authenticates the base-backup archives and history files (all of them
 * with `full`, which reads every byte once).
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
  const toAuthenticate = options.full ? keys : keys.filter((k) => k.includes('/archives/') || k.endsWith('.history'));
  let done = 0;
  for (const key of toAuthenticate) {
    const stream = repository.openObject(key, options.signal ? { signal: options.signal } : {});
    for await (const _ of stream) {
      // every chunk is authenticated as it is read
    }
    options.onProgress?.(++done, toAuthenticate.length);
  }
  return { objects: keys.length, authenticated: done, unreachableZones: [...unreachable] };
}
