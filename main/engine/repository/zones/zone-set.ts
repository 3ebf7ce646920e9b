import { PassThrough, type Readable } from 'node:stream';
import { TidemarkError, throwIfAborted, toErrorInfo, type ErrorInfo } from '../../errors.js';
import type { Zone } from '../zone.js';
import { FanOut } from './fan-out.js';
import { compareKeys } from './zone-key.js';
import { repairZones, type RepairOptions, type RepairReport } from './zone-repair.js';
import { cancelledError, onAbort } from './zone-streams.js';

export interface ZoneSetOptions {
  /** an object counts as stored once this many zones have it (default 1) */
  minZones?: number;
  /** zone ids in the order reads try them; the rest follow in config order */
  readOrder?: string[];
  /** keys each zone missed, as recorded earlier (e.g. loaded from the catalog) */
  missedWrites?: MissedWrites;
  /** bytes buffered per zone between the source and that zone's upload (default 1 MiB) */
  bufferBytes?: number;
}

/** zone id → keys that zone missed and a repair has not copied yet */
export type MissedWrites = Record<string, string[]>;

export interface ZoneMiss {
  zoneId: string;
  error: ErrorInfo;
}

export interface ZonePutResult {
  stored: string[];
  missed: ZoneMiss[];
}

export interface ZoneDeleteResult {
  deleted: string[];
  /** zones that could not delete: they keep an orphan copy */
  missed: ZoneMiss[];
}

export interface ZoneHealth {
  id: string;
  kind: Zone['kind'];
  reachable: boolean;
  latencyMs: number | null;
  error?: string;
  /** the zone missed writes that a repair has not copied yet */
  degraded: boolean;
  missedWrites: number;
}

export interface ZoneSetObject {
  key: string;
  /** the zones holding it, in config order */
  zones: { id: string; size: number; modified: Date }[];
}

export interface ZoneSetListing {
  objects: ZoneSetObject[];
  /** zones that could not be listed; their objects are absent from `objects` */
  unreachable: ZoneMiss[];
}

/**
 * The zones of one repository, written together: every object goes to every zone from one
 * source stream, and counts as stored once `minZones` zones have it.
 */
export class ZoneSet {
  readonly zones: readonly Zone[];
  readonly minZones: number;
  private readonly readRank = new Map<string, number>();
  private readonly reachable = new Map<string, boolean>();
  private readonly missed = new Map<string, Set<string>>();
  private readonly bufferBytes: number;

  constructor(zones: Zone[], options: ZoneSetOptions = {}) {
    const ids = zones.map((z) => z.id);
    if (zones.length === 0)
      throw new TidemarkError('invalid_input', 'A repository needs at least one zone.');
    if (new Set(ids).size !== ids.length) {
      throw new TidemarkError('invalid_input', `Zone ids must be unique; got ${ids.join(', ')}.`);
    }
    this.minZones = options.minZones ?? 1;
    if (!Number.isInteger(this.minZones) || this.minZones < 1 || this.minZones > zones.length) {
      throw new TidemarkError(
        'invalid_input',
        `"Minimum zones" is ${this.minZones} but the repository has ${zones.length} zone(s); choose 1 to ${zones.length}.`,
      );
    }
    const readOrder = options.readOrder ?? [];
    const unknown = readOrder.filter((id) => !ids.includes(id));
    if (unknown.length > 0) {
      throw new TidemarkError(
        'invalid_input',
        `The read order names unknown zone(s) ${unknown.join(', ')}; remove them.`,
      );
    }
    this.zones = [...zones];
    const ranked = [...readOrder, ...ids.filter((id) => !readOrder.includes(id))];
    ranked.forEach((id, rank) => this.readRank.set(id, rank));
    for (const [zoneId, keys] of Object.entries(options.missedWrites ?? {})) {
      if (ids.includes(zoneId)) for (const key of keys) this.recordMiss(zoneId, key);
    }
    this.bufferBytes = options.bufferBytes ?? 1024 * 1024;
  }

