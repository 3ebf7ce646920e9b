import { buffer } from 'node:stream/consumers';
import { toErrorInfo } from '../errors.js';
import { importRecoveryKit, serializeKeyring } from '../repository/crypto/index.js';
import type { Repository } from '../repository/repository.js';
import type { Zone } from '../repository/zone.js';
import type { RepairProgress } from '../repository/zones/zone-repair.js';
import type { Catalog } from './catalog.js';
import { layout } from './layout.js';
import { repositoryMarkerSchema } from './records.js';
import { expectedObjectKeys, plaintextKeys } from './verify-keys.js';

export interface ZoneRepairSummary {
  zoneId: string;
  copied: string[];
  failed: { key: string; message: string }[];
}

export interface RepositoryRepairReport {
  checked: number;
  zones: ZoneRepairSummary[];
  ok: boolean;
}

export interface RepairOptions {
  keys?: string[];
  signal?: AbortSignal;
  onProgress?: (progress: RepairProgress) => void;
}

/**
 * Copies to each zone what it lacks, or holds damaged, from a zone with a copy that
 * authenticates. The keys come from the catalog (plus the recorded missed writes), never
 * from "whatever any zone holds": an object retention deleted but a zone kept must not
 * come back.
 */
export async function repairFromCatalog(
  repository: Repository,
  catalog: Catalog,
  options: RepairOptions = {},
): Promise<RepositoryRepairReport> {
  const missedByZone = repository.zones.missedWrites();
  const stale = await staleCopies(repository, missedByZone);
  const keyring = serializeKeyring(importRecoveryKit(repository.recoveryKit()));
  const keys = options.keys ?? [
    ...new Set([...expectedObjectKeys(catalog), ...Object.values(missedByZone).flat()]),
  ];
  const report = await repository.zones.repair({
    keys,
    // a stale copy is judged bad once (so it is replaced); the fresh copy is then checked for real
    isValid: async (zone, key) =>
      !stale.get(zone.id)?.delete(key) && (await isValidCopy(repository, zone, key, keyring)),
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
  });
  const zones = repository.zones.zones.map((zone): ZoneRepairSummary => ({
    zoneId: zone.id,
    copied: report.copied.filter((c) => c.to === zone.id).map((c) => c.key),
    failed: report.failed
      .filter((f) => f.zoneId === zone.id)
      .map((f) => ({ key: f.key, message: f.error.message })),
  }));
  return { checked: report.checked, zones, ok: report.failed.length === 0 };
}

/**
 * A zone that missed a write of a key it already held keeps the older version, which still
 * authenticates (the lock, a partial segment, a keyring before a passphrase change): those
 * copies are stale whatever they look like.
 */
async function staleCopies(
  repository: Repository,
  missed: Record<string, string[]>,
): Promise<Map<string, Set<string>>> {
  const stale = new Map<string, Set<string>>();
  for (const zone of repository.zones.zones) {
    const held = new Set<string>();
    for (const key of missed[zone.id] ?? [])
      if (await zone.stat(key).catch(() => null)) held.add(key);
    stale.set(zone.id, held);
  }
  return stale;
}

/** Whether the copy in `zone` is good: it authenticates (or, for the plaintext documents, parses). */
async function isValidCopy(
  repository: Repository,
  zone: Zone,
  key: string,
  keyring: string,
): Promise<boolean> {
  try {
    if (plaintextKeys.has(key)) {
      const bytes = await buffer(await zone.get(key));
      // the keyring must be the current one, not an older wrap under a previous passphrase
      if (key === layout.keyring()) return bytes.toString('utf8') === keyring;
      const marker = repositoryMarkerSchema.safeParse(JSON.parse(bytes.toString('utf8')));
      return marker.success && marker.data.repositoryId === repository.id;
    } else {
      await repository.authenticateIn(zone, key);
    }
    return true;
  } catch (err) {
    const code = toErrorInfo(err).code;
    if (
      code === 'corrupt_object' ||
      code === 'wrong_passphrase' ||
      code === 'invalid_input' ||
      err instanceof SyntaxError
    )
      return false;
    // not found: the repair sees that from its own stat; anything else means "cannot tell"
    if (code === 'not_found') return false;
    throw err;
  }
}
