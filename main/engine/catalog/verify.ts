import { buffer } from 'node:stream/consumers';
import { TidemarkError, throwIfAborted, toErrorInfo } from '../errors.js';
import { importRecoveryKit, parseKeyring } from '../repository/crypto/index.js';
import type { Repository } from '../repository/repository.js';
import type { Zone } from '../repository/zone.js';
import type { ZoneSetListing } from '../repository/zones/zone-set.js';
import type { Catalog } from './catalog.js';
import { parseCatalogKey } from './key-parser.js';
import { layout } from './layout.js';
import { checkBackupAgainstManifest, type ManifestCheckResult } from './manifest-check.js';
import { repositoryMarkerSchema, type WalGapRecord } from './records.js';
import { expectedObjectKeys, plaintextKeys } from './verify-keys.js';
import {
  analyzeWalContinuity,
  parseTimelineHistory,
  type TimelineHistoryEntry,
  type WalContinuity,
} from './wal-continuity.js';
import { runPool } from '../run-pool.js';

export interface VerifyOptions {
  /** fraction of objects to authenticate, 0 < sample ≤ 1 (default 1: all) */
  sample?: number;
  /** objects authenticated at once per zone (default 4) */
  concurrency?: number;
  /** check WAL continuity per node and timeline (default true) */
  wal?: boolean;
  /** check base backups against their manifests (default true; sampled like objects) */
  manifests?: boolean;
  signal?: AbortSignal;
  onProgress?: (progress: VerifyProgress) => void;
  /** for tests: the sampling coin */
  random?: () => number;
}

export interface VerifyProgress {
  phase: 'listing' | 'objects' | 'wal' | 'manifests';
  objectsChecked: number;
  objectsTotal: number;
  bytesChecked: number;
  bytesTotal: number;
}

export interface ObjectProblem {
  key: string;
  message: string;
}

export interface ZoneVerifyReport {
  zoneId: string;
  kind: Zone['kind'];
  reachable: boolean;
  error: string | null;
  /** objects the zone holds */
  objects: number;
  /** objects authenticated in this zone (all, or the sample) */
  checked: number;
  bytesChecked: number;
  /** in the catalog or another zone, absent here */
  missing: string[];
  /** present here but failing authentication (damaged, truncated, swapped, foreign) */
  corrupt: ObjectProblem[];
  /** present here but could not be read (the zone failed mid-check) */
  unreadable: ObjectProblem[];
}

export interface NodeWalReport {
  clusterId: string;
  nodeId: string;
  continuity: WalContinuity;
  /** gaps the archiver recorded when the server no longer had the WAL */
  recordedGaps: Pick<WalGapRecord, 'timeline' | 'fromLsn' | 'toLsn' | 'reason'>[];
  historyErrors: ObjectProblem[];
}

export interface VerifyReport {
  repositoryId: string;
  startedAt: string;
  finishedAt: string;
  sample: number;
  zones: ZoneVerifyReport[];
  /** in the catalog, in no zone at all */
  lost: string[];
  /** in some zone, unknown to the local index (orphans of missed deletes, or a stale index) */
  notInCatalog: number;
  wal: NodeWalReport[];
  backups: ManifestCheckResult[];
  problems: number;
  ok: boolean;
}

/**
 * Checks a repository zone by zone: every object (or a sample) is authenticated as stored in
 * that zone alone, objects the catalog or another zone has are looked for in each; then WAL
 * continuity per node and timeline, and each base backup against its manifest.
 */
