import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import type { z } from 'zod';
import { layout } from '../catalog/layout.js';
import { lockRecordSchema, repositoryMarkerSchema, type LockRecord, type RepositoryMarker } from '../catalog/records.js';
import { TidemarkError, toErrorInfo } from '../errors.js';
import {
  authenticateObjectEnds,
  createEncryptStream,
  createKeyring,
  type ObjectEncryptStream,
  decryptBuffer,
  encryptBuffer,
  exportRecoveryKit,
  openObjectWithFailover,
  parseKeyring,
  rewrapKeyring,
  serializeKeyring,
  unlockKeyring,
  type Keyring,
  type KeyringOptions,
  type KeyringSecret,
  type MasterKey,
  type ZoneReadFailure,
} from './crypto/index.js';
import type { RepositoryConfig } from './repository-config.js';
import type { Zone } from './zone.js';
import { ZoneSet, type MissedWrites, type ZoneDeleteResult, type ZoneHealth, type ZonePutResult, type ZoneSetListing } from './zones/zone-set.js';

export interface RepositoryEvents {
  /** a zone failed during a read and another one took over */
  onReadFailover?: (failure: ZoneReadFailure) => void;
  /** a write missed some zones (still stored in at least minZones) */
  onMissedWrite?: (key: string, result: ZonePutResult) => void;
}

export interface OpenRepositoryOptions extends RepositoryEvents {
  config: RepositoryConfig;
  zones: Zone[];
  secret: KeyringSecret;
  /** keys zones missed earlier, as persisted by the caller */
  missedWrites?: MissedWrites;
}

/**
 * One backup repository: its zones, its master key, and encrypted objects and records.
 * Everything but the marker and the keyring is encrypted and bound to its key.
 */
export class Repository {
  private constructor(
    readonly config: RepositoryConfig,
    readonly zones: ZoneSet,
    private keyring: Keyring,
    private readonly masterKey: MasterKey,
    private readonly events: RepositoryEvents,
  ) {}

  get id(): string {
    return this.config.id;
  }

  /** Creates a new repository in every zone; refuses zones that already hold one. */
  static async init(options: OpenRepositoryOptions & { keyringOptions?: KeyringOptions }): Promise<Repository> {
    const zones = new ZoneSet(options.zones, { minZones: options.zones.length, readOrder: options.config.readOrder });
    for (const zone of options.zones) {
      const existing = await zone.stat(layout.marker()).catch((err: unknown) => {
        throw new TidemarkError('zone_unavailable', `Zone "${zone.id}" cannot be reached: ${toErrorInfo(err).message}`, { cause: err, retryable: true });
      });
      if (existing) {
        throw new TidemarkError('conflict', `Zone "${zone.id}" already holds a Tidemark repository; choose an empty location or open the existing repository.`);
      }
    }
    const { keyring, masterKey } = await createKeyring({ repositoryId: options.config.id, ...options.secret, ...options.keyringOptions });
    const marker: RepositoryMarker = { format: 'tidemark-repository', version: 1, repositoryId: options.config.id, createdAt: new Date().toISOString() };
    // The keyring first: a marker without a keyring would be a repository nobody can open.
    await zones.put(layout.keyring(), Buffer.from(serializeKeyring(keyring)));
    await zones.put(layout.marker(), Buffer.from(`${JSON.stringify(marker, null, 2)}\n`));
    const repo = new Repository(options.config, new ZoneSet(options.zones, zoneSetOptions(options)), keyring, masterKey, options);
    await repo.writeLock({ locked: false, changedAt: marker.createdAt, changedBy: 'init', reason: '' });
    return repo;
  }

