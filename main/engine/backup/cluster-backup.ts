import type { Catalog } from '../catalog/catalog.js';
import type { BaseBackupRecord } from '../catalog/records.js';
import { TidemarkError, toErrorInfo } from '../errors.js';
import type { JobContext } from '../jobs/job-manager.js';
import type { Logger } from '../log/logger.js';
import type { Repository } from '../repository/repository.js';
import { backupNode, type NodeBackupOptions } from './base-backup-job.js';
import { describeEndpoint, hostPort, type NodeEndpoint } from './node-endpoint.js';
import type { WalArchiver } from './wal-archiver.js';

/** The nodes of one cluster and the repository their backups go to. */
export interface ClusterTarget {
  clusterId: string;
  repository: Repository;
  catalog: Catalog;
  nodes: NodeEndpoint[];
}

export interface ClusterBackupOptions extends NodeBackupOptions {
  /** nodes backed up at once (default 2) */
  concurrency?: number;
}

export interface ClusterBackupResult {
  clusterId: string;
  /** the completion record of every node's backup */
  backups: BaseBackupRecord[];
}

export interface ClusterBackupDeps {
  /** the node's WAL archiver (the backup starts it when it is not running) */
  archiverFor(endpoint: NodeEndpoint): WalArchiver;
  logger?: Logger;
  /** after each node's backup is complete */
  onNodeCompleted?(record: BaseBackupRecord): void;
}

/** The job part of a node: `n2 worker 10.0.0.2:5432`. */
export function nodePartName(endpoint: NodeEndpoint): string {
  return `${endpoint.nodeId} ${endpoint.role} ${hostPort(endpoint.address)}`;
}

/**
 * Backs up every node of a cluster in one job, `concurrency` nodes at a time, each with its own
 * job part (phase and bytes). A node that fails does not stop the others: their backups
 * complete and stay complete, and the job then fails naming every node that did not.
 */
export async function backupClusterNodes(
  job: JobContext,
  target: ClusterTarget,
  deps: ClusterBackupDeps,
  options: ClusterBackupOptions = {},
): Promise<ClusterBackupResult> {
  if (target.nodes.length === 0) {
    throw new TidemarkError('invalid_input', `Cluster "${target.clusterId}" has no active node to back up.`);
  }
  const concurrency = Math.max(1, Math.min(options.concurrency ?? 2, target.nodes.length));
  const progress = new Map<string, { done: number; total: number | null }>();
  const reportTotal = (): void => {
    let done = 0;
    let total: number | null = 0;
    for (const p of progress.values()) {
      done += p.done;
      total = total === null || p.total === null ? null : total + p.total;
    }
    job.progress(done, progress.size === target.nodes.length ? total : null, 'bytes');
  };
  for (const endpoint of target.nodes) job.part(nodePartName(endpoint), { phase: 'queued', state: 'pending' });
  job.setPhase(`backing up ${target.nodes.length} node${target.nodes.length === 1 ? '' : 's'}`);

  const backups: BaseBackupRecord[] = [];
  const failures: { endpoint: NodeEndpoint; error: TidemarkError }[] = [];
  const queue = [...target.nodes];
  const worker = async (): Promise<void> => {
    for (let endpoint = queue.shift(); endpoint; endpoint = queue.shift()) {
      const part = nodePartName(endpoint);
      if (job.signal.aborted) {
        job.part(part, { phase: 'cancelled', state: 'failed' });
        continue;
      }
      job.part(part, { phase: 'starting', state: 'running' });
      try {
        const record = await backupNode(
          {
            endpoint,
            repository: target.repository,
            catalog: target.catalog,
            archiver: deps.archiverFor(endpoint),
            ...(deps.logger ? { logger: deps.logger } : {}),
            onProgress: (p) => {
              if (p.bytesDone !== undefined) {
                progress.set(endpoint.nodeId, { done: p.bytesDone, total: p.bytesTotal ?? null });
                job.part(part, { phase: p.phase, done: p.bytesDone, total: p.bytesTotal ?? null, unit: 'bytes' });
                reportTotal();
              } else {
                job.part(part, { phase: p.phase });
              }
            },
          },
          { ...options, signal: job.signal },
        );
        backups.push(record);
        job.part(part, { phase: 'complete', state: 'done', message: `backup ${record.backupId}${record.degradedZones.length > 0 ? ` (missed zone${record.degradedZones.length === 1 ? '' : 's'} ${record.degradedZones.join(', ')})` : ''}` });
        deps.onNodeCompleted?.(record);
      } catch (err) {
        const error = err instanceof TidemarkError ? err : new TidemarkError('internal', toErrorInfo(err).message, { cause: err });
        failures.push({ endpoint, error });
        job.part(part, { phase: 'failed', state: 'failed', message: error.message });
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));

  if (job.signal.aborted) throw new TidemarkError('cancelled', `The backup of cluster "${target.clusterId}" was cancelled; ${backups.length} node backup(s) completed before that stay complete.`, { retryable: true });
  if (failures.length > 0) {
    const first = failures[0]!;
    const done = backups.length > 0 ? ` The backups of ${backups.map((b) => b.nodeId).join(', ')} completed and stay complete.` : '';
    const message =
      failures.length === 1
        ? `${first.error.message}${done}`
        : `${failures.length} nodes of cluster "${target.clusterId}" were not backed up: ${failures.map((f) => `${describeEndpoint(f.endpoint)}: ${f.error.message}`).join(' | ')}${done}`;
    throw new TidemarkError(first.error.code, message, {
      retryable: failures.every((f) => f.error.retryable),
      details: { failedNodes: failures.map((f) => f.endpoint.nodeId), completed: backups.map((b) => ({ nodeId: b.nodeId, backupId: b.backupId })) },
    });
  }
  job.setPhase('complete');
  return { clusterId: target.clusterId, backups };
}
