import { EventEmitter } from 'node:events';
import type { ClusterConfig } from '../cluster/cluster-config.js';
import type { Engine } from '../engine.js';
import { errorCodes, TidemarkError, toErrorInfo, type ErrorCode, type ErrorInfo } from '../errors.js';
import type { JobContext } from '../jobs/job-manager.js';
import { terminalJobStates, type Job } from '../jobs/job-types.js';
import type { Logger } from '../log/logger.js';
import type { RepositoryConfig } from '../repository/repository-config.js';
import type { TaskKind } from './schedule-config.js';

/** One scheduled run, as a task gets it. */
export interface ScheduledTask {
  cluster: ClusterConfig;
  repository: RepositoryConfig;
  kind: TaskKind;
  scheduledFor: Date;
  catchUp: boolean;
}

/** Does the work of one scheduled run inside its job (the scheduler made the job); throws when it failed. */
export type ScheduledTaskHandler = (task: ScheduledTask, job: JobContext) => Promise<unknown>;

/** The engine services the tasks drive. */
export type TaskEngine = Pick<Engine, 'backups' | 'clusters' | 'repositories' | 'jobs' | 'logger'>;

/** The label of the restore point taken right after each scheduled cluster base backup. */
export const afterBackupLabel = 'after base backup';

/**
 * What each scheduled task kind does, in engine calls. The agent and the desktop app both run
 * these; the caller wraps each run in its job and holds the cluster's run lock. With
 * `walStreams`, each restore point run first makes sure the cluster's streams run (a stream
 * that could not start earlier is tried again there).
 */
export function scheduledTaskHandlers(engine: TaskEngine, walStreams?: WalStreams): Record<TaskKind, ScheduledTaskHandler> {
  const logger = engine.logger.child({ component: 'tasks' });
  return {
    baseBackup: async (task, job) => {
      await recordClusterIfNew(engine, task.cluster);
      return runBaseBackup(engine, logger, task, job);
    },
    restorePoint: async (task, job) => {
      await recordClusterIfNew(engine, task.cluster);
      if (walStreams) {
        job.setPhase('checking the WAL streams');
        await walStreams.ensure(task.cluster);
      }
      return runRestorePoint(engine, task, job);
    },
    retention: (task, job) => runRetention(engine, logger, task, job),
    verify: (task, job) => runVerify(engine, task, job),
  };
}

/**
 * Writes the cluster's record to its repository's catalog when the catalog does not know it
 * yet: a cluster declared in the agent's config was never added through `clusters.add`, and
 * its restore points and node records need the cluster record first.
 */
export async function recordClusterIfNew(engine: Pick<Engine, 'repositories'>, cluster: ClusterConfig): Promise<boolean> {
  const { catalog } = await engine.repositories.open(cluster.repositoryId);
  if (catalog.cluster(cluster.id)) return false;
  await catalog.putCluster({
    clusterId: cluster.id,
    name: cluster.name,
    createdAt: new Date().toISOString(),
    coordinator: { host: cluster.coordinator.host, port: cluster.coordinator.port, database: cluster.coordinator.database },
    citusVersion: null,
  });
  await catalog.flush();
  return true;
}

/**
 * A cluster base backup (every node; WAL streams are started by it when not running), then a
 * restore point right after it, so the new backup is usable at once. The backup is what the
 * run stands for: a restore point that fails afterwards is recorded as a failed attempt in the
 * catalog and announced, but does not make the completed backup look failed.
 */
async function runBaseBackup(engine: TaskEngine, logger: Logger, task: ScheduledTask, job: JobContext) {
  const { cluster } = task;
  job.setPhase('starting the base backup');
  const backup = startOrJoinBackup(engine, logger, cluster.id);
  const ended = await followJob(engine, backup, job, 'base backup');
  if (ended.state !== 'succeeded') throw endedJobError(ended, job.signal, `The base backup of cluster "${cluster.name}"`);

  job.setPhase('creating the restore point after the backup');
  let restorePoint: { name: string; status: string } | { error: string };
  try {
    const point = await engine.clusters.restorePoints.create(cluster.id, { label: afterBackupLabel, signal: job.signal });
    restorePoint = { name: point.name, status: point.status };
  } catch (err) {
    if (job.signal.aborted) throw err;
    const info = toErrorInfo(err);
    logger.warn({ clusterId: cluster.id, code: info.code }, `the base backup of ${cluster.id} completed, but the restore point after it failed: ${info.message}`);
    restorePoint = { error: info.message };
  }
  // The backup job keeps the per-node details; the run names it.
  return { backupJobId: backup.id, restorePoint };
}