export async function verifyRepository(
  repository: Repository,
  catalog: Catalog,
  options: VerifyOptions = {},
): Promise<VerifyReport> {
  const sample = options.sample ?? 1;
  if (!(sample > 0 && sample <= 1))
    throw new TidemarkError(
      'invalid_input',
      `The sample must be a fraction above 0 and at most 1 (got ${sample}).`,
    );
  const random = options.random ?? Math.random;
  const startedAt = new Date().toISOString();
  const progress: VerifyProgress = {
    phase: 'listing',
    objectsChecked: 0,
    objectsTotal: 0,
    bytesChecked: 0,
    bytesTotal: 0,
  };
  const report = () => options.onProgress?.({ ...progress });
  report();

  const listing = await repository.list('');
  throwIfAborted(options.signal);
  const expected = new Set(expectedObjectKeys(catalog));
  const held = new Map(listing.objects.map((o) => [o.key, o]));
  const allKeys = new Set([...expected, ...held.keys()]);
  for (const key of expected)
    if (!held.has(key) && isSupersededPartial(key, held)) allKeys.delete(key);

  const sampled = new Set<string>();
  for (const key of allKeys) {
    const copies = held.get(key)?.zones ?? [];
    const sizesDiffer = new Set(copies.map((c) => c.size)).size > 1;
    if (sample >= 1 || sizesDiffer || random() < sample) sampled.add(key);
  }

  const keyId = importRecoveryKit(repository.recoveryKit()).keyId;
  const zones: ZoneVerifyReport[] = repository.zones.zones.map((zone) => {
    const down = listing.unreachable.find((u) => u.zoneId === zone.id);
    return {
      zoneId: zone.id,
      kind: zone.kind,
      reachable: !down,
      error: down ? down.error.message : null,
      objects: 0,
      checked: 0,
      bytesChecked: 0,
      missing: [],
      corrupt: [],
      unreadable: [],
    };
  });
  const work: { zone: Zone; report: ZoneVerifyReport; keys: { key: string; size: number }[] }[] =
    [];
  repository.zones.zones.forEach((zone, index) => {
    const zoneReport = zones[index]!;
    if (!zoneReport.reachable) return;
    const keys: { key: string; size: number }[] = [];
    for (const key of allKeys) {
      const copy = held.get(key)?.zones.find((z) => z.id === zone.id);
      if (!copy) zoneReport.missing.push(key);
      else {
        zoneReport.objects += 1;
        if (sampled.has(key)) keys.push({ key, size: copy.size });
      }
    }
    progress.objectsTotal += keys.length;
    progress.bytesTotal += keys.reduce((sum, k) => sum + k.size, 0);
    work.push({ zone, report: zoneReport, keys });
  });

  progress.phase = 'objects';
  report();
  await Promise.all(
    work.map(({ zone, report: zoneReport, keys }) =>
      runPool(keys, options.concurrency ?? 4, async ({ key, size }) => {
        throwIfAborted(options.signal);
        try {
          if (plaintextKeys.has(key)) await checkPlaintext(zone, key, repository.id, keyId);
          else await repository.authenticateIn(zone, key, options.signal);
          zoneReport.checked += 1;
          zoneReport.bytesChecked += size;
        } catch (err) {
          if (options.signal?.aborted) throw err;
          const info = toErrorInfo(err);
          if (
            info.code === 'corrupt_object' ||
            info.code === 'wrong_passphrase' ||
            info.code === 'invalid_input'
          )
            zoneReport.corrupt.push({ key, message: info.message });
          else if (info.code === 'not_found') zoneReport.missing.push(key);
          else zoneReport.unreadable.push({ key, message: info.message });
        }
        progress.objectsChecked += 1;
        progress.bytesChecked += size;
        report();
      }),
    ),
  );
  for (const zoneReport of zones) zoneReport.missing.sort();

  const lost = [...expected].filter((key) => allKeys.has(key) && !held.has(key)).sort();
  const notInCatalog = [...held.keys()].filter((key) => !expected.has(key)).length;

  const wal: NodeWalReport[] = [];
  if (options.wal ?? true) {
    progress.phase = 'wal';
    report();
    for (const cluster of catalog.clusters()) {
      for (const node of catalog.nodes(cluster.clusterId)) {
        throwIfAborted(options.signal);
        wal.push(
          await nodeWalReport(repository, catalog, listing, cluster.clusterId, node.record.nodeId),
        );
      }
    }
  }

  const backups: ManifestCheckResult[] = [];
  if (options.manifests ?? true) {
    progress.phase = 'manifests';
    const chosen = catalog
      .clusters()
      .flatMap((c) => catalog.nodes(c.clusterId).flatMap((n) => n.backups))
      .filter(() => sample >= 1 || random() < sample);
    progress.objectsTotal += chosen.length;
    progress.bytesTotal += chosen.reduce(
      (sum, b) => sum + b.archives.reduce((s, a) => s + a.bytes, 0),
      0,
    );
    report();
    for (const backup of chosen) {
      const before = progress.bytesChecked;
      backups.push(
        await checkBackupAgainstManifest(repository, backup, {
          ...(options.signal ? { signal: options.signal } : {}),
          onBytes: (bytes) => {
            progress.bytesChecked = before + bytes;
            report();
          },
        }),
      );
      progress.objectsChecked += 1;
      report();
    }
  }

  const problems =
    zones.reduce(
      (sum, z) =>
        sum + (z.reachable ? 0 : 1) + z.missing.length + z.corrupt.length + z.unreadable.length,
      0,
    ) +
    lost.length +
    wal.reduce(
      (sum, w) =>
        sum +
        w.continuity.gaps.filter((g) => g.affectsRestore).length +
        w.continuity.backups.filter((b) => !b.complete).length +
        w.continuity.missingHistories.length +
        w.historyErrors.length,
      0,
    ) +
    backups.filter((b) => !b.ok).length;
  return {
    repositoryId: repository.id,
    startedAt,
    finishedAt: new Date().toISOString(),
    sample,
    zones,
    lost,
    notInCatalog,
    wal,
    backups,
    problems,
    ok: problems === 0,
  };
}

