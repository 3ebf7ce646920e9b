import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import { TidemarkError, isAbortError, throwIfAborted } from '../errors.js';
import { parseLsn } from '../replication/lsn.js';
import { identFile, isolatedHba } from './access-config.js';
import { connectNode, isNotReady } from './node-connection.js';
import type { ProvisionedNode } from './provisioner.js';
import { recoverySettings, renderAutoConf, renderStubPostgresqlConf } from './recovery-config.js';
import { readRecoveryLog, type RecoveryFailure } from './recovery-log.js';
import { NodeProgressReporter, type ProgressListener } from './restore-progress.js';
import type { NodeRestoreSource, RestoreArchive } from './restore-source.js';
import { relocateTablespaces } from './tablespace-map.js';
import { prefetchWal, writeSpoolPlan } from './wal-spool.js';

export interface NodeRecoveryInput {
  node: ProvisionedNode;
  source: NodeRestoreSource;
  /** new location of each of the source's tablespaces (oid → absolute path on the target) */
  tablespaces: Readonly<Record<number, string>>;
  pointName: string;
  /** the node's recorded LSN at or after the point (progress); null when unknown */
  targetLsn: string | null;
  /** OS users allowed on the node's socket (pg_ident) */
  socketOsUsers: readonly string[];
  clusterNamePrefix?: string;
  prefetch?: { concurrency?: number; window?: number };
  signal?: AbortSignal;
  onProgress?: ProgressListener;
  /** reuse the caller's reporter (the cluster keeps reporting the same node afterwards) */
  progress?: NodeProgressReporter;
  pollIntervalMs?: number;
}

export interface PausedNode {
  nodeId: string;
  /** `pg_last_wal_replay_lsn()` where the node paused */
  replayLsn: string;
}

/** Files that must not survive into a restored data directory (a stale pid file, a standby's signal). */
const staleFiles = ['postmaster.pid', 'postmaster.opts', 'standby.signal', 'recovery.signal'];
/** The source's configuration files are kept beside the generated ones, for reference. */
const sourceConfigFiles = ['postgresql.conf', 'pg_hba.conf', 'pg_ident.conf'];

/**
 * Restores one node up to the restore point and leaves it PAUSED there, isolated: extracts the
 * base backup, writes the isolated configuration, starts WAL prefetch and the server, and waits
 * until the server logs that it stopped at the point and reports a paused replay. Anything else
 * fails loudly and stops the server; removing the node is the caller's decision.
 */
export async function recoverNodeToPoint(input: NodeRecoveryInput): Promise<PausedNode> {
  const { node, source, signal } = input;
  const progress =
    input.progress ??
    new NodeProgressReporter(node.nodeId, { bytesTotal: source.dataBytes, walFilesPlanned: source.walFiles.length, walNeededBytes: walBytesBetween(source.backupStartLsn, input.targetLsn) }, input.onProgress);
  throwIfAborted(signal);

  const prefetchAbort = new AbortController();
  const forwardAbort = (): void => prefetchAbort.abort();
  signal?.addEventListener('abort', forwardAbort, { once: true });
  let prefetchFailure: unknown = null;
  let prefetching: Promise<void> = Promise.resolve();
  try {
    progress.phase('preparing');
    await writeSpoolPlan(node, source.walFiles);
    progress.phase('extracting');
    await extractBaseBackup(input, progress);
    await prepareDataDirectory(input);
    // Prefetch starts once the files are written: run alongside extraction it competed for the
    // disk and libuv's threads and made extraction 2-3 times slower (measured), while replay
    // cannot use WAL before the server starts anyway.
    prefetching = prefetchWal(node, source, source.walFiles, {
      ...input.prefetch,
      signal: prefetchAbort.signal,
      onDelivered: (_name, count) => progress.update({ walFilesDelivered: count }),
    }).catch((err: unknown) => {
      if (prefetchAbort.signal.aborted) return;
      prefetchFailure = err instanceof TidemarkError ? new TidemarkError(err.code, `Node ${node.nodeId}: ${err.message}`, { retryable: err.retryable, details: { ...err.details, nodeId: node.nodeId }, cause: err }) : err;
    });

    throwIfAborted(signal);

    progress.phase('starting');
    await node.start().catch(async (err: unknown) => {
      // A server that dies at once (a parameter check, a target before consistency) says why in its log.
      const reading = readRecoveryLog(await node.logTail(2000), input.pointName);
      throw reading.failure ? recoveryError(input, reading.failure, reading.redoDoneAt) : err;
    });
    progress.phase('replaying');
    const paused = await waitForPause(input, progress, () => prefetchFailure);
    progress.phase('paused');
    return paused;
  } catch (err) {
    await node.stop('immediate').catch(() => undefined);
    if (signal?.aborted || isAbortError(err)) throw new TidemarkError('cancelled', 'Cancelled.', { retryable: true });
    throw err;
  } finally {
    signal?.removeEventListener('abort', forwardAbort);
    // Replay has what it needs (or failed): files past the point are not needed.
    prefetchAbort.abort();
    await prefetching;
  }
}