/** A consistent restore point across the cluster (recorded in the catalog, failed attempts too). */
async function runRestorePoint(engine: TaskEngine, task: ScheduledTask, job: JobContext) {
  job.setPhase('creating the restore point');
  // `create` marks the points whose WAL every node has archived as restorable right after.
  const point = await engine.clusters.restorePoints.create(task.cluster.id, { signal: job.signal });
  return { name: point.name, status: point.status, coordinatorLsn: point.coordinatorLsn };
}

/**
 * Applies the retention window to the cluster's repository. A locked repository deletes
 * nothing by design: the run is skipped with a warning rather than failed.
 */
async function runRetention(engine: TaskEngine, logger: Logger, task: ScheduledTask, job: JobContext) {
  const { repository } = task;
  job.setPhase('applying the retention window');
  try {
    const result = await engine.repositories.prune(repository.id, {
      signal: job.signal,
      onProgress: (done, total) => job.progress(done, total, 'items'),
    });
    return { deleted: result.deleted, bytes: result.bytes, incomplete: result.incomplete.length, unreachableZones: result.unreachableZones };
  } catch (err) {
    if (!(err instanceof TidemarkError) || err.code !== 'locked') throw err;
    logger.warn({ clusterId: task.cluster.id, repositoryId: repository.id }, `retention skipped: ${err.message}`);
    return { skipped: 'locked', message: err.message };
  }
}

/** Reads the repository back (a sample when the schedule says so); problems fail the run. */
async function runVerify(engine: TaskEngine, task: ScheduledTask, job: JobContext) {
  const { repository, cluster } = task;
  const sample = cluster.schedules.verify.sample;
  job.setPhase('verifying the repository');
  const report = await engine.repositories.verify(repository.id, {
    ...(sample === undefined ? {} : { sample }),
    signal: job.signal,
    onProgress: (p) => {
      job.setPhase(`verifying: ${p.phase}`);
      job.progress(p.objectsChecked, p.objectsTotal, 'items');
    },
  });
  const summary = { repositoryId: report.repositoryId, sample: report.sample, problems: report.problems, lost: report.lost.length, ok: report.ok };
  if (!report.ok) {
    throw new TidemarkError(
      'corrupt_object',
      `Verifying repository "${repository.name}" found ${report.problems} problem${report.problems === 1 ? '' : 's'}${report.lost.length > 0 ? ` (${report.lost.length} object${report.lost.length === 1 ? '' : 's'} in no zone at all)` : ''}. Run "tidemark repo verify ${repository.id}" for the full report, then "tidemark repo repair ${repository.id}".`,
      { details: summary },
    );
  }
  return summary;
}

/** Starts the cluster's backup, or joins the one already running (started by hand or in the UI). */
function startOrJoinBackup(engine: TaskEngine, logger: Logger, clusterId: string): { id: string; ours: boolean } {
  try {
    return { id: engine.backups.backupCluster(clusterId).id, ours: true };
  } catch (err) {
    if (!(err instanceof TidemarkError) || err.code !== 'conflict') throw err;
    const running = engine.jobs.list().find((j) => j.kind === 'backup' && j.subject === clusterId && !terminalJobStates.includes(j.state));
    if (!running) throw err;
    logger.info({ clusterId, jobId: running.id }, `a backup of ${clusterId} is already running; the scheduled base backup follows it`);
    return { id: running.id, ours: false };
  }
}

/**
 * Waits for another job, showing its phase and parts in the scheduled run's job. Cancelling
 * the run cancels the job when the run started it; one started by someone else runs on.
 */
async function followJob(engine: TaskEngine, followed: { id: string; ours: boolean }, job: JobContext, label: string): Promise<Job> {
  const jobId = followed.id;
  const mirror = (snapshot: Job) => {
    if (snapshot.id !== jobId) return;
    job.setPhase(`${label}: ${snapshot.phase}`);
    for (const [name, part] of Object.entries(snapshot.parts)) {
      job.part(name, {
        phase: part.phase,
        state: part.state,
        ...(part.message === undefined ? {} : { message: part.message }),
        ...(part.progress ? { done: part.progress.done, total: part.progress.total, unit: part.progress.unit } : {}),
      });
    }
  };
  let onAbort = (): void => undefined;
  const stopWaiting = new Promise<never>((_, reject) => {
    onAbort = () => {
      if (followed.ours) engine.jobs.cancel(jobId);
      else reject(job.signal.reason instanceof Error ? job.signal.reason : new TidemarkError('cancelled', 'Cancelled.', { retryable: true }));
    };
  });
  engine.jobs.on('changed', mirror);
  job.signal.addEventListener('abort', onAbort, { once: true });
  try {
    if (job.signal.aborted) onAbort();
    return await Promise.race([engine.jobs.wait(jobId), stopWaiting]);
  } finally {
    engine.jobs.off('changed', mirror);
    job.signal.removeEventListener('abort', onAbort);
  }
}

