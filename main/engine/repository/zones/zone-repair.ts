import { TidemarkError, throwIfAborted, toErrorInfo, type ErrorInfo } from '../../errors.js';
import type { Zone, ZoneObjectInfo } from '../zone.js';
import type { ZoneMiss, ZoneSetListing } from './zone-set.js';

export interface RepairOptions {
  /** the recorded missed writes (default), these keys, or every object any zone holds */
  keys?: string[] | 'all';
  /** false marks a copy as bad (e.g. it fails authentication): it is replaced, never copied */
  isValid?: (zone: Zone, key: string) => Promise<boolean>;
  signal?: AbortSignal;
  onProgress?: (progress: RepairProgress) => void;
}

export interface RepairProgress {
  checked: number;
  total: number;
  copied: number;
  failed: number;
}

export interface RepairReport {
  /** keys examined */
  checked: number;
  copied: { key: string; to: string; from: string }[];
  failed: { key: string; zoneId: string; error: ErrorInfo }[];
  /** zones that could not be listed (keys 'all'); nothing was copied to them */
  skippedZones: ZoneMiss[];
}

/** What a repair needs from its ZoneSet. */
export interface RepairHost {
  zones: readonly Zone[];
  zonesForRead(key: string): Zone[];
  missedKeys(): string[];
  resolved(zoneId: string, key: string): void;
  list(prefix: string): Promise<ZoneSetListing>;
}

type Holders = Map<string, ZoneObjectInfo>;

export async function repairZones(host: RepairHost, options: RepairOptions): Promise<RepairReport> {
  const report: RepairReport = { checked: 0, copied: [], failed: [], skippedZones: [] };
  let work: { key: string; holders?: Holders }[];
  if (options.keys === 'all') {
    const listing = await host.list('');
    report.skippedZones = listing.unreachable;
    work = listing.objects.map((object) => ({
      key: object.key,
      holders: new Map(
        object.zones.map((z) => [z.id, { key: object.key, size: z.size, modified: z.modified }]),
      ),
    }));
  } else {
    work = (options.keys ?? host.missedKeys()).map((key) => ({ key }));
  }
  const skipped = new Set(report.skippedZones.map((s) => s.zoneId));
  for (const item of work) {
    throwIfAborted(options.signal);
    await repairKey(host, item.key, item.holders, skipped, options, report);
    report.checked += 1;
    options.onProgress?.({
      checked: report.checked,
      total: work.length,
      copied: report.copied.length,
      failed: report.failed.length,
    });
  }
  return report;
}

async function repairKey(
  host: RepairHost,
  key: string,
  listed: Holders | undefined,
  skipped: Set<string>,
  options: RepairOptions,
  report: RepairReport,
): Promise<void> {
  const fail = (zoneId: string, err: unknown) =>
    report.failed.push({ key, zoneId, error: toErrorInfo(err) });
  const unknown = new Set(skipped);
  const holders: Holders = listed ?? new Map();
  if (!listed) {
    await Promise.all(
      host.zones.map(async (zone) => {
        try {
          const info = await zone.stat(key);
          if (info) holders.set(zone.id, info);
        } catch (err) {
          unknown.add(zone.id);
          fail(zone.id, err);
        }
      }),
    );
  }
  if (options.isValid) {
    for (const zone of host.zones) {
      if (!holders.has(zone.id)) continue;
      try {
        if (!(await options.isValid(zone, key))) holders.delete(zone.id);
      } catch (err) {
        // cannot tell whether this copy is good: neither copy from it nor overwrite it
        holders.delete(zone.id);
        unknown.add(zone.id);
        fail(zone.id, err);
      }
    }
  }
  const targets = host.zones.filter((zone) => !holders.has(zone.id) && !unknown.has(zone.id));
  const sources = host.zonesForRead(key).filter((zone) => holders.has(zone.id));
  for (const zone of host.zones) if (holders.has(zone.id)) host.resolved(zone.id, key);
  for (const target of targets) {
    if (sources.length === 0) {
      fail(target.id, noGoodCopy(key, options.isValid !== undefined));
      continue;
    }
    let lastError: unknown;
    for (const source of sources) {
      try {
        await copy(source, target, key, holders.get(source.id)!.size, options);
        report.copied.push({ key, to: target.id, from: source.id });
        host.resolved(target.id, key);
        lastError = undefined;
        break;
      } catch (err) {
        if (options.signal?.aborted) throw err;
        lastError = err; // try the next source: the failure may have been the read
      }
    }
    if (lastError !== undefined) fail(target.id, lastError);
  }
}

async function copy(
  source: Zone,
  target: Zone,
  key: string,
  size: number,
  options: RepairOptions,
): Promise<void> {
  const signal = options.signal ? { signal: options.signal } : {};
  await target.put(key, await source.get(key, signal), signal);
  const written = await target.stat(key);
  const valid =
    written?.size === size && (options.isValid ? await options.isValid(target, key) : true);
  if (!valid) {
    throw new TidemarkError(
      'corrupt_object',
      `The copy of "${key}" from zone "${source.id}" to zone "${target.id}" does not match the original ` +
        `(${written?.size ?? 'no'} bytes instead of ${size}). Check zone "${target.id}" for storage faults and repair again.`,
      { details: { key, from: source.id, to: target.id } },
    );
  }
}

function noGoodCopy(key: string, validated: boolean): TidemarkError {
  return new TidemarkError(
    'not_found',
    `No reachable zone holds ${validated ? 'a valid' : 'a'} copy of "${key}", so it cannot be repaired. ` +
      'Bring the other zones online and repair again; if none has it, the object is lost.',
    { details: { key } },
  );
}
