import { join } from 'node:path';
import { clusterSecretName } from '../cluster/cluster-config.js';
import type { ClusterManager } from '../cluster/cluster-manager.js';
import { TidemarkError } from '../errors.js';
import type { Job } from '../jobs/job-types.js';
import type { JobManager } from '../jobs/job-manager.js';
import type { Logger } from '../log/logger.js';
import type { RepositoryManager } from '../repository/repository-manager.js';
import type { SecretStore } from '../secrets/secret-store.js';
import type { AccessRules } from './access-config.js';
import { restoreCluster, type ClusterRestoreNode } from './cluster-recovery.js';
import { LocalProvisioner } from './local-provisioner.js';
import { validatePlan } from './plan-validation.js';
import type { Provisioner } from './provisioner.js';
import { repositoryRestoreSource } from './repository-restore-source.js';
import { RestoreRecordStore, type RestoreRecord } from './restore-record.js';
import { planRestore, type RestorePlan, type RestoreTarget } from './restore-planner.js';
import { SshProvisioner } from './ssh-provisioner.js';
import type { SshProvisionerConfigInput } from './ssh-config.js';

export type ProvisionerChoice =
  | { kind: 'local'; dir: string; binDir?: string }
  | { kind: 'ssh'; config: SshProvisionerConfigInput };

export interface RestoreRunRequest {
  clusterId: string;
  target: RestoreTarget;
  provisioner: ProvisionerChoice;
  access?: AccessRules;
  /** authenticate every object before starting (reads everything once) */
  fullVerify?: boolean;
  keepFailedNodes?: boolean;
  /** register the new cluster in Tidemark, backed up into this repository */
  register?: { name: string; repositoryId: string };
}

export interface RestoreServiceOptions {
  jobs: JobManager;
  repositories: RepositoryManager;
  clusters: ClusterManager;
  secrets: SecretStore;
  dataDir: string;
  logger: Logger;
}

/**
 * Point-in-time restore of a whole cluster into new nodes: plan, validate before touching
 * any target, check the target, recover every node to the point, register the result, and
 * keep a record with the post-restore checklist.
 */
export class RestoreService {
  readonly records: RestoreRecordStore;

  constructor(private readonly options: RestoreServiceOptions) {
    this.records = new RestoreRecordStore(join(options.dataDir, 'restores'));
  }

  async plan(clusterId: string, target: RestoreTarget): Promise<RestorePlan> {
    const { catalog } = await this.open(clusterId);
    return planRestore(catalog, clusterId, target);
  }

