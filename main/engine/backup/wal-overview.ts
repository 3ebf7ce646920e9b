import type pg from 'pg';
import { toErrorInfo, type ErrorInfo } from '../errors.js';
import { formatLsn } from '../replication/lsn.js';
import type { ClusterTarget } from './cluster-backup.js';
import { connectNodeSql, hostPort, type NodeEndpoint } from './node-endpoint.js';
import { walSlotName } from './slot-name.js';
import type { WalStatus } from './wal-archiver.js';
import { NodeWalObjects } from './wal-objects.js';
import { findWalResumePoint } from './wal-resume.js';

/** The replication slot as the node sees it. */
export interface SlotOnServer {
  exists: boolean;
  active: boolean;
  /** who streams from it: pid, client address and application_name */
  holder: { pid: number; clientAddress: string | null; applicationName: string | null } | null;
  restartLsn: string | null;
  /** WAL the server keeps for the slot */
  backlogBytes: number | null;
  /** pg_replication_slots.wal_status: reserved, extended, unreserved or lost */
  walStatus: string | null;
}

/**
 * One node's WAL archiving seen from everywhere it can be seen: this process's stream (if it
 * runs one), the slot on the server (whichever process streams), and where the repository's WAL
 * ends. `tidemark wal status` shows this, so it is right even when the agent does the streaming.
 */
export interface WalNodeOverview {
  clusterId: string;
  nodeId: string;
  node: string;
  slot: string;
  stream: WalStatus | null;
  slotOnServer: SlotOnServer | null;
  serverLsn: string | null;
  /** the end of the WAL stored in the repository */
  archived: { timeline: number; storedEnd: string } | null;
  /** the node could not be asked */
  error: ErrorInfo | null;
}

export async function walOverview(target: ClusterTarget, streams: (nodeId: string) => WalStatus | null): Promise<WalNodeOverview[]> {
  return Promise.all(target.nodes.map((endpoint) => nodeOverview(target, endpoint, streams(endpoint.nodeId))));
}

async function nodeOverview(target: ClusterTarget, endpoint: NodeEndpoint, stream: WalStatus | null): Promise<WalNodeOverview> {
  const slot = walSlotName(endpoint.clusterId, endpoint.nodeId);
  const overview: WalNodeOverview = {
    clusterId: endpoint.clusterId,
    nodeId: endpoint.nodeId,
    node: hostPort(endpoint.address),
    slot,
    stream,
    slotOnServer: null,
    serverLsn: null,
    archived: null,
    error: null,
  };
  const record = target.catalog.node(endpoint.clusterId, endpoint.nodeId)?.record;
  if (record) {
    const objects = new NodeWalObjects(target.repository, target.catalog, endpoint.clusterId, endpoint.nodeId);
    const point = await findWalResumePoint(objects, record.walSegmentSize).catch(() => null);
    if (point) overview.archived = { timeline: point.timeline, storedEnd: formatLsn(point.storedEnd) };
  }
  let client: pg.Client | undefined;
  try {
    client = await connectNodeSql(endpoint, 'tidemark');
    const { rows } = await client.query<{
      server_lsn: string | null;
      active: boolean | null;
      active_pid: number | null;
      client_addr: string | null;
      application_name: string | null;
      restart_lsn: string | null;
      backlog: string | null;
      wal_status: string | null;
    }>(
      `SELECT CASE WHEN pg_catalog.pg_is_in_recovery() THEN pg_catalog.pg_last_wal_replay_lsn() ELSE pg_catalog.pg_current_wal_lsn() END::text AS server_lsn,
              s.active, s.active_pid, r.client_addr::text AS client_addr, r.application_name, s.restart_lsn::text AS restart_lsn,
              CASE WHEN pg_catalog.pg_is_in_recovery() THEN NULL ELSE (pg_catalog.pg_current_wal_lsn() - s.restart_lsn)::text END AS backlog,
              s.wal_status
         FROM (SELECT 1) AS one
         LEFT JOIN pg_catalog.pg_replication_slots s ON s.slot_name = $1
         LEFT JOIN pg_catalog.pg_stat_replication r ON r.pid = s.active_pid`,
      [slot],
    );
    const row = rows[0];
    overview.serverLsn = row?.server_lsn ?? null;
    overview.slotOnServer = {
      exists: row?.active !== null && row?.active !== undefined,
      active: row?.active === true,
      holder: row?.active_pid ? { pid: row.active_pid, clientAddress: row.client_addr, applicationName: row.application_name } : null,
      restartLsn: row?.restart_lsn ?? null,
      backlogBytes: row?.backlog ? Number(row.backlog.replace(/\..*$/, '')) : null,
      walStatus: row?.wal_status ?? null,
    };
  } catch (err) {
    overview.error = toErrorInfo(err);
  } finally {
    await client?.end().catch(() => undefined);
  }
  return overview;
}
