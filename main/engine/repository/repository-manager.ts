import { access, rm } from 'node:fs/promises';
import { hostname, userInfo } from 'node:os';
import { join } from 'node:path';
import { Catalog } from '../catalog/catalog.js';
import { layout } from '../catalog/layout.js';
import type { LockRecord } from '../catalog/records.js';
import {
  executeRetention,
  planRepositoryRetention,
  type RetentionResult,
  type RetentionRun,
} from '../catalog/retention-executor.js';
import { repairFromCatalog, type RepairOptions, type RepositoryRepairReport } from '../catalog/verify-repair.js';
import { verifyRepository, type VerifyOptions, type VerifyReport } from '../catalog/verify.js';
import { TidemarkError, throwIfAborted, toErrorInfo } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { secretEnvName } from '../secrets/env-file-secret-store.js';
import type { SecretStore } from '../secrets/secret-store.js';
import type { SettingsStore } from '../settings/settings-store.js';
import {
  createKeyFile,
  importRecoveryKit,
  parseKeyring,
  serializeKeyring,
  unlockKeyring,
  type KeyringOptions,
  type KeyringSecret,
} from './crypto/index.js';
import { MissedWritesStore } from './missed-writes-store.js';
import {
  repositoryConfigSchema,
  type RepositoryConfig,
  type ZoneConfig,
} from './repository-config.js';
import { Repository } from './repository.js';
import type { Zone } from './zone.js';
import { createZone, zoneSecretName, type ZoneSecretSource } from './zones/zone-factory.js';
import type { ZoneHealth } from './zones/zone-set.js';

export type RepositoryConfigInput = Parameters<typeof repositoryConfigSchema.parse>[0];

/** Credentials given when a repository is created or attached; stored in the secret store. */
export interface RepositorySecrets {
  passphrase?: string;
  /** zone id → its credential (S3 secret key, Azure account key or SAS token) */
  zones?: Record<string, { secretAccessKey?: string; accountKey?: string; sasToken?: string }>;
  /** keep the passphrase in the secret store (default true; false when the caller's environment provides it) */
  storePassphrase?: boolean;
}

export interface RekeyWarning {
  kind: 'zones-missed' | 'environment-overrides';
  message: string;
}

export interface OpenedRepository {
  repository: Repository;
  catalog: Catalog;
}

export interface RepositoryStatus {
  id: string;
  name: string;
  retentionDays: number;
  minZones: number;
  keySource: RepositoryConfig['key']['source'];
  lock: LockRecord;
  zones: (ZoneHealth & { name: string })[];
  /** zone id → objects it missed that a repair has not copied yet */
  missedWrites: Record<string, number>;
  counts: {
    clusters: number;
    nodes: number;
    backups: number;
    walSegments: number;
    restorePoints: number;
  };
  sizes: { backupBytes: number; walBytes: number };
  oldestBackupAt: string | null;
  newestBackupAt: string | null;
}

export interface RepositoryManagerOptions {
  settings: SettingsStore;
  secrets: SecretStore;
  /** the app's data folder: `repositories/<id>/` holds each repository's local index and missed writes */
  dataDir: string;
  logger?: Logger;
  /** scrypt cost for new passphrases (tests pass cheap parameters) */
  keyringOptions?: KeyringOptions;
}

/** Where a repository's passphrase lives in the secret store. */
export function passphraseSecretName(repositoryId: string): string {
  return `repository/${repositoryId}/passphrase`;
}

/**
 * The repositories this installation knows: their configuration (in the settings), their
 * secrets (in the secret store) and, once opened, the repository and its catalog. Removing a
 * repository from the app never deletes its data; only `destroy` does, with a typed
 * confirmation and no lock.
 */
export class RepositoryManager {
  private readonly opened = new Map<string, Promise<OpenedRepository>>();
  /** one store per repository, so its saves are serialised */
  private readonly missedStores = new Map<string, MissedWritesStore>();
  private configChain: Promise<unknown> = Promise.resolve();

  constructor(private readonly options: RepositoryManagerOptions) {}

  async list(): Promise<RepositoryConfig[]> {
    return (await this.options.settings.get()).repositories;
  }

  async get(id: string): Promise<RepositoryConfig> {
    const config = (await this.list()).find((r) => r.id === id);
    if (!config) {
      throw new TidemarkError(
        'not_found',
        `No repository "${id}" is configured here. Run "tidemark repo list" to see the configured ones, or add it with "tidemark repo init" or "tidemark repo attach".`,
      );
    }
    return config;
  }

