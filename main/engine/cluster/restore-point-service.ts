import type pg from 'pg';
import type { RestorePointQuery } from '../catalog/catalog.js';
import type { RestorePointRecord } from '../catalog/records.js';
import { TidemarkError, toErrorInfo } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { SecretStore } from '../secrets/secret-store.js';
import type { ClusterManager } from './cluster-manager.js';
import { tidemarkNodeId } from './cluster-connections.js';
import { updateRestorability, type RestorabilityUpdate } from './restorability.js';
import {
  createRestorePoint,
  newRestorePointName,
  type RestorePointNode,
} from './restore-points.js';

export interface RestorePointServiceOptions {
  secrets: SecretStore;
  logger: Logger;
  now?: () => Date;
}

export interface CreateRestorePointRequest {
  /** what the user sees on the timeline, e.g. "before migration 42" */
  label?: string;
  /** how long citus_create_restore_point may wait for Citus's metadata locks (default 1 s) */
  lockTimeoutMs?: number;
  /** extra attempts after a lock timeout (default 3) */
  retries?: number;
  signal?: AbortSignal;
}

export const maxLabelLength = 200;

/**
 * Consistent restore points of a cluster: created with `citus_create_restore_point` on the
 * coordinator, with every node's WAL position and timeline recorded right after, and kept in
 * the repository's catalog. A failed attempt is recorded too (status `failed`, with the
 * error), so the timeline shows it.
 */
export class RestorePointService {
  constructor(
    private readonly clusters: ClusterManager,
    private readonly options: RestorePointServiceOptions,
  ) {}

  async create(
    clusterId: string,
    request: CreateRestorePointRequest = {},
  ): Promise<RestorePointRecord> {
    const label = request.label?.trim() || null;
    if (label !== null && label.length > maxLabelLength) {
      throw new TidemarkError(
        'invalid_input',
        `The label is too long: at most ${maxLabelLength} characters.`,
      );
    }
    const config = await this.clusters.get(clusterId);
    const catalog = await this.clusters.catalogOf(config);
    const startedAt = this.clusters.now();
    const name = newRestorePointName(startedAt);
    let record: RestorePointRecord;
    try {
      const connections = await this.clusters.connect(config, this.options.secrets);
      try {
        const unreachable = connections.unreachable();
        if (unreachable) {
          throw new TidemarkError(
            unreachable.code,
            `Restore point "${name}" was not created: ${unreachable.message} No consistent restore point can be made while a node is out of reach.`,
            {
              retryable: true,
              cause: unreachable,
              ...(unreachable.details ? { details: unreachable.details } : {}),
            },
          );
        }
        // Every run notices topology changes, so a new node is in the catalog before its first point.
        await this.clusters.reconcile(connections, catalog);
        const nodes: RestorePointNode[] = connections.nodes.map((n) => ({
          nodeId: n.node.nodeId,
          name: n.node.name,
          port: n.node.port,
          label: n.label,
          client: n.client as pg.Client,
        }));
        const point = await createRestorePoint({
          coordinator: connections.coordinator,
          nodes,
          name,
          ...(label === null ? {} : { label }),
          ...(request.lockTimeoutMs === undefined ? {} : { lockTimeoutMs: request.lockTimeoutMs }),
          ...(request.retries === undefined ? {} : { retries: request.retries }),
          ...(request.signal ? { signal: request.signal } : {}),
        });
        const timelines = await Promise.all(
          connections.nodes.map(
            async (n) =>
              [n.id, await currentTimeline(n.client as pg.Client, n.label, name)] as const,
          ),
        );
        record = {
          clusterId,
          name,
          label,
          createdAt: point.createdAt,
          status: 'created',
          coordinatorLsn: point.coordinatorLsn,
          nodeLsns: Object.fromEntries(
            Object.entries(point.nodeLsns).map(([id, lsn]) => [
              tidemarkNodeId({ nodeId: Number(id) }),
              lsn,
            ]),
          ),
          nodeTimelines: Object.fromEntries(timelines),
          error: null,
        };
      } finally {
        await connections.close();
      }
    } catch (err) {
      const error = asTidemarkError(err, name);
      const failed: RestorePointRecord = {
        clusterId,
        name,
        label,
        createdAt: startedAt.toISOString(),
        status: 'failed',
        coordinatorLsn: null,
        nodeLsns: {},
        nodeTimelines: {},
        error: error.message,
      };
      await catalog.putRestorePoint(failed);
      this.options.logger.warn(
        { clusterId, name, code: error.code, message: error.message },
        'restore point failed',
      );
      this.clusters.emit('restorePointCreated', failed);
      throw error;
    }
    await catalog.putRestorePoint(record);
    this.options.logger.info(
      {
        clusterId,
        name,
        coordinatorLsn: record.coordinatorLsn,
        nodes: Object.keys(record.nodeLsns).length,
      },
      'restore point created',
    );
    this.clusters.emit('restorePointCreated', record);
    await this.updateRestorability(clusterId).catch((err: unknown) =>
      this.options.logger.warn(
        { clusterId, code: toErrorInfo(err).code },
        'restorability not updated',
      ),
    );
    return (
      catalog
        .restorePoints(clusterId, {
          from: new Date(record.createdAt),
          to: new Date(record.createdAt),
        })
        .find((p) => p.name === name) ?? record
    );
  }