/**
 * The error a job that did not succeed stands for, as the caller's own: a cancellation the
 * caller asked for keeps the caller's reason; any other error keeps its code and message.
 */
export function endedJobError(ended: Job, signal: AbortSignal, what: string): TidemarkError {
  if (ended.state === 'cancelled') {
    return signal.aborted && signal.reason instanceof TidemarkError ? signal.reason : new TidemarkError('cancelled', ended.error?.message ?? `${what} was cancelled.`, { retryable: true });
  }
  const code = ended.error?.code ?? '';
  return new TidemarkError((errorCodes as readonly string[]).includes(code) ? (code as ErrorCode) : 'internal', ended.error?.message ?? `${what} ended as ${ended.state}.`, {
    retryable: ended.error?.retryable ?? false,
  });
}

export interface WalStreamsEvents {
  /** a cluster's streams could not be started (its coordinator could not be reached, …) */
  startFailed: [{ clusterId: string; error: ErrorInfo }];
}

/**
 * The continuous part of the schedules: every node's WAL stream, for each cluster whose
 * schedules have streaming on. Started at start (and for clusters added later), made sure
 * of before each restore point, stopped gracefully at shutdown (the received WAL is stored
 * as a partial segment). Nodes added to a streamed cluster and removed clusters the backup
 * service follows itself.
 */
export class WalStreams extends EventEmitter<WalStreamsEvents> {
  private readonly logger: Logger;
  private readonly streamed = new Set<string>();
  private stopped = false;

  constructor(private readonly engine: Pick<Engine, 'backups' | 'clusters' | 'repositories' | 'logger'>) {
    super();
    this.logger = engine.logger.child({ component: 'wal' });
  }

  /** Starts (or keeps) the streams of a cluster when its schedules want them; never throws. */
  async ensure(cluster: ClusterConfig): Promise<void> {
    if (this.stopped || !cluster.schedules.walStreaming.enabled) return;
    try {
      await recordClusterIfNew(this.engine, cluster);
      const status = await this.engine.backups.startWalStreams(cluster.id);
      if (!this.streamed.has(cluster.id)) {
        this.logger.info({ clusterId: cluster.id, nodes: status.map((s) => s.nodeId) }, `WAL streams of ${cluster.id} started`);
      }
      this.streamed.add(cluster.id);
    } catch (err) {
      const error = toErrorInfo(err);
      this.logger.error({ clusterId: cluster.id, code: error.code }, `WAL streams of ${cluster.id} not started: ${error.message} (tried again before the next restore point)`);
      this.emit('startFailed', { clusterId: cluster.id, error });
    }
  }

  /** Streams clusters as they are added (the desktop app). */
  follow(lookup: (clusterId: string) => Promise<ClusterConfig>): () => void {
    const onAdded = ({ clusterId }: { clusterId: string }) => {
      lookup(clusterId).then(
        (cluster) => this.ensure(cluster),
        (err: unknown) => this.logger.warn({ clusterId, code: toErrorInfo(err).code }, 'added cluster not found for WAL streaming'),
      );
    };
    const onRemoved = ({ clusterId }: { clusterId: string }) => void this.streamed.delete(clusterId);
    this.engine.clusters.on('clusterAdded', onAdded);
    this.engine.clusters.on('clusterRemoved', onRemoved);
    return () => {
      this.engine.clusters.off('clusterAdded', onAdded);
      this.engine.clusters.off('clusterRemoved', onRemoved);
    };
  }

  /**
   * Stops every stream gracefully (what was received is stored and reported flushed to the
   * server), then marks the restore points that WAL now covers as restorable, so the catalog
   * is current before the process ends.
   */
  async stopAll(signal?: AbortSignal): Promise<void> {
    this.stopped = true;
    await Promise.all(
      [...this.streamed].map(async (clusterId) => {
        const status = await this.engine.backups.stopWalStreams(clusterId);
        this.logger.info(
          { clusterId, nodes: status.map((s) => ({ nodeId: s.nodeId, storedLsn: s.storedLsn, state: s.state })) },
          `WAL streams of ${clusterId} stopped and flushed`,
        );
        if (signal?.aborted) return;
        await this.engine.clusters.restorePoints.updateRestorability(clusterId).catch((err: unknown) => {
          this.logger.warn({ clusterId, code: toErrorInfo(err).code }, 'restorability not updated after the WAL flush');
        });
      }),
    );
  }
}