  /** Creates a new repository in every zone (each must be empty) and adds it to the settings. */
  async create(
    input: RepositoryConfigInput,
    secrets: RepositorySecrets,
  ): Promise<RepositoryConfig> {
    const config = parseConfig(input);
    await this.assertNotConfigured(config.id);
    const { key, createdKeyFile } = await this.secretForNewRepository(config, secrets);
    const stored = await this.storeSecrets(config, secrets);
    let zones: Zone[] = [];
    try {
      zones = await this.createZones(config, overlaySecrets(config, secrets, this.options.secrets));
      const repository = await Repository.init({
        config,
        zones,
        secret: key,
        ...(this.options.keyringOptions ? { keyringOptions: this.options.keyringOptions } : {}),
      });
      await repository.close();
      await this.addConfig(config);
    } catch (err) {
      await closeZones(zones);
      for (const name of stored) await this.options.secrets.delete(name).catch(() => undefined);
      // a key file made for a repository that does not exist would be a stray secret
      if (createdKeyFile) await rm(createdKeyFile, { force: true });
      throw err;
    }
    this.options.logger?.info(
      { repository: config.id, zones: config.zones.map((z) => z.id) },
      'repository created',
    );
    return config;
  }

  /**
   * Adds an existing repository (a new machine, or after `forget`): opens it from its zones
   * with the passphrase. With a recovery kit, a keyring that is missing or damaged in the
   * zones is written back from the kit, once the kit has been proven to unlock.
   */
  async attach(
    input: RepositoryConfigInput,
    secrets: RepositorySecrets,
    options: { kit?: string } = {},
  ): Promise<RepositoryConfig> {
    const config = parseConfig(input);
    await this.assertNotConfigured(config.id);
    const key = await this.secretForExistingRepository(config, secrets);
    const zones = await this.createZones(
      config,
      overlaySecrets(config, secrets, this.options.secrets),
    );
    try {
      if (options.kit !== undefined) await restoreKeyringFromKit(config, zones, options.kit, key);
      const repository = await Repository.open({ config, zones, secret: key });
      await repository.close();
    } catch (err) {
      await closeZones(zones);
      throw err;
    }
    await this.storeSecrets(config, secrets);
    await this.addConfig(config);
    this.options.logger?.info(
      { repository: config.id, fromKit: options.kit !== undefined },
      'repository attached',
    );
    return config;
  }

  /** `attach` with the recovery kit: for a machine where the zones' keyring is lost or damaged. */
  importFromKit(
    input: RepositoryConfigInput,
    kit: string,
    secrets: RepositorySecrets,
  ): Promise<RepositoryConfig> {
    return this.attach(input, secrets, { kit });
  }

  /** The repository and its catalog, opened once and shared. */
  open(id: string): Promise<OpenedRepository> {
    let opening = this.opened.get(id);
    if (!opening) {
      opening = this.openNow(id);
      this.opened.set(id, opening);
      opening.catch(() => this.opened.delete(id));
    }
    return opening;
  }

  async close(id?: string): Promise<void> {
    const ids = id === undefined ? [...this.opened.keys()] : [id];
    for (const each of ids) {
      const opening = this.opened.get(each);
      this.opened.delete(each);
      const opened = await opening?.catch(() => undefined);
      if (opened) {
        await opened.catalog.close();
        await opened.repository.close();
      }
      await this.missedStores.get(each)?.idle();
    }
  }

  /** Removes the repository from this installation only: its zones keep every object. */
  async forget(id: string): Promise<void> {
    await this.get(id);
    await this.close(id);
    await this.updateConfigs((configs) => configs.filter((c) => c.id !== id));
    this.options.logger?.info(
      { repository: id },
      'repository forgotten (its data stays in its zones)',
    );
  }

