import { summarizeBackup, type BackupSummary } from '../catalog/backup-summary.js';
import { EventEmitter } from 'node:events';
import type { Catalog } from '../catalog/catalog.js';
import type { WalGapRecord } from '../catalog/records.js';
import type { ClusterConfig } from '../cluster/cluster-config.js';
import type { ClusterManager } from '../cluster/cluster-manager.js';
import { tidemarkNodeId } from '../cluster/cluster-connections.js';
import { connectClusterNode } from '../cluster/connect.js';
import { backupTargets, discoverTopology, resolveNodeAddress } from '../cluster/discovery.js';
import { TidemarkError, toErrorInfo } from '../errors.js';
import type { Job } from '../jobs/job-types.js';
import type { JobManager } from '../jobs/job-manager.js';
import type { Logger } from '../log/logger.js';
import type { Repository } from '../repository/repository.js';
import type { SecretStore } from '../secrets/secret-store.js';
import type { SettingsStore } from '../settings/settings-store.js';
import { backupClusterNodes, type ClusterBackupOptions, type ClusterTarget } from './cluster-backup.js';
import { endpointFor, type NodeEndpoint } from './node-endpoint.js';
import { WalArchiver, type WalArchiverEvent, type WalArchiverOptions, type WalStatus } from './wal-archiver.js';
import { walOverview, type WalNodeOverview } from './wal-overview.js';

/** What the service announces; the bridge turns these into the contract's events. */
export interface BackupEventMap {
  /** WAL the server no longer had: recorded, never papered over */
  walGap: [{ clusterId: string; nodeId: string; gap: WalGapRecord; message: string }];
  /** a slot retains more WAL than the threshold */
  walBacklog: [{ clusterId: string; nodeId: string; slot: string; backlogBytes: number; thresholdBytes: number; message: string }];
  /** a node's stream changed state */
  walStatus: [WalStatus];
  /** something the DBA should know that is not a failure (a slot recreated) */
  walWarning: [{ clusterId: string; nodeId: string; message: string }];
  backupCompleted: [{ clusterId: string; nodeId: string; backupId: string; endLsn: string; degradedZones: string[] }];
}

/** Where a cluster's repository comes from (the RepositoryManager). */
export interface RepositorySource {
  open(repositoryId: string): Promise<{ repository: Repository; catalog: Catalog }>;
}

export interface BackupServiceDeps {
  settings: SettingsStore;
  secrets: SecretStore;
  repositories: RepositorySource;
  jobs: JobManager;
  logger: Logger;
  /** marks restore points restorable as WAL arrives (the cluster service's restore points) */
  restorability?: { updateRestorability(clusterId: string): Promise<unknown> };
  /** tuning of every archiver (flush interval, backlog threshold …) */
  archiver?: Omit<WalArchiverOptions, 'endpoint' | 'repository' | 'catalog' | 'logger' | 'onEvent'>;
  connectTimeoutMs?: number;
}

/** One node's backups as `backups.list` shows them. */
export interface NodeBackups {
  nodeId: string;
  role: 'coordinator' | 'worker';
  name: string;
  port: number;
  removedAt: string | null;
  backups: BackupSummary[];
}


const restorabilityDelayMs = 3000;

/**
 * Base backups and continuous WAL of the configured clusters: one WAL archiver per node
 * (started on demand, kept running), cluster backups as jobs.
 */
export type { BackupSummary };

export class BackupService extends EventEmitter<BackupEventMap> {
  private readonly archivers = new Map<string, WalArchiver>();
  private readonly runningBackups = new Map<string, string>();
  private readonly restorabilityTimers = new Map<string, NodeJS.Timeout>();

  constructor(private readonly deps: BackupServiceDeps) {
    super();
  }