/** Tablespace archives first (PostgreSQL sends them first too), then the data directory. */
async function extractBaseBackup(input: NodeRecoveryInput, progress: NodeProgressReporter): Promise<void> {
  const archives = [...input.source.archives].sort((a, b) => Number(a.tablespaceOid === null) - Number(b.tablespaceOid === null));
  if (!archives.some((a) => a.tablespaceOid === null)) {
    throw new TidemarkError('corrupt_object', `The base backup of node ${input.node.nodeId} has no archive of the data directory (base.tar); it cannot be restored.`);
  }
  for (const archive of archives) {
    throwIfAborted(input.signal);
    await extractArchive(input, archive, progress);
  }
}

async function extractArchive(input: NodeRecoveryInput, archive: RestoreArchive, progress: NodeProgressReporter): Promise<void> {
  const { node, source, signal } = input;
  const stream = await source.openArchive(archive.name, signal);
  const cancel = (): void => {
    stream.destroy(new TidemarkError('cancelled', 'Cancelled.', { retryable: true }));
  };
  signal?.addEventListener('abort', cancel, { once: true });
  let reported = 0;
  const into = archive.tablespaceOid === null ? ({ kind: 'data' } as const) : ({ kind: 'tablespace', oid: archive.tablespaceOid } as const);
  try {
    await node.extractArchive(into, { stream, compression: archive.compression }, (total) => {
      progress.addBytes(total - reported);
      reported = total;
    });
  } catch (err) {
    if (signal?.aborted) throw new TidemarkError('cancelled', 'Cancelled.', { retryable: true });
    if (err instanceof TidemarkError) throw err;
    throw new TidemarkError('internal', `Extracting ${archive.name} onto node ${node.nodeId} failed: ${(err as Error).message}`, { cause: err });
  } finally {
    signal?.removeEventListener('abort', cancel);
    stream.destroy();
  }
}

/** Makes the extracted data directory start as an isolated recovering node. */
async function prepareDataDirectory(input: NodeRecoveryInput): Promise<void> {
  const { node, source } = input;
  const config = source.serverConfig;
  if ((await node.readDataFile('backup_label')) === null) {
    throw new TidemarkError('corrupt_object', `The base backup of node ${node.nodeId} has no backup_label; without it recovery would start from the wrong place. The backup is damaged: restore from another backup.`);
  }
  for (const name of staleFiles) await node.removeDataFile(name);

  const map = await node.readDataFile('tablespace_map');
  const tablespaceArchives = source.archives.filter((a) => a.tablespaceOid !== null);
  if (map !== null) {
    await node.writeDataFile('tablespace_map', relocateTablespaces(map.toString('utf8'), input.tablespaces, node.nodeId));
  } else if (tablespaceArchives.length > 0) {
    throw new TidemarkError('corrupt_object', `The base backup of node ${node.nodeId} has tablespace archives but no tablespace_map; it was not taken with TABLESPACE_MAP and cannot be relocated.`);
  }

  for (const name of sourceConfigFiles) {
    const content = await node.readDataFile(name);
    if (content !== null) await node.writeDataFile(`${name}.source`, content);
  }
  await node.writeDataFile('postgresql.conf', renderStubPostgresqlConf(true));
  const settings = recoverySettings({
    config,
    port: node.port,
    socketDir: node.socketDir,
    restoreCommand: node.restoreCommand(),
    pointName: input.pointName,
    ...(input.clusterNamePrefix === undefined ? {} : { clusterNamePrefix: input.clusterNamePrefix }),
  });
  await node.writeDataFile('postgresql.auto.conf', renderAutoConf(settings, `Node ${node.nodeId}, restored to "${input.pointName}": isolated recovery settings.`));
  await node.writeDataFile('pg_hba.conf', isolatedHba(config.bootstrapSuperuser));
  await node.writeDataFile('pg_ident.conf', identFile(input.socketOsUsers, config.bootstrapSuperuser));
  await node.writeDataFile('recovery.signal', '');
}

/** Unexpected query failures tolerated in a row (a server busy starting up) before giving up. */
const maxFailedPolls = 100;

interface ReplayState {
  inRecovery: boolean;
  pauseState: string;
  replayLsn: string | null;
}