  /**
   * Deletes every object of the repository in every zone, then forgets it. Needs the id typed
   * as confirmation, every zone reachable (or a zone would keep a copy) and no lock.
   */
  async destroy(
    id: string,
    options: {
      confirm: string;
      signal?: AbortSignal;
      onProgress?: (done: number, total: number) => void;
    },
  ): Promise<{ deleted: number }> {
    if (options.confirm !== id) {
      throw new TidemarkError(
        'invalid_input',
        `To delete repository "${id}" and every backup in it, type its id "${id}" as the confirmation.`,
      );
    }
    const { repository } = await this.open(id);
    await repository.assertUnlocked('delete it');
    const down = (await repository.health()).filter((h) => !h.reachable);
    if (down.length > 0) {
      throw new TidemarkError(
        'zone_unavailable',
        `Zone(s) ${down.map((z) => `"${z.id}"`).join(', ')} cannot be reached, so their copies could not be deleted. Bring them online and try again.`,
        { retryable: true },
      );
    }
    const listing = await repository.list('');
    const rank = (key: string) =>
      key.endsWith('/backup.json')
        ? 0
        : key === layout.lock()
          ? 2
          : key === layout.keyring()
            ? 3
            : key === layout.marker()
              ? 4
              : 1;
    // completion records first (no backup may look whole), the repository's own documents last
    const keys = listing.objects.map((o) => o.key).sort((a, b) => rank(a) - rank(b));
    let deleted = 0;
    for (const key of keys) {
      throwIfAborted(options.signal);
      const result = await repository.delete(key);
      if (result.missed.length > 0) {
        throw new TidemarkError(
          'zone_unavailable',
          `"${key}" could not be deleted in zone(s) ${result.missed.map((m) => m.zoneId).join(', ')}: ${result.missed[0]!.error.message} Run the deletion again.`,
          { retryable: true },
        );
      }
      deleted += 1;
      options.onProgress?.(deleted, keys.length);
    }
    const config = await this.get(id);
    await this.close(id);
    await this.updateConfigs((configs) => configs.filter((c) => c.id !== id));
    for (const name of secretNames(config))
      await this.options.secrets.delete(name).catch(() => undefined);
    this.missedStores.delete(id);
    await rm(this.localDir(id), { recursive: true, force: true });
    this.options.logger?.warn({ repository: id, deleted }, 'repository destroyed');
    return { deleted };
  }

  /** Changes the retention window; a locked repository refuses a shorter one. */
  async setRetentionDays(id: string, days: number): Promise<RepositoryConfig> {
    const current = await this.get(id);
    const next = parseConfig({ ...current, retentionDays: days });
    if (next.retentionDays < current.retentionDays) {
      const { repository } = await this.open(id);
      await repository.assertUnlocked(
        `shorten its retention window from ${current.retentionDays} to ${next.retentionDays} days`,
      );
    }
    await this.updateConfigs((configs) => configs.map((c) => (c.id === id ? next : c)));
    return next;
  }

  async setLocked(id: string, locked: boolean, reason = ''): Promise<LockRecord> {
    const { repository } = await this.open(id);
    return repository.setLocked(locked, actor(), reason);
  }

  /**
   * Re-wraps the master key under a new passphrase (no data is rewritten) and keeps the new
   * one in the secret store. Warns when a zone kept the old keyring or the environment still
   * provides the old passphrase.
   */
  async rekey(
    id: string,
    oldPassphrase: string,
    newPassphrase: string,
  ): Promise<{ warnings: RekeyWarning[] }> {
    const config = await this.get(id);
    if (config.key.source !== 'passphrase') {
      throw new TidemarkError(
        'unsupported',
        `Repository "${id}" is unlocked by the key file ${config.key.path}, not a passphrase.`,
      );
    }
    const { repository } = await this.open(id);
    const result = await repository.rekey(
      { passphrase: oldPassphrase },
      { passphrase: newPassphrase },
      this.options.keyringOptions,
    );
    await this.options.secrets.set(passphraseSecretName(id), newPassphrase);
    await this.persistMissedWrites(id, repository);
    const warnings: RekeyWarning[] = [];
    if (result.missed.length > 0) {
      warnings.push({
        kind: 'zones-missed',
        message: `Zone(s) ${result.missed.map((m) => m.zoneId).join(', ')} still hold the keyring under the old passphrase; run "tidemark repo repair ${id}" when they are reachable.`,
      });
    }
    if ((await this.options.secrets.get(passphraseSecretName(id))) !== newPassphrase) {
      warnings.push({
        kind: 'environment-overrides',
        message: `The environment variable ${secretEnvName(passphraseSecretName(id))} still holds the old passphrase; change it, or Tidemark cannot open the repository.`,
      });
    }
    this.options.logger?.info({ repository: id }, 'repository passphrase changed');
    return { warnings };
  }

  async exportKit(id: string): Promise<string> {
    return (await this.open(id)).repository.recoveryKit();
  }