async function nodeWalReport(
  repository: Repository,
  catalog: Catalog,
  listing: ZoneSetListing,
  clusterId: string,
  nodeId: string,
): Promise<NodeWalReport> {
  const node = catalog.node(clusterId, nodeId)!;
  const segments: string[] = [];
  const partialKeys: { segment: string; key: string }[] = [];
  const historyTimelines: number[] = [];
  for (const object of listing.objects) {
    const parsed = parseCatalogKey(object.key);
    if (!('node' in parsed) || parsed.cluster !== clusterId || parsed.node !== nodeId) continue;
    if (parsed.kind === 'wal-segment') segments.push(parsed.segment);
    else if (parsed.kind === 'wal-partial')
      partialKeys.push({ segment: parsed.segment, key: object.key });
    else if (parsed.kind === 'wal-history') historyTimelines.push(parsed.timeline);
  }
  const partials: Record<string, number> = {};
  for (const { segment, key } of partialKeys) {
    partials[segment] =
      node.walPartials[segment] ??
      (await repository.readObject(key).then(
        (b) => b.length,
        () => 0,
      ));
  }
  const histories: Record<number, TimelineHistoryEntry[]> = {};
  const historyErrors: ObjectProblem[] = [];
  for (const timeline of historyTimelines) {
    const key = layout.walHistory(clusterId, nodeId, timeline);
    try {
      histories[timeline] = parseTimelineHistory(
        (await repository.readObject(key)).toString('utf8'),
      );
    } catch (err) {
      historyErrors.push({
        key,
        message:
          err instanceof RangeError
            ? `not a timeline history file: ${err.message}`
            : toErrorInfo(err).message,
      });
    }
  }
  const continuity = analyzeWalContinuity({
    segmentSize: node.record.walSegmentSize,
    segments,
    partials,
    histories,
    historyTimelines,
    backups: node.backups,
  });
  return {
    clusterId,
    nodeId,
    continuity,
    recordedGaps: node.gaps.map((g) => ({
      timeline: g.timeline,
      fromLsn: g.fromLsn,
      toLsn: g.toLsn,
      reason: g.reason,
    })),
    historyErrors,
  };
}

/** The marker and keyring are plaintext: check they parse and name this repository and key. */
async function checkPlaintext(
  zone: Zone,
  key: string,
  repositoryId: string,
  keyId: string,
): Promise<void> {
  const bytes = await buffer(await zone.get(key));
  if (key === layout.keyring()) {
    const keyring = parseKeyring(bytes, `The keyring in zone "${zone.id}"`);
    if (keyring.repositoryId !== repositoryId || keyring.keyId !== keyId) {
      throw new TidemarkError(
        'corrupt_object',
        `The keyring in zone "${zone.id}" belongs to another repository or key (${keyring.repositoryId}, key ${keyring.keyId}).`,
      );
    }
    return;
  }
  let marker;
  try {
    marker = repositoryMarkerSchema.safeParse(JSON.parse(bytes.toString('utf8')));
  } catch {
    marker = null;
  }
  if (!marker?.success || marker.data.repositoryId !== repositoryId) {
    throw new TidemarkError(
      'corrupt_object',
      `The repository marker in zone "${zone.id}" is damaged or names another repository.`,
    );
  }
}

/** A partial is replaced by its complete segment: a vanished partial whose segment exists is no loss. */
function isSupersededPartial(key: string, held: Map<string, unknown>): boolean {
  return key.endsWith('.partial') && held.has(key.slice(0, -'.partial'.length));
}