/** Polls the server's log, its process and its replay state until it paused at the point or failed. */
async function waitForPause(input: NodeRecoveryInput, progress: NodeProgressReporter, prefetchFailure: () => unknown): Promise<PausedNode> {
  const { node, source, signal } = input;
  const superuser = source.serverConfig.bootstrapSuperuser;
  const interval = input.pollIntervalMs ?? 100;
  const startLsn = parseLsn(source.backupStartLsn);
  let client: pg.Client | null = null;
  let failedPolls = 0;
  try {
    for (;;) {
      throwIfAborted(signal);
      const prefetchError = prefetchFailure();
      if (prefetchError) throw prefetchError;

      const reading = readRecoveryLog(await node.logTail(2000), input.pointName);
      if (reading.failure) throw recoveryError(input, reading.failure, progress.current.replayLsn ?? reading.redoDoneAt);
      if (!(await node.isRunning())) {
        const again = readRecoveryLog(await node.logTail(2000), input.pointName);
        if (again.failure) throw recoveryError(input, again.failure, progress.current.replayLsn ?? again.redoDoneAt);
        throw new TidemarkError('internal', `The server of node ${node.nodeId} stopped during recovery without saying why. Its log ends with:\n${await node.logTail(20)}`);
      }

      let state: ReplayState | null = null;
      try {
        client ??= await connectNode(node, superuser, 'postgres').catch(async (err: unknown) => {
          // the source may have dropped the `postgres` database
          if ((err as { code?: string }).code === '3D000') return connectNode(node, superuser, 'template1');
          throw err;
        });
        state = await replayState(client);
        failedPolls = 0;
      } catch (err) {
        await client?.end().catch(() => undefined);
        client = null;
        if (/^28/.test((err as { code?: string }).code ?? '')) {
          throw new TidemarkError('authentication_failed', `Tidemark could not log in to the restored server of node ${node.nodeId} over its socket as "${superuser}": ${(err as Error).message}.`);
        }
        if (!isNotReady(err) && ++failedPolls > maxFailedPolls) {
          throw new TidemarkError('connection_failed', `Tidemark cannot query the recovering server of node ${node.nodeId}: ${(err as Error).message}. Its log ends with:\n${await node.logTail(20)}`, { cause: err });
        }
      }
      if (state) {
        if (state.replayLsn) {
          progress.update({ replayLsn: state.replayLsn, walReplayedBytes: Number(parseLsn(state.replayLsn) - startLsn) });
        }
        if (!state.inRecovery) {
          throw new TidemarkError('internal', `The server of node ${node.nodeId} left recovery on its own instead of pausing at "${input.pointName}"; the restore was stopped. Its log ends with:\n${await node.logTail(20)}`);
        }
        if (reading.reachedPoint && state.pauseState === 'paused' && state.replayLsn) {
          return { nodeId: node.nodeId, replayLsn: state.replayLsn };
        }
      }
      await sleep(interval, undefined, signal ? { signal } : {}).catch(() => undefined);
    }
  } finally {
    await client?.end().catch(() => undefined);
  }
}

async function replayState(client: pg.Client): Promise<ReplayState> {
  const { rows } = await client.query<{ r: boolean; s: string | null; l: string | null }>(
    `SELECT pg_is_in_recovery() AS r,
            CASE WHEN pg_is_in_recovery() THEN pg_get_wal_replay_pause_state() END AS s,
            pg_last_wal_replay_lsn()::text AS l`,
  );
  const row = rows[0];
  return { inRecovery: row?.r ?? false, pauseState: row?.s ?? 'not paused', replayLsn: row?.l ?? null };
}

function recoveryError(input: NodeRecoveryInput, failure: RecoveryFailure, replayLsn: string | null): TidemarkError {
  const { node } = input;
  const where = `node ${node.nodeId}`;
  const last = replayLsn ? ` Last replayed LSN: ${replayLsn}.` : '';
  const details = { nodeId: node.nodeId, point: input.pointName, lastReplayedLsn: replayLsn, log: failure.message };
  switch (failure.kind) {
    case 'target_unreachable':
      return new TidemarkError('target_unreachable', `Restore point "${input.pointName}" was not reached on ${where}: the available WAL ends before it (${failure.message}).${last} Nothing was restored; choose an earlier restore point, or check the node's WAL archive for a gap.`, { details });
    case 'wal_wait_timeout':
      return new TidemarkError('target_unreachable', `Replay on ${where} stopped: a WAL file the plan needs did not arrive in time (${failure.message}).${last} Check that the repository's zones are reachable and retry, or raise the WAL wait time.`, { retryable: true, details });
    case 'insufficient_parameters':
      return new TidemarkError('preflight_failed', `Recovery on ${where} stopped because a server parameter is lower than on the source: ${failure.message} Raise it in the restore options and retry.`, { details });
    case 'fatal':
      return new TidemarkError('internal', `Recovery on ${where} failed: ${failure.message}${last}`, { details });
  }
}

/** Bytes of WAL between two LSNs, or null when the end is unknown. */
export function walBytesBetween(fromLsn: string, toLsn: string | null): number | null {
  if (toLsn === null) return null;
  const bytes = parseLsn(toLsn) - parseLsn(fromLsn);
  return bytes < 0n ? 0 : Number(bytes);
}