  /**
   * Writes the same bytes to every zone at once. Resolves when at least `minZones` zones
   * stored the object; zones that failed are listed in `missed` and recorded for repair.
   * Otherwise rejects, after deleting the copies this put created, so an object that is not
   * stored is visible nowhere (copies that existed before the put are kept: objects are
   * write-once, and a re-put must never destroy a good copy). Like `stream.pipeline`, a
   * source stream is consumed, and destroyed if the put fails.
   */
  async put(
    key: string,
    source: Readable | Buffer,
    options: { signal?: AbortSignal } = {},
  ): Promise<ZonePutResult> {
    throwIfAborted(options.signal);
    const controllers = this.zones.map(() => new AbortController());
    const abandon = () => controllers.forEach((c) => c.abort());
    const disposeAbort = onAbort(options.signal, abandon);
    let sourceError: unknown;
    let fanOut: FanOut | undefined;
    let branches: PassThrough[] = [];
    if (!Buffer.isBuffer(source)) {
      branches = this.zones.map(() => new PassThrough({ highWaterMark: this.bufferBytes }));
      source.once('error', (err) => {
        sourceError = err;
        abandon();
      });
      fanOut = new FanOut(source, branches);
    }
    let failures = 0;
    const attempts = this.zones.map(async (zone, index) => {
      const body = fanOut ? branches[index]! : (source as Buffer);
      try {
        // a put that fails below minZones removes only copies it created (see above)
        const existed = this.minZones > 1 ? await existedBefore(zone, key) : true;
        await zone.put(key, body, { signal: controllers[index]!.signal });
        return existed;
      } catch (err) {
        fanOut?.drop(branches[index]!);
        failures += 1;
        // once minZones is out of reach, stop the others instead of finishing doomed uploads
        if (this.zones.length - failures < this.minZones) {
          abandon();
          fanOut?.abort(cancelledError());
        }
        throw err;
      }
    });
    const settled = await Promise.allSettled(attempts);
    disposeAbort();

    const stored: string[] = [];
    const missed: ZoneMiss[] = [];
    settled.forEach((outcome, index) => {
      const zoneId = this.zones[index]!.id;
      if (outcome.status === 'fulfilled') stored.push(zoneId);
      else missed.push({ zoneId, error: toErrorInfo(outcome.reason) });
      this.noteOutcome(zoneId, outcome.status === 'fulfilled' ? undefined : outcome.reason);
    });
    if (stored.length >= this.minZones) {
      for (const zoneId of stored) this.missed.get(zoneId)?.delete(key);
      for (const miss of missed) this.recordMiss(miss.zoneId, key);
      return { stored, missed };
    }

    if (!Buffer.isBuffer(source) && !source.readableEnded) source.destroy();
    const leftBehind = await this.removeNewCopies(key, settled);
    if (options.signal?.aborted) throw cancelledError();
    if (sourceError !== undefined) throw sourceError;
    throw new TidemarkError(
      'zone_unavailable',
      `"${key}" reached ${stored.length} of ${this.zones.length} zone(s) but needs ${this.minZones}: ` +
        `${missed.map((m) => `${m.zoneId}: ${m.error.message}`).join(' ')} Fix the zones above and retry.`,
      { retryable: true, details: { key, missed, leftBehind } },
    );
  }

  /** Zones in the order to read from: read order, then config order; healthy zones first. */
  zonesForRead(key?: string): Zone[] {
    const tier = (zone: Zone) => {
      if (this.reachable.get(zone.id) === false) return 2;
      const missed = this.missed.get(zone.id);
      const lacks = key === undefined ? (missed?.size ?? 0) > 0 : (missed?.has(key) ?? false);
      return lacks ? 1 : 0;
    };
    return [...this.zones].sort(
      (a, b) =>
        tier(a) - tier(b) || (this.readRank.get(a.id) ?? 0) - (this.readRank.get(b.id) ?? 0),
    );
  }

  /** Probes every zone (write, read back, delete a small object) at once. */
  async health(): Promise<ZoneHealth[]> {
    return Promise.all(
      this.zones.map(async (zone) => {
        const probe = await zone.probe();
        this.reachable.set(zone.id, probe.reachable);
        const missedWrites = this.missed.get(zone.id)?.size ?? 0;
        return {
          id: zone.id,
          kind: zone.kind,
          reachable: probe.reachable,
          latencyMs: probe.latencyMs,
          ...(probe.error ? { error: probe.error } : {}),
          degraded: missedWrites > 0,
          missedWrites,
        };
      }),
    );
  }

