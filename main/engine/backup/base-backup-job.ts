import { randomBytes } from 'node:crypto';
import type { Catalog } from '../catalog/catalog.js';
import type { BaseBackupRecord } from '../catalog/records.js';
import { TidemarkError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { runBaseBackup } from '../replication/base-backup.js';
import type { BackupCompression } from '../replication/base-backup-command.js';
import { formatLsn } from '../replication/lsn.js';
import { ReplicationConnection } from '../replication/replication-connection.js';
import type { Repository } from '../repository/repository.js';
import { ensureCatalogNode } from './catalog-records.js';
import { atNode, describeEndpoint, replicationConfig, type NodeEndpoint } from './node-endpoint.js';
import { RepositoryBackupSink } from './repository-backup-sink.js';
import { waitUntilWalInRepository } from './repository-wal-watch.js';
import { captureServerConfig } from './server-config-capture.js';
import { backupApplicationName, walApplicationName } from './slot-name.js';
import type { WalArchiver } from './wal-archiver.js';
import { NodeWalObjects } from './wal-objects.js';

export interface NodeBackupOptions {
  /** server-side compression of the archives (default lz4) */
  compression?: BackupCompression;
  /** server-side rate limit in kB/s */
  maxRateKbPerSec?: number;
  /** how long to wait for the WAL stream to start and to store WAL past the backup's end (default 5 min each) */
  walTimeoutMs?: number;
  connectTimeoutMs?: number;
  signal?: AbortSignal;
}

/** What a running node backup reports (a job part per node). */
export interface NodeBackupProgress {
  phase: 'starting wal stream' | 'capturing configuration' | 'streaming' | 'waiting for wal' | 'recording';
  bytesDone?: number;
  bytesTotal?: number | null;
}

export interface NodeBackupContext {
  endpoint: NodeEndpoint;
  repository: Repository;
  catalog: Catalog;
  /** the node's WAL archiver; started here when it is not running */
  archiver: WalArchiver;
  logger?: Logger;
  onProgress?: (progress: NodeBackupProgress) => void;
}

/** `20250102t030405z-1a2b`: sorts by time, fits the catalog's id rule. */
export function newBackupId(now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'z').toLowerCase();
  return `${stamp}-${randomBytes(2).toString('hex')}`;
}

/**
 * One node's base backup: BASE_BACKUP streamed through encryption into every zone, then held
 * back until the node's archived WAL has passed the backup's end, and only then made visible by
 * its completion record, written LAST. A failure leaves the objects already written without a
 * record: invisible to restore, removed later by retention and reported by verify as orphans.
 */