  /** Starts a restore job; refusals found while planning come back at once, before any job. */
  async start(request: RestoreRunRequest): Promise<{ job: Job; plan: RestorePlan }> {
    const { repository, catalog } = await this.open(request.clusterId);
    const plan = await planRestore(catalog, request.clusterId, request.target);
    const job = this.options.jobs.start(
      { kind: 'restore', title: `Restore ${request.clusterId} to ${plan.point.name}`, subject: request.clusterId },
      async (ctx) => {
        const provisioner = createProvisioner(request.provisioner);
        const specs = new Map(plan.nodes.map((node) => [node.nodeId, nodeSpecFor(provisioner, request.provisioner, node.nodeId)]));
        const running = await this.records.lock(ctx.jobId);
        const record: RestoreRecord = {
          id: ctx.jobId,
          clusterId: request.clusterId,
          repositoryId: plan.repositoryId,
          point: { name: plan.point.name, createdAt: plan.point.createdAt, label: plan.point.label },
          provisioner: request.provisioner.kind,
          jobId: ctx.jobId,
          state: 'running',
          startedAt: new Date().toISOString(),
          endedAt: null,
          error: null,
          connectionString: null,
          nodes: [],
          registeredClusterId: null,
          checklist: [],
          targets: [...specs.values()].map((spec) => ({ nodeId: spec.nodeId, location: provisioner.location(spec) })),
        };
        await this.records.save(record);
        try {
          ctx.setPhase('validating');
          await validatePlan(repository, plan, { full: request.fullVerify ?? false, signal: ctx.signal, onProgress: (done, total) => ctx.progress(done, total, 'items') });
          ctx.setPhase('checking target');
          const nodes = plan.nodes.map((node): ClusterRestoreNode => ({
            source: repositoryRestoreSource(repository, plan, node, catalog.node(plan.clusterId, node.nodeId)!.record.walSegmentSize),
            spec: specs.get(node.nodeId)!,
            role: node.role,
            distNodeId: node.distNodeId,
          }));
          ctx.setPhase('restoring');
          const result = await restoreCluster({
            point: { name: plan.point.name, coordinatorLsn: plan.point.coordinatorLsn, nodeLsns: Object.fromEntries(plan.nodes.map((n) => [n.nodeId, n.targetLsn])) },
            nodes,
            provisioner,
            options: { ...(request.access ? { access: request.access } : {}), ...(request.keepFailedNodes ? { keepFailedNodes: true } : {}) },
            signal: ctx.signal,
            // Each node's progress is the base backup written while extracting, then the WAL
            // replayed against what the point needs.
            onProgress: (p) => {
              const replaying = p.phase !== 'waiting' && p.phase !== 'preparing' && p.phase !== 'extracting';
              ctx.part(p.nodeId, {
                phase: p.phase,
                state: p.phase === 'ready' ? 'done' : p.phase === 'failed' ? 'failed' : 'running',
                done: replaying ? (p.walReplayedBytes ?? 0) : p.bytesWritten,
                total: replaying ? p.walNeededBytes : p.bytesTotal,
                message: p.message ?? `WAL files delivered: ${p.walFilesDelivered} of ${p.walFilesPlanned}`,
              });
            },
          });
          record.nodes = result.nodes.map((n) => ({ nodeId: n.nodeId, role: n.role, host: n.host, port: n.port, dataDir: n.dataDir }));
          record.connectionString = result.connectionString;
          record.checklist = result.checklist.map((item) => ({ ...item, done: false }));
          if (request.register) {
            ctx.setPhase('registering');
            record.registeredClusterId = await this.register(request, result.nodes.find((n) => n.role === 'coordinator') ?? result.nodes[0]!);
          }
          record.state = 'succeeded';
          return { restoreId: record.id, connectionString: result.connectionString, point: plan.point.name, nodes: record.nodes };
        } catch (err) {
          record.state = ctx.signal.aborted ? 'cancelled' : 'failed';
          record.error = err instanceof TidemarkError ? err.message : 'The restore failed; the log has the details.';
          throw err;
        } finally {
          record.endedAt = new Date().toISOString();
          await this.records.save(record).catch((e: unknown) => this.options.logger.error({ err: e }, 'could not save the restore record'));
          await running.release();
          await provisioner.close();
        }
      },
    );
    return { job, plan };
  }

  /** Marks a checklist item done or not. */
  async setChecklistItem(restoreId: string, itemId: string, done: boolean): Promise<RestoreRecord> {
    const record = await this.records.get(restoreId);
    if (!record) throw new TidemarkError('not_found', `No restore with id ${restoreId}.`);
    const item = record.checklist.find((i) => i.id === itemId);
    if (!item) throw new TidemarkError('not_found', `Restore ${restoreId} has no checklist item "${itemId}".`);
    item.done = done;
    await this.records.save(record);
    return record;
  }

  private async open(clusterId: string) {
    const cluster = await this.options.clusters.get(clusterId);
    return this.options.repositories.open(cluster.repositoryId);
  }

  private async register(request: RestoreRunRequest, coordinator: { host: string; port: number }): Promise<string> {
    const source = await this.options.clusters.get(request.clusterId);
    // The restored cluster has the source's roles, so the source's password works.
    const password = await this.options.secrets.get(clusterSecretName(request.clusterId, 'password'));
    const added = await this.options.clusters.add({
      name: request.register!.name,
      coordinator: { ...source.coordinator, host: coordinator.host, port: coordinator.port, sslmode: 'prefer' },
      repositoryId: request.register!.repositoryId,
      ...(password === undefined ? {} : { password }),
      // checks that fail (e.g. no replication access rule yet) are shown, not fatal
      force: true,
    });
    return added.cluster.config.id;
  }
}

function createProvisioner(choice: ProvisionerChoice): Provisioner {
  return choice.kind === 'local' ? new LocalProvisioner(choice.binDir ? { binDir: choice.binDir } : {}) : new SshProvisioner(choice.config);
}

function nodeSpecFor(provisioner: Provisioner, choice: ProvisionerChoice, nodeId: string) {
  if (choice.kind === 'local') return { nodeId, baseDir: join(choice.dir, nodeId), port: 0, tablespaces: {} };
  return (provisioner as SshProvisioner).nodeSpec(nodeId);
}