  async status(id: string): Promise<RepositoryStatus> {
    const config = await this.get(id);
    const { repository, catalog } = await this.open(id);
    const [lock, health] = await Promise.all([repository.lockState(), repository.health()]);
    const counts = { clusters: 0, nodes: 0, backups: 0, walSegments: 0, restorePoints: 0 };
    const sizes = { backupBytes: 0, walBytes: 0 };
    let oldest: string | null = null;
    let newest: string | null = null;
    for (const cluster of catalog.clusters()) {
      counts.clusters += 1;
      counts.restorePoints += catalog.countRestorePoints(cluster.clusterId);
      for (const node of catalog.nodes(cluster.clusterId)) {
        counts.nodes += 1;
        counts.backups += node.backups.length;
        counts.walSegments += node.walSegments.length;
        sizes.walBytes += node.walSegments.length * node.record.walSegmentSize;
        for (const backup of node.backups) {
          sizes.backupBytes +=
            backup.archives.reduce((sum, a) => sum + a.bytes, 0) + backup.manifestBytes;
          if (oldest === null || backup.startedAt < oldest) oldest = backup.startedAt;
          if (newest === null || backup.startedAt > newest) newest = backup.startedAt;
        }
      }
    }
    const missed = repository.zones.missedWrites();
    return {
      id,
      name: config.name,
      retentionDays: config.retentionDays,
      minZones: config.minZones,
      keySource: config.key.source,
      lock,
      zones: health.map((h) => ({
        ...h,
        name: config.zones.find((z) => z.id === h.id)?.name ?? h.id,
      })),
      missedWrites: Object.fromEntries(config.zones.map((z) => [z.id, missed[z.id]?.length ?? 0])),
      counts,
      sizes,
      oldestBackupAt: oldest,
      newestBackupAt: newest,
    };
  }

  async verify(id: string, options: VerifyOptions = {}): Promise<VerifyReport> {
    const { repository, catalog } = await this.open(id);
    return verifyRepository(repository, catalog, options);
  }

  async repair(id: string, options: RepairOptions = {}): Promise<RepositoryRepairReport> {
    const { repository, catalog } = await this.open(id);
    try {
      return await repairFromCatalog(repository, catalog, options);
    } finally {
      await this.persistMissedWrites(id, repository);
    }
  }

  /** What the retention window lets go now (a dry run deletes nothing). */
  async planPrune(id: string, options: { now?: Date } = {}): Promise<RetentionRun> {
    const config = await this.get(id);
    const { repository, catalog } = await this.open(id);
    return planRepositoryRetention(repository, catalog, {
      retentionDays: config.retentionDays,
      ...options,
    });
  }

  async prune(
    id: string,
    options: {
      now?: Date;
      signal?: AbortSignal;
      onProgress?: (done: number, total: number, bytes: number) => void;
    } = {},
  ): Promise<RetentionResult & RetentionRun> {
    const run = await this.planPrune(id, options.now ? { now: options.now } : {});
    const { repository, catalog } = await this.open(id);
    if (run.locked) await repository.assertUnlocked('delete backups past the retention window');
    const result = await executeRetention(repository, catalog, run.plan, options);
    this.options.logger?.info(
      { repository: id, deleted: result.deleted, bytes: result.bytes },
      'retention applied',
    );
    return { ...run, ...result };
  }

  /** The folder of a repository's local state (index, missed writes). */
  localDir(id: string): string {
    return join(this.options.dataDir, 'repositories', id);
  }

  // ----- internals -----

  private async openNow(id: string): Promise<OpenedRepository> {
    const config = await this.get(id);
    const secret = await this.secretForConfigured(config);
    const zones = await this.createZones(config, this.options.secrets);
    const missedStore = this.missedWritesStore(id);
    const holder: { repository?: Repository } = {};
    let repository: Repository;
    try {
      repository = await Repository.open({
        config,
        zones,
        secret,
        missedWrites: await missedStore.load(),
        onMissedWrite: (key, result) => {
          this.options.logger?.warn(
            { repository: id, objectKey: key, zones: result.missed.map((m) => m.zoneId) },
            'a write missed some zones',
          );
          if (holder.repository)
            void missedStore
              .save(holder.repository.zones.missedWrites())
              .catch((err: unknown) =>
                this.options.logger?.error({ err }, 'could not save missed writes'),
              );
        },
        onReadFailover: (failure) =>
          this.options.logger?.warn(
            {
              repository: id,
              zone: failure.zoneId,
              objectKey: failure.objectKey,
              code: failure.code,
              reason: failure.reason,
            },
            'read fell back to another zone',
          ),
      });
    } catch (err) {
      await closeZones(zones);
      throw err;
    }
    holder.repository = repository;
    try {
      const catalog = await Catalog.open(repository, join(this.localDir(id), 'catalog-index.json'));
      return { repository, catalog };
    } catch (err) {
      await repository.close();
      throw err;
    }
  }