  /** Keys each zone missed, for the catalog to persist and pass back as `missedWrites`. */
  missedWrites(): MissedWrites {
    const record: MissedWrites = {};
    for (const [zoneId, keys] of this.missed)
      if (keys.size > 0) record[zoneId] = [...keys].sort(compareKeys);
    return record;
  }

  /** Every object under `prefix` in any reachable zone, with the zones holding it. */
  async list(prefix: string): Promise<ZoneSetListing> {
    const byKey = new Map<string, ZoneSetObject>();
    const unreachable: ZoneMiss[] = [];
    const listings = await Promise.allSettled(
      this.zones.map(async (zone) => {
        const found = [];
        for await (const info of zone.list(prefix)) found.push(info);
        return found;
      }),
    );
    listings.forEach((listing, index) => {
      const zoneId = this.zones[index]!.id;
      if (listing.status === 'rejected') {
        unreachable.push({ zoneId, error: toErrorInfo(listing.reason) });
        return;
      }
      for (const info of listing.value) {
        const entry = byKey.get(info.key) ?? { key: info.key, zones: [] };
        entry.zones.push({ id: zoneId, size: info.size, modified: info.modified });
        byKey.set(info.key, entry);
      }
    });
    const objects = [...byKey.values()].sort((a, b) => compareKeys(a.key, b.key));
    return { objects, unreachable };
  }

  /** Deletes from every zone; a zone that cannot delete keeps an orphan, reported in `missed`. */
  async delete(key: string): Promise<ZoneDeleteResult> {
    const outcomes = await Promise.allSettled(this.zones.map((zone) => zone.delete(key)));
    const result: ZoneDeleteResult = { deleted: [], missed: [] };
    outcomes.forEach((outcome, index) => {
      const zoneId = this.zones[index]!.id;
      if (outcome.status === 'fulfilled') {
        result.deleted.push(zoneId);
        this.missed.get(zoneId)?.delete(key);
      } else result.missed.push({ zoneId, error: toErrorInfo(outcome.reason) });
    });
    return result;
  }

  /**
   * Copies objects to the zones that lack them (or hold an invalid copy per `isValid`) from a
   * zone holding a good copy. `keys`: the recorded missed writes (default), a list, or 'all'
   * (every object any zone holds; pass catalog keys instead where deletes may have been missed).
   */
  repair(options: RepairOptions = {}): Promise<RepairReport> {
    return repairZones(
      {
        zones: this.zones,
        zonesForRead: (key) => this.zonesForRead(key),
        missedKeys: () =>
          [...new Set([...this.missed.values()].flatMap((keys) => [...keys]))].sort(compareKeys),
        resolved: (zoneId, key) => this.missed.get(zoneId)?.delete(key),
        list: (prefix) => this.list(prefix),
      },
      options,
    );
  }

  async close(): Promise<void> {
    await Promise.all(this.zones.map((zone) => zone.close?.()));
  }

  private recordMiss(zoneId: string, key: string): void {
    const keys = this.missed.get(zoneId) ?? new Set<string>();
    keys.add(key);
    this.missed.set(zoneId, keys);
  }

  private noteOutcome(zoneId: string, error: unknown): void {
    if (error === undefined) this.reachable.set(zoneId, true);
    else if (toErrorInfo(error).code === 'zone_unavailable') this.reachable.set(zoneId, false);
  }

  private async removeNewCopies(
    key: string,
    settled: PromiseSettledResult<boolean>[],
  ): Promise<string[]> {
    const leftBehind: string[] = [];
    await Promise.all(
      settled.map(async (outcome, index) => {
        if (outcome.status !== 'fulfilled' || outcome.value) return;
        const zone = this.zones[index]!;
        await zone.delete(key).catch(() => leftBehind.push(zone.id));
      }),
    );
    return leftBehind;
  }
}

/** Unknown (the zone cannot say) counts as existing, so a rollback never deletes it. */
function existedBefore(zone: Zone, key: string): Promise<boolean> {
  return zone.stat(key).then(
    (info) => info !== null,
    () => true,
  );
}
