import { EventEmitter } from 'node:events';
import type { z } from 'zod';
import type { Catalog } from '../catalog/catalog.js';
import type { NodeRecord, RestorePointRecord } from '../catalog/records.js';
import { TidemarkError, toErrorInfo } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { Repository } from '../repository/repository.js';
import type { ZoneConfig } from '../repository/repository-config.js';
import type { SecretStore } from '../secrets/secret-store.js';
import type { SettingsStore } from '../settings/settings-store.js';
import {
  clusterConfigSchema,
  clusterSecretName,
  nodeKey,
  type ClusterConfig,
  type NodeAddress,
} from './cluster-config.js';
import { ClusterConnections, type ConnectedNode } from './cluster-connections.js';
import { connectClusterNode } from './connect.js';
import {
  preflightPassed,
  runPreflight,
  type PreflightCheck,
  type PreflightOptions,
  type PreflightTarget,
} from './preflight.js';
import { RestorePointService } from './restore-point-service.js';
import {
  hasTopologyChanged,
  nodeRecordFor,
  reconcileTopology,
  summarizeRecord,
  type NodeSummary,
  type TopologyRefresh,
} from './topology-refresh.js';

/** Where clusters find their repository's catalog (the RepositoryManager provides it). */
export interface RepositoryCatalogs {
  open(repositoryId: string): Promise<{ repository: Repository; catalog: Catalog }>;
}

export interface ClusterManagerOptions {
  settings: SettingsStore;
  secrets: SecretStore;
  logger: Logger;
  repositories: RepositoryCatalogs;
  preflight?: PreflightOptions;
  /** connection timeout for every node connection (default 10 s) */
  connectTimeoutMs?: number;
  now?: () => Date;
}

/** What the manager announces; the backup engine and the UI listen. */
export interface ClusterEventMap {
  /** nodes were added, removed or moved: start WAL streams and base backups for added ones */
  topologyChanged: [TopologyRefresh];
  /** a restore point attempt was recorded (status created, or failed with its error) */
  restorePointCreated: [RestorePointRecord];
  /** points became restorable */
  restorePointsRestorable: [{ clusterId: string; points: RestorePointRecord[] }];
  clusterAdded: [{ clusterId: string }];
  /** stop streaming and scheduling for it; its backups stay */
  clusterRemoved: [{ clusterId: string }];
}

type CoordinatorInput = z.input<typeof clusterConfigSchema>['coordinator'];

export interface AddClusterInput {
  /** default: derived from the name */
  id?: string;
  name: string;
  coordinator: CoordinatorInput;
  /** stored in the secret store, never in settings; omit when the store already has it */
  password?: string;
  /** passphrase of an encrypted client key */
  keyPassphrase?: string;
  nodeOverrides?: Record<string, NodeAddress>;
  repositoryId: string;
  /** add even though checks failed (warnings never block) */
  force?: boolean;
}

export interface ClusterSummary {
  config: ClusterConfig;
  passwordSet: boolean;
}

export interface AddClusterResult {
  cluster: ClusterSummary;
  nodes: NodeSummary[];
  checks: PreflightCheck[];
  citusVersion: string;
  serverVersion: string;
}

export interface ClusterCheckResult {
  clusterId: string;
  checkedAt: string;
  passed: boolean;
  checks: PreflightCheck[];
}

export interface RemoveClusterResult {
  clusterId: string;
  repositoryId: string;
  /** where the backups, WAL and restore points stay */
  zones: string[];
  message: string;
}

/**
 * The clusters Tidemark backs up: their settings (connection, node address overrides,
 * repository), their password in the secret store, and their cluster and node records in
 * the repository's catalog.
 */
export class ClusterManager extends EventEmitter<ClusterEventMap> {
  readonly restorePoints: RestorePointService;
  private settingsChain: Promise<unknown> = Promise.resolve();

  constructor(private readonly options: ClusterManagerOptions) {
    super();
    this.restorePoints = new RestorePointService(this, {
      secrets: options.secrets,
      logger: options.logger,
      ...(options.now ? { now: options.now } : {}),
    });
  }