  private missedWritesStore(id: string): MissedWritesStore {
    let store = this.missedStores.get(id);
    if (!store)
      this.missedStores.set(
        id,
        (store = new MissedWritesStore(join(this.localDir(id), 'missed-writes.json'))),
      );
    return store;
  }

  private async persistMissedWrites(id: string, repository: Repository): Promise<void> {
    await this.missedWritesStore(id).save(repository.zones.missedWrites());
  }

  private async secretForConfigured(config: RepositoryConfig): Promise<KeyringSecret> {
    if (config.key.source === 'keyfile') return { keyFile: config.key.path };
    const name = passphraseSecretName(config.id);
    const passphrase = await this.options.secrets.get(name);
    if (!passphrase) {
      throw new TidemarkError(
        'invalid_input',
        `Repository "${config.id}" needs its passphrase, and none is stored here. Enter it in the repository's settings, ` +
          `or for the command line and the agent set the environment variable ${secretEnvName(name)}, ` +
          `or put it in a file only you can read (chmod 600) at secrets/${name} under the configuration folder.`,
        { details: { repositoryId: config.id, secret: name } },
      );
    }
    return { passphrase };
  }

  private async secretForNewRepository(
    config: RepositoryConfig,
    secrets: RepositorySecrets,
  ): Promise<{ key: KeyringSecret; createdKeyFile?: string }> {
    if (config.key.source === 'passphrase') {
      if (!secrets.passphrase)
        throw new TidemarkError('invalid_input', `Repository "${config.id}" needs a passphrase.`);
      return { key: { passphrase: secrets.passphrase } };
    }
    const path = config.key.path;
    if (
      await access(path).then(
        () => true,
        () => false,
      )
    )
      return { key: { keyFile: path } };
    await createKeyFile(path);
    return { key: { keyFile: path }, createdKeyFile: path };
  }

  private async secretForExistingRepository(
    config: RepositoryConfig,
    secrets: RepositorySecrets,
  ): Promise<KeyringSecret> {
    if (config.key.source === 'keyfile') return { keyFile: config.key.path };
    if (secrets.passphrase) return { passphrase: secrets.passphrase };
    return this.secretForConfigured(config);
  }

  /** Stores the given secrets; returns the names it set that were not set before (to undo). */
  private async storeSecrets(
    config: RepositoryConfig,
    secrets: RepositorySecrets,
  ): Promise<string[]> {
    const values: [string, string][] = [];
    if (
      config.key.source === 'passphrase' &&
      secrets.passphrase &&
      secrets.storePassphrase !== false
    )
      values.push([passphraseSecretName(config.id), secrets.passphrase]);
    for (const [zoneId, credential] of Object.entries(secrets.zones ?? {})) {
      for (const kind of ['secretAccessKey', 'accountKey', 'sasToken'] as const) {
        const value = credential[kind];
        if (value) values.push([zoneSecretName(config.id, zoneId, kind), value]);
      }
    }
    const created: string[] = [];
    for (const [name, value] of values) {
      const existed = await this.options.secrets.has(name).catch(() => true);
      await this.options.secrets.set(name, value);
      if (!existed) created.push(name);
    }
    return created;
  }

  private async createZones(config: RepositoryConfig, secrets: ZoneSecretSource): Promise<Zone[]> {
    const zones: Zone[] = [];
    try {
      for (const zone of config.zones) zones.push(await createZone(zone, secrets, config.id));
    } catch (err) {
      await closeZones(zones);
      throw err;
    }
    return zones;
  }

  private async assertNotConfigured(id: string): Promise<void> {
    if ((await this.list()).some((r) => r.id === id)) {
      throw new TidemarkError(
        'conflict',
        `A repository "${id}" is already configured here; choose another id, or remove the existing one first.`,
      );
    }
  }