export async function backupNode(ctx: NodeBackupContext, options: NodeBackupOptions = {}): Promise<BaseBackupRecord> {
  const { endpoint, repository, catalog, archiver } = ctx;
  const where = describeEndpoint(endpoint);
  const compression = options.compression ?? 'lz4';
  const walTimeoutMs = options.walTimeoutMs ?? 300_000;
  const signal = options.signal;
  const applicationName = backupApplicationName(endpoint.clusterId, endpoint.nodeId);
  try {
    ctx.onProgress?.({ phase: 'starting wal stream' });
    const objects = new NodeWalObjects(repository, catalog, endpoint.clusterId, endpoint.nodeId);
    archiver.start();
    archiver.retryNow();
    // the slot must hold WAL from before the backup's start: the backup needs all of it.
    // A node that cannot be reached fails its backup now; its stream keeps retrying on its own.
    let streamedElsewhere = false;
    try {
      await archiver.waitUntilStreaming({ timeoutMs: walTimeoutMs, failFast: true, ...(signal ? { signal } : {}) });
    } catch (err) {
      if (!isOwnSlotHeldElsewhere(err, endpoint)) throw err;
      // another process of this installation (the agent, `wal stream`) archives the node
      streamedElsewhere = true;
      await archiver.stop();
      ctx.logger?.info({ clusterId: endpoint.clusterId, nodeId: endpoint.nodeId }, 'WAL is streamed by another Tidemark process; the backup waits for it in the repository');
    }

    ctx.onProgress?.({ phase: 'capturing configuration' });
    const serverConfig = await captureServerConfig(endpoint, applicationName);
    const gapsBefore = catalog.node(endpoint.clusterId, endpoint.nodeId)?.gaps.length ?? 0;

    const startedAt = new Date();
    const backupId = newBackupId(startedAt);
    const label = `tidemark ${endpoint.clusterId}/${endpoint.nodeId} ${backupId}`;
    const sink = new RepositoryBackupSink({
      repository,
      clusterId: endpoint.clusterId,
      nodeId: endpoint.nodeId,
      backupId,
      ...(signal ? { signal } : {}),
      onProgress: (bytesDone, bytesTotal) => ctx.onProgress?.({ phase: 'streaming', bytesDone, bytesTotal }),
    });
    const conn = await ReplicationConnection.open(replicationConfig(endpoint, applicationName, options.connectTimeoutMs));
    let segmentSize: number;
    try {
      segmentSize = await conn.walSegmentSize();
      const identity = await conn.identifySystem();
      if (identity.systemId !== serverConfig.systemIdentifier) {
        throw new TidemarkError('conflict', `The replication and SQL connections to ${where} reached different servers (system identifiers ${identity.systemId} and ${serverConfig.systemIdentifier}); check the node's address.`);
      }
      await ensureCatalogNode(catalog, endpoint, { systemIdentifier: identity.systemId, serverVersionNum: conn.serverVersion, walSegmentSize: segmentSize });
    } catch (err) {
      await conn.close();
      throw err;
    }
    ctx.onProgress?.({ phase: 'streaming', bytesDone: 0, bytesTotal: null });
    const result = await runBaseBackup(
      conn,
      {
        label,
        compression,
        // the repository authenticates every chunk (AES-GCM): the manifest's checksums only
        // have to catch a bad extraction, and SHA-256 would slow the server's single backup thread
        manifestChecksums: 'CRC32C',
        ...(options.maxRateKbPerSec === undefined ? {} : { maxRateKbPerSec: options.maxRateKbPerSec }),
        ...(signal ? { signal } : {}),
      },
      sink,
    ).finally(() => conn.close());

    // WAL from the backup's start to its end must be archived without a hole
    ctx.onProgress?.({ phase: 'waiting for wal', bytesDone: sink.bytesDone, bytesTotal: sink.bytesTotal });
    const wait = { timeoutMs: walTimeoutMs, ...(signal ? { signal } : {}) };
    if (streamedElsewhere) await waitUntilWalInRepository(objects, segmentSize, result.endLsn, result.timeline, { ...wait, where });
    else await archiver.waitUntilStored(result.endLsn, result.timeline, wait);
    const newGaps = (catalog.node(endpoint.clusterId, endpoint.nodeId)?.gaps ?? []).slice(gapsBefore);
    if (newGaps.length > 0) {
      const gap = newGaps[0]!;
      throw new TidemarkError(
        'preflight_failed',
        `The base backup of ${where} is not usable: the WAL it needs has a gap (${gap.fromLsn} to ${gap.toLsn}) that appeared while it ran. Retry the backup.`,
      );
    }

    ctx.onProgress?.({ phase: 'recording', bytesDone: sink.bytesDone, bytesTotal: sink.bytesTotal });
    if (!sink.manifest) throw new TidemarkError('internal', `The base backup of ${where} ended without its manifest being stored.`);
    const record: BaseBackupRecord = {
      backupId,
      clusterId: endpoint.clusterId,
      nodeId: endpoint.nodeId,
      label,
      startLsn: formatLsn(result.startLsn),
      endLsn: formatLsn(result.endLsn),
      timeline: sink.start?.timeline ?? result.timeline,
      endTimeline: result.timeline,
      startedAt: startedAt.toISOString(),
      endedAt: new Date().toISOString(),
      compression,
      archives: sink.archives.map((a) => ({
        name: a.name,
        tablespaceOid: a.tablespaceOid,
        tablespacePath: a.tablespacePath,
        bytes: a.stored.bytes,
      })),
      manifestBytes: sink.manifest.bytes,
      dataBytes: sink.bytesDone,
      serverConfig,
      degradedZones: sink.degradedZones(),
    };
    // the completion record, LAST: only now does the backup exist
    await catalog.putBackup(record);
    await catalog.flush();
    ctx.logger?.info(
      { clusterId: endpoint.clusterId, nodeId: endpoint.nodeId, backupId, startLsn: record.startLsn, endLsn: record.endLsn, degradedZones: record.degradedZones },
      'base backup completed',
    );
    return record;
  } catch (err) {
    if (signal?.aborted) throw new TidemarkError('cancelled', `The base backup of ${where} was cancelled; nothing was marked complete.`, { retryable: true });
    const error = atNode(endpoint, err);
    ctx.logger?.warn({ clusterId: endpoint.clusterId, nodeId: endpoint.nodeId, code: error.code, message: error.message }, 'base backup failed');
    throw error;
  }
}

/** The node's slot is held by a Tidemark WAL stream for this very cluster and node (same application name). */
function isOwnSlotHeldElsewhere(err: unknown, endpoint: NodeEndpoint): boolean {
  return (
    err instanceof TidemarkError &&
    err.code === 'conflict' &&
    err.details?.applicationName === walApplicationName(endpoint.clusterId, endpoint.nodeId)
  );
}