  /** The nodes of a configured cluster (topology from its coordinator, with address overrides) and its repository. */
  async resolveTarget(clusterId: string): Promise<ClusterTarget> {
    const config = await this.clusterConfig(clusterId);
    const { repository, catalog } = await this.deps.repositories.open(config.repositoryId);
    const coordinator = await connectClusterNode(config, this.deps.secrets, {
      applicationName: 'tidemark',
      ...(this.deps.connectTimeoutMs === undefined ? {} : { connectTimeoutMs: this.deps.connectTimeoutMs }),
    });
    try {
      const address = { host: config.coordinator.host, port: config.coordinator.port };
      const topology = await discoverTopology(coordinator, address);
      const nodes = await Promise.all(
        backupTargets(topology).map((node) =>
          endpointFor(config, this.deps.secrets, {
            nodeId: tidemarkNodeId(node),
            role: node.role,
            distNodeId: node.nodeId === 0 && node.role === 'coordinator' ? null : node.nodeId,
            groupId: node.groupId,
            name: node.name,
            port: node.port,
            address: node.role === 'coordinator' ? address : resolveNodeAddress(node, config.nodeOverrides),
          }),
        ),
      );
      return { clusterId, repository, catalog, nodes };
    } finally {
      await coordinator.end().catch(() => undefined);
    }
  }

  /** Starts (or keeps) the WAL stream of every node; resolves at once with their status. */
  async startWalStreams(target: string | ClusterTarget): Promise<WalStatus[]> {
    const resolved = typeof target === 'string' ? await this.resolveTarget(target) : target;
    for (const endpoint of resolved.nodes) this.archiverFor(resolved, endpoint).start();
    return this.walStatus(resolved.clusterId);
  }

  /** Stops every stream of the cluster gracefully (partial stored, flushed reported). */
  async stopWalStreams(clusterId: string): Promise<WalStatus[]> {
    const mine = [...this.archivers.values()].filter((a) => a.endpoint.clusterId === clusterId);
    await Promise.all(mine.map((a) => a.stop()));
    return mine.map((a) => a.status());
  }

  walStatus(clusterId: string): WalStatus[] {
    return [...this.archivers.values()]
      .filter((a) => a.endpoint.clusterId === clusterId)
      .map((a) => a.status())
      .sort((a, b) => a.nodeId.localeCompare(b.nodeId, 'en', { numeric: true }));
  }

  /**
   * Every node's WAL archiving as the node, the repository and this process see it: right even
   * when another process (the agent) streams.
   */
  async walOverview(clusterId: string): Promise<WalNodeOverview[]> {
    const target = await this.resolveTarget(clusterId);
    return walOverview(target, (nodeId) => this.archiver(clusterId, nodeId)?.status() ?? null);
  }

  /** The archiver of a node, if one was created in this process. */
  archiver(clusterId: string, nodeId: string): WalArchiver | undefined {
    return this.archivers.get(archiverKey(clusterId, nodeId));
  }

  /**
   * Starts a job backing up every active node of the cluster (bounded concurrency, a part per
   * node). One backup per cluster at a time.
   */
  backupCluster(target: string | ClusterTarget, options: ClusterBackupOptions = {}): Job {
    const clusterId = typeof target === 'string' ? target : target.clusterId;
    const running = this.runningBackups.get(clusterId);
    if (running) {
      throw new TidemarkError('conflict', `A backup of cluster "${clusterId}" is already running (job ${running}); wait for it to end or cancel it.`);
    }
    const job = this.deps.jobs.start({ kind: 'backup', title: `Back up cluster ${clusterId}`, subject: clusterId }, async (ctx) => {
      try {
        ctx.setPhase('discovering nodes');
        const resolved = typeof target === 'string' ? await this.resolveTarget(target) : target;
        return await backupClusterNodes(
          ctx,
          resolved,
          {
            archiverFor: (endpoint) => this.archiverFor(resolved, endpoint),
            logger: this.deps.logger,
            onNodeCompleted: (record) => {
              this.emit('backupCompleted', {
                clusterId: record.clusterId,
                nodeId: record.nodeId,
                backupId: record.backupId,
                endLsn: record.endLsn,
                degradedZones: record.degradedZones,
              });
              this.scheduleRestorability(record.clusterId);
            },
          },
          options,
        );
      } finally {
        this.runningBackups.delete(clusterId);
      }
    });
    this.runningBackups.set(clusterId, job.id);
    return job;
  }

  /** Every node's completed backups, oldest first, from the catalog. */
  async listBackups(clusterId: string): Promise<NodeBackups[]> {
    const config = await this.clusterConfig(clusterId);
    const { catalog } = await this.deps.repositories.open(config.repositoryId);
    return listNodeBackups(catalog, clusterId);
  }