  private addConfig(config: RepositoryConfig): Promise<void> {
    return this.updateConfigs((configs) => {
      if (configs.some((c) => c.id === config.id))
        throw new TidemarkError(
          'conflict',
          `A repository "${config.id}" is already configured here.`,
        );
      return [...configs, config];
    });
  }

  /** Read-modify-write of the repository list, one at a time. */
  private updateConfigs(
    change: (configs: RepositoryConfig[]) => RepositoryConfig[],
  ): Promise<void> {
    const next = this.configChain.then(async () => {
      const configs = (await this.options.settings.get()).repositories;
      await this.options.settings.update({ repositories: change(configs) });
    });
    this.configChain = next.catch(() => undefined);
    return next;
  }
}

function parseConfig(input: RepositoryConfigInput): RepositoryConfig {
  const parsed = repositoryConfigSchema.safeParse(input);
  if (!parsed.success) {
    throw new TidemarkError(
      'invalid_input',
      `Invalid repository configuration: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(config)'}: ${i.message}`).join('; ')}`,
    );
  }
  const ids = parsed.data.zones.map((z) => z.id);
  if (new Set(ids).size !== ids.length)
    throw new TidemarkError(
      'invalid_input',
      `Zone ids must be unique within a repository; got ${ids.join(', ')}.`,
    );
  if (parsed.data.minZones > ids.length) {
    throw new TidemarkError(
      'invalid_input',
      `"Minimum zones" is ${parsed.data.minZones} but the repository has ${ids.length} zone(s); choose 1 to ${ids.length}.`,
    );
  }
  return parsed.data;
}

/** Zone credentials given with the call win over the secret store (they are stored only on success). */
function overlaySecrets(
  config: RepositoryConfig,
  secrets: RepositorySecrets,
  store: ZoneSecretSource,
): ZoneSecretSource {
  const given = new Map<string, string>();
  for (const [zoneId, credential] of Object.entries(secrets.zones ?? {})) {
    for (const [kind, value] of Object.entries(credential)) {
      if (value) given.set(zoneSecretName(config.id, zoneId, kind as 'secretAccessKey'), value);
    }
  }
  return { get: async (name) => given.get(name) ?? (await store.get(name)) };
}

function secretNames(config: RepositoryConfig): string[] {
  const names = [passphraseSecretName(config.id)];
  for (const zone of config.zones as ZoneConfig[]) {
    for (const kind of ['secretAccessKey', 'accountKey', 'sasToken'] as const)
      names.push(zoneSecretName(config.id, zone.id, kind));
  }
  return names;
}

/**
 * Checks the kit unlocks with the secret, then puts its keyring into every zone whose own
 * keyring is missing or damaged. A zone whose keyring is intact is left alone: it may be newer
 * (a passphrase change after the kit was printed).
 */
async function restoreKeyringFromKit(
  config: RepositoryConfig,
  zones: Zone[],
  kitText: string,
  secret: KeyringSecret,
): Promise<void> {
  const keyring = importRecoveryKit(kitText);
  if (keyring.repositoryId !== config.id) {
    throw new TidemarkError(
      'invalid_input',
      `The recovery kit is for repository "${keyring.repositoryId}", not "${config.id}".`,
    );
  }
  (await unlockKeyring(keyring, secret)).dispose();
  for (const zone of zones) {
    let intact: ReturnType<typeof parseKeyring> | null = null;
    try {
      const chunks: Buffer[] = [];
      for await (const chunk of await zone.get(layout.keyring())) chunks.push(chunk as Buffer);
      intact = parseKeyring(Buffer.concat(chunks));
    } catch (err) {
      const code = toErrorInfo(err).code;
      if (code !== 'not_found' && code !== 'invalid_input') throw err;
    }
    if (intact && intact.keyId !== keyring.keyId) {
      throw new TidemarkError(
        'conflict',
        `Zone "${zone.id}" holds the keyring of another master key (${intact.keyId}); the kit (key ${keyring.keyId}) does not belong to the backups there.`,
      );
    }
    if (!intact) await zone.put(layout.keyring(), Buffer.from(serializeKeyring(keyring)));
  }
}

async function closeZones(zones: Zone[]): Promise<void> {
  await Promise.all(zones.map((z) => z.close?.().catch(() => undefined)));
}

function actor(): string {
  try {
    return `${userInfo().username}@${hostname()}`;
  } catch {
    return hostname();
  }
}