  async list(): Promise<ClusterSummary[]> {
    const { clusters } = await this.options.settings.get();
    return Promise.all(clusters.map((config) => this.summarize(config)));
  }

  async get(id: string): Promise<ClusterConfig> {
    const { clusters } = await this.options.settings.get();
    const config = clusters.find((c) => c.id === id);
    if (!config) {
      const known = clusters.map((c) => c.id).join(', ');
      throw new TidemarkError(
        'not_found',
        `There is no cluster "${id}" in Tidemark${known ? ` (clusters: ${known})` : ''}. Run "tidemark cluster list" to see them.`,
      );
    }
    return config;
  }

  /** The nodes the catalog knows for the cluster, removed ones included (with `removedAt`). */
  async nodes(id: string): Promise<NodeRecord[]> {
    const catalog = await this.catalogOf(await this.get(id));
    return catalog.nodes(id).map((n) => n.record);
  }

  /**
   * Adds a cluster: tests the connection, discovers the nodes, runs every check on every
   * node, and, unless a check failed (or `force`), stores the password, the settings and the
   * catalog records. Nothing is stored when it refuses.
   */
  async add(input: AddClusterInput): Promise<AddClusterResult> {
    const { clusters } = await this.options.settings.get();
    const id = input.id ?? uniqueId(input.name, new Set(clusters.map((c) => c.id)));
    if (clusters.some((c) => c.id === id)) {
      throw new TidemarkError(
        'conflict',
        `A cluster with id "${id}" already exists; choose another id, or remove that cluster first.`,
      );
    }
    const parsed = clusterConfigSchema.safeParse({
      id,
      name: input.name,
      coordinator: input.coordinator,
      nodeOverrides: input.nodeOverrides ?? {},
      repositoryId: input.repositoryId,
    });
    if (!parsed.success) {
      throw new TidemarkError(
        'invalid_input',
        `The cluster settings are invalid: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
      );
    }
    const config = parsed.data;
    const pending = new Map<string, string>();
    if (input.password !== undefined)
      pending.set(clusterSecretName(id, 'password'), input.password);
    if (input.keyPassphrase !== undefined)
      pending.set(clusterSecretName(id, 'key-passphrase'), input.keyPassphrase);
    const secrets = withPendingSecrets(this.options.secrets, pending);

    const { catalog } = await this.openRepository(config.repositoryId);
    const connections = await this.connect(config, secrets);
    try {
      const checks = await this.preflight(connections, secrets);
      if (!preflightPassed(checks) && !input.force) {
        throw new TidemarkError(
          'preflight_failed',
          refusal(`Cluster "${config.name}" was not added`, checks),
          {
            details: { checks: checks.filter((c) => c.status !== 'ok') },
          },
        );
      }
      const at = this.now().toISOString();
      const records: NodeRecord[] = [];
      for (const node of connections.nodes) {
        if (!node.client) continue; // forced past an unreachable node: the next refresh records it
        records.push(await nodeRecordFor(id, node, at, catalog.node(id, node.id)?.record));
      }
      this.assertSameCluster(catalog, config, records);
      const existing = catalog.cluster(id)?.record;
      await catalog.putCluster({
        clusterId: id,
        name: config.name,
        createdAt: existing?.createdAt ?? at,
        coordinator: {
          host: config.coordinator.host,
          port: config.coordinator.port,
          database: config.coordinator.database,
        },
        citusVersion: connections.topology.citusVersion,
      });
      for (const record of records) await catalog.putNode(record);
      await catalog.flush();
      for (const [name, value] of pending) await this.options.secrets.set(name, value);
      await this.mutateClusters((list) => {
        if (list.some((c) => c.id === id)) {
          throw new TidemarkError(
            'conflict',
            `A cluster with id "${id}" was added meanwhile; choose another id.`,
          );
        }
        return [...list, config];
      });
      this.options.logger.info(
        { clusterId: id, nodes: records.map((r) => r.nodeId), repositoryId: config.repositoryId },
        'cluster added',
      );
      this.emit('clusterAdded', { clusterId: id });
      return {
        cluster: await this.summarize(config),
        nodes: records.map(summarizeRecord),
        checks,
        citusVersion: connections.topology.citusVersion,
        serverVersion: connections.topology.serverVersion,
      };
    } finally {
      await connections.close();
    }
  }

  /** Every check on every node, each failure with its exact fix. Connection problems are checks too. */
  async check(id: string): Promise<ClusterCheckResult> {
    const config = await this.get(id);
    const checkedAt = this.now().toISOString();
    let connections: ClusterConnections;
    try {
      connections = await this.connect(config, this.options.secrets);
    } catch (err) {
      const checks = [coordinatorUnreachable(config, err)];
      return { clusterId: id, checkedAt, passed: false, checks };
    }
    try {
      const checks = await this.preflight(connections, this.options.secrets);
      return { clusterId: id, checkedAt, passed: preflightPassed(checks), checks };
    } finally {
      await connections.close();
    }
  }

  /**
   * Forgets a cluster: its settings and its secrets. Its backups, WAL and restore points are
   * NEVER deleted: they stay in the repository, restorable, and continue if it is added again
   * with the same id and repository.
   */
  async remove(id: string): Promise<RemoveClusterResult> {
    const config = await this.get(id);
    await this.mutateClusters((list) => list.filter((c) => c.id !== id));
    await Promise.all(
      (['password', 'key-passphrase'] as const).map((s) =>
        this.options.secrets.delete(clusterSecretName(id, s)),
      ),
    );
    let zones: string[] = [];
    try {
      const { repository } = await this.openRepository(config.repositoryId);
      zones = repository.config.zones.map(describeZone);
    } catch (err) {
      this.options.logger.warn(
        { clusterId: id, repositoryId: config.repositoryId, code: toErrorInfo(err).code },
        'repository not opened while removing a cluster',
      );
    }
    this.options.logger.info(
      { clusterId: id, repositoryId: config.repositoryId },
      'cluster removed',
    );
    this.emit('clusterRemoved', { clusterId: id });
    const where = zones.length > 0 ? ` (${zones.join('; ')})` : '';
    return {
      clusterId: id,
      repositoryId: config.repositoryId,
      zones,
      message: `Cluster "${config.name}" was removed from Tidemark; nothing was deleted. Its base backups, WAL and restore points stay in repository "${config.repositoryId}"${where} and can still be restored. Add the cluster again with id "${id}" and that repository to continue its backups.`,
    };
  }

  /** Sets (or, with null, clears) the address this workstation uses for a node. */
  async setNodeOverride(
    id: string,
    node: { name: string; port: number },
    address: NodeAddress | null,
  ): Promise<ClusterConfig> {
    await this.get(id);
    const key = nodeKey(node.name, node.port);
    let updated: ClusterConfig | undefined;
    await this.mutateClusters((list) =>
      list.map((c) => {
        if (c.id !== id) return c;
        const overrides = { ...c.nodeOverrides };
        if (address) overrides[key] = address;
        else delete overrides[key];
        updated = clusterConfigSchema.parse({ ...c, nodeOverrides: overrides });
        return updated;
      }),
    );
    return updated as ClusterConfig;
  }

  /**
   * Rediscovers the nodes and updates the catalog: new nodes get records (and a WAL stream
   * and base backup, by whoever listens to `topologyChanged`), removed ones get `removedAt`.
   */
  async refreshTopology(id: string): Promise<TopologyRefresh> {
    const config = await this.get(id);
    const catalog = await this.catalogOf(config);
    const connections = await this.connect(config, this.options.secrets);
    try {
      return await this.reconcile(connections, catalog);
    } finally {
      await connections.close();
    }
  }

  // ----- for the restore point service -----

  /** @internal opens the cluster's connections (the caller closes them) */
  async connect(
    config: ClusterConfig,
    secrets: SecretStore = this.options.secrets,
  ): Promise<ClusterConnections> {
    return ClusterConnections.open(config, secrets, {
      applicationName: 'tidemark',
      ...(this.options.connectTimeoutMs === undefined
        ? {}
        : { connectTimeoutMs: this.options.connectTimeoutMs }),
    });
  }

  /** @internal the catalog of the cluster's repository */
  async catalogOf(config: ClusterConfig): Promise<Catalog> {
    return (await this.openRepository(config.repositoryId)).catalog;
  }

  /** @internal applies a discovered topology to the catalog and announces changes */
  async reconcile(connections: ClusterConnections, catalog: Catalog): Promise<TopologyRefresh> {
    const refresh = await reconcileTopology(connections, catalog, this.now());
    if (hasTopologyChanged(refresh)) {
      await catalog.flush();
      this.options.logger.info(
        {
          clusterId: refresh.clusterId,
          added: refresh.added.map((n) => n.nodeId),
          removed: refresh.removed.map((n) => n.nodeId),
          moved: refresh.moved.map((n) => n.nodeId),
        },
        'cluster topology changed',
      );
      this.emit('topologyChanged', refresh);
    }
    for (const warning of refresh.warnings)
      this.options.logger.warn({ clusterId: refresh.clusterId }, warning);
    return refresh;
  }

  /** @internal */
  now(): Date {
    return this.options.now?.() ?? new Date();
  }

  // ----- internals -----

  private async openRepository(
    repositoryId: string,
  ): Promise<{ repository: Repository; catalog: Catalog }> {
    return this.options.repositories.open(repositoryId);
  }

  private async preflight(
    connections: ClusterConnections,
    secrets: SecretStore,
  ): Promise<PreflightCheck[]> {
    const config = connections.config;
    const targets: PreflightTarget[] = [];
    const unreachable: PreflightCheck[] = [];
    for (const node of connections.nodes) {
      if (!node.client) {
        unreachable.push(nodeUnreachable(config, node));
        continue;
      }
      const address = node.address;
      targets.push({
        node: node.label,
        role: node.node.role,
        client: node.client,
        openReplication: () =>
          connectClusterNode(config, secrets, {
            address,
            replication: true,
            applicationName: 'tidemark preflight',
            ...(this.options.connectTimeoutMs === undefined
              ? {}
              : { connectTimeoutMs: this.options.connectTimeoutMs }),
          }),
      });
    }
    return [...unreachable, ...(await runPreflight(targets, this.options.preflight))];
  }

  /** Refuses to mix two clusters' archives under one id in a repository. */
  private assertSameCluster(catalog: Catalog, config: ClusterConfig, records: NodeRecord[]): void {
    for (const record of records) {
      const known = catalog.node(config.id, record.nodeId)?.record;
      if (known && known.systemIdentifier !== record.systemIdentifier) {
        throw new TidemarkError(
          'conflict',
          `Repository "${config.repositoryId}" already holds a cluster "${config.id}" whose node ${record.nodeId} is another server (system identifier ${known.systemIdentifier}, this one is ${record.systemIdentifier}). Add this cluster under another id.`,
        );
      }
    }
  }

  private async summarize(config: ClusterConfig): Promise<ClusterSummary> {
    return {
      config,
      passwordSet: await this.options.secrets.has(clusterSecretName(config.id, 'password')),
    };
  }

  /** Settings writes of clusters, one at a time (each reads the list it changes). */
  private mutateClusters(change: (list: ClusterConfig[]) => ClusterConfig[]): Promise<void> {
    const next = this.settingsChain.then(async () => {
      const { clusters } = await this.options.settings.get();
      await this.options.settings.update({ clusters: change(clusters) });
    });
    this.settingsChain = next.catch(() => undefined);
    return next;
  }
}

/** `Production EU` → `production-eu`, made unique with a number. */
export function uniqueId(name: string, taken: ReadonlySet<string>): string {
  const base =
    name
      .normalize('NFKD')
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 50)
      .replace(/-+$/, '') || 'cluster';
  if (!taken.has(base)) return base;
  for (let n = 2; ; n++) if (!taken.has(`${base}-${n}`)) return `${base}-${n}`;
}

/** A secret store that answers not-yet-stored values first: checks run before anything is kept. */
function withPendingSecrets(base: SecretStore, pending: ReadonlyMap<string, string>): SecretStore {
  if (pending.size === 0) return base;
  return {
    describe: () => base.describe(),
    get: async (name) => pending.get(name) ?? base.get(name),
    has: async (name) => pending.has(name) || base.has(name),
    set: (name, value) => base.set(name, value),
    delete: (name) => base.delete(name),
  };
}

function nodeUnreachable(config: ClusterConfig, node: ConnectedNode): PreflightCheck {
  const key = nodeKey(node.node.name, node.node.port);
  const overridden = config.nodeOverrides[key] !== undefined;
  return {
    id: 'node-reachable',
    node: node.label,
    status: 'fail',
    message: `Cannot connect to ${node.address.host}:${node.address.port}: ${node.error?.message ?? 'no connection'}`,
    fix: overridden
      ? `Check the address override for ${key} (${node.address.host}:${node.address.port}) and that PostgreSQL there accepts this workstation (listen_addresses, pg_hba.conf, firewall).`
      : `Make ${key} reachable from this workstation (listen_addresses, pg_hba.conf, firewall), or set the address this workstation must use for it: --node-address ${key}=<host>:<port>.`,
  };
}

function coordinatorUnreachable(config: ClusterConfig, err: unknown): PreflightCheck {
  const info = toErrorInfo(err);
  const where = `${config.coordinator.host}:${config.coordinator.port}`;
  const fixes: Partial<Record<string, string>> = {
    authentication_failed: `Store the right password for user "${config.coordinator.user}": set TIDEMARK_SECRET_CLUSTER_${config.id.toUpperCase().replace(/[^A-Z0-9]+/g, '_')}_PASSWORD, or enter it in Tidemark.`,
    permission_denied: `Allow user "${config.coordinator.user}" from this workstation in the coordinator's pg_hba.conf, then: SELECT pg_reload_conf();`,
    not_found: `Fix the database name (now "${config.coordinator.database}") in the cluster's settings.`,
    unsupported:
      'Connect to the Citus coordinator database (the one where CREATE EXTENSION citus was run).',
    invalid_input: 'Point the cluster at its coordinator (the pg_dist_node row with groupid 0).',
  };
  return {
    id: 'coordinator-reachable',
    node: `coordinator ${where}`,
    status: 'fail',
    message: info.message,
    fix:
      fixes[info.code] ??
      `Check that PostgreSQL runs at ${where} and accepts this workstation (listen_addresses, pg_hba.conf, firewall).`,
  };
}

/** The message of a refused add: each failed check with its fix. */
function refusal(prefix: string, checks: PreflightCheck[]): string {
  const failed = checks.filter((c) => c.status === 'fail');
  const lines = failed.map((c) => `- ${c.node}: ${c.message}${c.fix ? ` Fix: ${c.fix}` : ''}`);
  return `${prefix}: ${failed.length} check${failed.length === 1 ? '' : 's'} failed.\n${lines.join('\n')}\nFix them and add it again (or add it anyway with force).`;
}

function describeZone(zone: ZoneConfig): string {
  switch (zone.kind) {
    case 'folder':
      return `${zone.name}: folder ${zone.path}`;
    case 's3':
      return `${zone.name}: S3 bucket ${zone.bucket}${zone.prefix ? `/${zone.prefix}` : ''}${zone.endpoint ? ` at ${zone.endpoint}` : ''}`;
    case 'azure':
      return `${zone.name}: Azure container ${zone.container}${zone.prefix ? `/${zone.prefix}` : ''} at ${zone.accountUrl}`;
  }
}