  /**
   * Keeps the streams in step with the clusters: a node added to a streamed cluster gets its
   * stream, a removed cluster's streams stop (its WAL and backups stay in the repository).
   */
  followClusters(clusters: Pick<ClusterManager, 'on'>): void {
    clusters.on('topologyChanged', (refresh) => {
      const streaming = [...this.archivers.values()].some((a) => a.endpoint.clusterId === refresh.clusterId && a.isRunning);
      if (!streaming || refresh.added.length === 0) return;
      this.startWalStreams(refresh.clusterId).catch((err: unknown) => {
        this.deps.logger.warn({ clusterId: refresh.clusterId, code: toErrorInfo(err).code }, 'WAL streams of added nodes not started');
      });
    });
    clusters.on('clusterRemoved', ({ clusterId }) => {
      void this.stopWalStreams(clusterId);
    });
  }

  /** Stops every stream gracefully. */
  async close(): Promise<void> {
    for (const timer of this.restorabilityTimers.values()) clearTimeout(timer);
    this.restorabilityTimers.clear();
    await Promise.all([...this.archivers.values()].map((a) => a.stop()));
  }

  private archiverFor(target: ClusterTarget, endpoint: NodeEndpoint): WalArchiver {
    const key = archiverKey(endpoint.clusterId, endpoint.nodeId);
    const existing = this.archivers.get(key);
    if (existing?.isRunning) return existing;
    const archiver = new WalArchiver({
      ...this.deps.archiver,
      ...(this.deps.connectTimeoutMs === undefined ? {} : { connectTimeoutMs: this.deps.connectTimeoutMs }),
      endpoint,
      repository: target.repository,
      catalog: target.catalog,
      logger: this.deps.logger,
      onEvent: (event) => this.onArchiverEvent(event),
    });
    this.archivers.set(key, archiver);
    return archiver;
  }

  private onArchiverEvent(event: WalArchiverEvent): void {
    switch (event.type) {
      case 'wal.gap':
        this.emit('walGap', { clusterId: event.clusterId, nodeId: event.nodeId, gap: event.gap, message: event.message });
        break;
      case 'wal.backlog':
        this.emit('walBacklog', {
          clusterId: event.clusterId,
          nodeId: event.nodeId,
          slot: event.slot,
          backlogBytes: event.backlogBytes,
          thresholdBytes: event.thresholdBytes,
          message: event.message,
        });
        break;
      case 'wal.status':
        this.emit('walStatus', event.status);
        break;
      case 'wal.warning':
        this.emit('walWarning', { clusterId: event.clusterId, nodeId: event.nodeId, message: event.message });
        break;
      case 'wal.stored':
        this.scheduleRestorability(event.clusterId);
        break;
    }
  }

  /** Restore points become restorable as WAL arrives: checked a moment after it does, not per object. */
  private scheduleRestorability(clusterId: string): void {
    const restorability = this.deps.restorability;
    if (!restorability || this.restorabilityTimers.has(clusterId)) return;
    const timer = setTimeout(() => {
      this.restorabilityTimers.delete(clusterId);
      restorability.updateRestorability(clusterId).catch((err: unknown) => {
        this.deps.logger.warn({ clusterId, code: toErrorInfo(err).code }, 'restorability not updated');
      });
    }, restorabilityDelayMs);
    timer.unref();
    this.restorabilityTimers.set(clusterId, timer);
  }

  private async clusterConfig(clusterId: string): Promise<ClusterConfig> {
    const { clusters } = await this.deps.settings.get();
    const config = clusters.find((c) => c.id === clusterId);
    if (!config) {
      throw new TidemarkError('not_found', `No cluster "${clusterId}" is configured here. Run "tidemark cluster list" to see the configured ones.`);
    }
    return config;
  }
}

export function listNodeBackups(catalog: Catalog, clusterId: string): NodeBackups[] {
  return catalog
    .nodes(clusterId)
    .map((node) => ({
      nodeId: node.record.nodeId,
      role: node.record.role,
      name: node.record.name,
      port: node.record.port,
      removedAt: node.record.removedAt,
      backups: node.backups.map(summarizeBackup),
    }))
    .sort((a, b) => a.nodeId.localeCompare(b.nodeId, 'en', { numeric: true }));
}

function archiverKey(clusterId: string, nodeId: string): string {
  return `${clusterId}/${nodeId}`;
}