  /** Points in time order; `from`/`to` inclusive. */
  async list(clusterId: string, query: RestorePointQuery = {}): Promise<RestorePointRecord[]> {
    const catalog = await this.clusters.catalogOf(await this.clusters.get(clusterId));
    return catalog.restorePoints(clusterId, query);
  }

  async count(clusterId: string, range: { from?: Date; to?: Date } = {}): Promise<number> {
    const catalog = await this.clusters.catalogOf(await this.clusters.get(clusterId));
    return catalog.countRestorePoints(clusterId, range.from, range.to);
  }

  /**
   * Marks the points whose WAL every node has now archived as restorable. The backup engine
   * calls it after archiving WAL or finishing a base backup.
   */
  async updateRestorability(clusterId: string): Promise<RestorabilityUpdate> {
    const catalog = await this.clusters.catalogOf(await this.clusters.get(clusterId));
    const update = await updateRestorability(catalog, clusterId);
    if (update.becameRestorable.length > 0) {
      await catalog.flush();
      this.clusters.emit('restorePointsRestorable', { clusterId, points: update.becameRestorable });
    }
    return update;
  }
}

/** The node's timeline, as its control file says after the point. */
async function currentTimeline(client: pg.Client, label: string, name: string): Promise<number> {
  try {
    const { rows } = await client.query<{ timeline_id: number }>(
      'SELECT timeline_id FROM pg_catalog.pg_control_checkpoint()',
    );
    const timeline = Number(rows[0]?.timeline_id);
    if (!Number.isInteger(timeline) || timeline < 1)
      throw new Error('no timeline in pg_control_checkpoint()');
    return timeline;
  } catch (err) {
    throw new TidemarkError(
      'connection_failed',
      `Restore point "${name}" was written, but the timeline of ${label} could not be read (${(err as Error).message}). The point cannot be proven restorable; check the connection to that node.`,
      { retryable: true, cause: err },
    );
  }
}

function asTidemarkError(err: unknown, name: string): TidemarkError {
  if (err instanceof TidemarkError) {
    if (err.message.startsWith(`Restore point "${name}"`)) return err;
    return new TidemarkError(err.code, `Restore point "${name}" was not created: ${err.message}`, {
      retryable: err.retryable,
      cause: err,
      ...(err.details ? { details: err.details } : {}),
    });
  }
  const info = toErrorInfo(err);
  if (info.code === 'cancelled')
    return new TidemarkError('cancelled', `Restore point "${name}" was cancelled.`, {
      retryable: true,
    });
  return new TidemarkError(
    'internal',
    `Restore point "${name}" was not created: ${(err as Error)?.message ?? String(err)}`,
    {
      cause: err,
    },
  );
}