  /** Opens an existing repository from whichever zone answers first, and unlocks its key. */
  static async open(options: OpenRepositoryOptions): Promise<Repository> {
    const zones = new ZoneSet(options.zones, zoneSetOptions(options));
    const marker = repositoryMarkerSchema.safeParse(JSON.parse((await readPlain(zones, layout.marker(), 'the repository marker')).toString()));
    if (!marker.success) throw new TidemarkError('corrupt_object', 'The repository marker is damaged; run "tidemark repo repair".');
    if (marker.data.repositoryId !== options.config.id) {
      throw new TidemarkError(
        'invalid_input',
        `The zones hold repository "${marker.data.repositoryId}", not "${options.config.id}"; check the zone locations.`,
      );
    }
    const keyring = parseKeyring(await readPlain(zones, layout.keyring(), 'the keyring'), 'The repository keyring');
    const masterKey = await unlockKeyring(keyring, options.secret);
    return new Repository(options.config, zones, keyring, masterKey, options);
  }

  /** Encrypts a stream once and writes the ciphertext to every zone. */
  async putObject(key: string, source: Readable | Buffer, options: { signal?: AbortSignal } = {}): Promise<ZonePutResult> {
    const plain = Buffer.isBuffer(source) ? Readable.from([source]) : source;
    const { input, stored } = this.writeObject(key, options);
    plain.pipe(input);
    plain.once('error', (err) => input.destroy(err));
    return stored;
  }

  /**
   * An object written as a stream: plaintext goes into `input` (ended when complete), and
   * `stored` settles like `putObject`. A failed put destroys `input`.
   */
  writeObject(
    key: string,
    options: { signal?: AbortSignal; bufferBytes?: number } = {},
  ): { input: ObjectEncryptStream; stored: Promise<ZonePutResult> } {
    const input = createEncryptStream(this.masterKey, key, options.bufferBytes === undefined ? {} : { highWaterMark: options.bufferBytes });
    const stored = this.zones.put(key, input, options.signal ? { signal: options.signal } : {}).then((result) => this.track(key, result));
    return { input, stored };
  }

  /** Authenticated plaintext of an object, falling back to other zones as needed. */
  openObject(key: string, options: { signal?: AbortSignal; zones?: readonly Zone[] } = {}): Readable {
    return openObjectWithFailover({
      zones: options.zones ?? this.zones.zonesForRead(key),
      objectKey: key,
      masterKey: this.masterKey,
      ...(options.signal ? { signal: options.signal } : {}),
      ...(this.events.onReadFailover ? { onZoneFailure: this.events.onReadFailover } : {}),
    });
  }

  async readObject(key: string, options: { signal?: AbortSignal } = {}): Promise<Buffer> {
    return buffer(this.openObject(key, options));
  }

  async putRecord(key: string, value: unknown): Promise<ZonePutResult> {
    const sealed = encryptBuffer(this.masterKey, key, Buffer.from(JSON.stringify(value)));
    return this.track(key, await this.zones.put(key, sealed));
  }

  /** A JSON record, validated; `null` when no zone has it. */
  async readRecord<S extends z.ZodType>(key: string, schema: S): Promise<z.output<S> | null> {
    let bytes: Buffer;
    try {
      bytes = await this.readObject(key);
    } catch (err) {
      if (err instanceof TidemarkError && err.code === 'not_found') return null;
      throw err;
    }
    const parsed = schema.safeParse(JSON.parse(bytes.toString()));
    if (!parsed.success) {
      throw new TidemarkError('corrupt_object', `Record ${key} does not have the expected shape; was it written by a newer Tidemark?`);
    }
    return parsed.data;
  }

  /** Authenticates an object's header and final chunk in the first zone whose copy passes (see authenticateObjectEnds). */
  async authenticateEnds(key: string, options: { signal?: AbortSignal } = {}): Promise<void> {
    await authenticateObjectEnds({
      zones: this.zones.zonesForRead(key),
      objectKey: key,
      masterKey: this.masterKey,
      ...(options.signal ? { signal: options.signal } : {}),
      ...(this.events.onReadFailover ? { onZoneFailure: this.events.onReadFailover } : {}),
    });
  }

  /** Authenticates an object as stored in one zone, without falling back. */
  async authenticateIn(zone: Zone, key: string, signal?: AbortSignal): Promise<void> {
    const stream = openObjectWithFailover({ zones: [zone], objectKey: key, masterKey: this.masterKey, ...(signal ? { signal } : {}) });
    for await (const _ of stream) {
      // reading is the check: every chunk is authenticated before it is delivered
    }
  }

  decryptStored(key: string, stored: Buffer): Buffer {
    return decryptBuffer(this.masterKey, key, stored);
  }

  list(prefix: string): Promise<ZoneSetListing> {
    return this.zones.list(prefix);
  }

  /** Deletes an object everywhere; refused while the repository is locked. */
  async delete(key: string): Promise<ZoneDeleteResult> {
    await this.assertUnlocked('delete backups');
    return this.zones.delete(key);
  }

  async lockState(): Promise<LockRecord> {
    return (await this.readRecord(layout.lock(), lockRecordSchema)) ?? { locked: false, changedAt: new Date(0).toISOString(), changedBy: 'unknown', reason: '' };
  }

  /** A locked repository refuses every deletion and any shrinking of the retention window. */
  async setLocked(locked: boolean, by: string, reason = ''): Promise<LockRecord> {
    const record: LockRecord = { locked, changedAt: new Date().toISOString(), changedBy: by, reason };
    await this.writeLock(record);
    return record;
  }

  async assertUnlocked(action: string): Promise<void> {
    const lock = await this.lockState();
    if (lock.locked) {
      throw new TidemarkError(
        'locked',
        `Repository "${this.id}" is locked (since ${lock.changedAt}${lock.reason ? `: ${lock.reason}` : ''}); unlock it to ${action}.`,
      );
    }
  }

  /** Changes the passphrase (or key file): the master key is re-wrapped, no data is rewritten. */
  async rekey(oldSecret: KeyringSecret, newSecret: KeyringSecret, options?: KeyringOptions): Promise<ZonePutResult> {
    const next = await rewrapKeyring(this.keyring, oldSecret, newSecret, options);
    const result = await this.zones.put(layout.keyring(), Buffer.from(serializeKeyring(next)));
    this.keyring = next;
    return this.track(layout.keyring(), result);
  }

  /** What a new machine needs, with the passphrase, to open this repository. No secret in it. */
  recoveryKit(): string {
    return exportRecoveryKit(this.keyring);
  }

  health(): Promise<ZoneHealth[]> {
    return this.zones.health();
  }

  async close(): Promise<void> {
    this.masterKey.dispose();
    await this.zones.close();
  }

  private async writeLock(record: LockRecord): Promise<void> {
    const result = await this.putRecord(layout.lock(), record);
    if (result.missed.length > 0) {
      // A lock must hold in every zone, or a restore from another zone could see it unlocked.
      throw new TidemarkError('zone_unavailable', `The lock could not be written to zone(s) ${result.missed.map((m) => m.zoneId).join(', ')}; try again when they are reachable.`, { retryable: true });
    }
  }

  private track(key: string, result: ZonePutResult): ZonePutResult {
    if (result.missed.length > 0) this.events.onMissedWrite?.(key, result);
    return result;
  }
}

function zoneSetOptions(options: OpenRepositoryOptions) {
  return {
    minZones: options.config.minZones,
    readOrder: options.config.readOrder,
    ...(options.missedWrites ? { missedWrites: options.missedWrites } : {}),
  };
}

/** A plaintext document (marker, keyring) from the first zone that has it. */
async function readPlain(zones: ZoneSet, key: string, what: string): Promise<Buffer> {
  const errors: string[] = [];
  for (const zone of zones.zonesForRead(key)) {
    try {
      return await buffer(await zone.get(key));
    } catch (err) {
      errors.push(`${zone.id}: ${toErrorInfo(err).message}`);
    }
  }
  throw new TidemarkError('not_found', `No zone holds ${what} (${errors.join('; ')}); check the zone locations, or import the recovery kit.`);
}
