import type pg from 'pg';
import { TidemarkError } from '../errors.js';

/** Who streams from a slot right now (from pg_replication_slots and pg_stat_replication). */
export interface SlotHolder {
  pid: number;
  /** null when the role may not see it (needs pg_read_all_stats) or over a Unix socket */
  clientAddress: string | null;
  applicationName: string | null;
}

/** The process holding `slot`, or null when nobody streams from it. */
export async function readSlotHolder(client: pg.Client, slot: string): Promise<SlotHolder | null> {
  const { rows } = await client.query<{ active_pid: number | null; client_addr: string | null; application_name: string | null }>(
    `SELECT s.active_pid, r.client_addr::text AS client_addr, r.application_name
       FROM pg_catalog.pg_replication_slots s
       LEFT JOIN pg_catalog.pg_stat_replication r ON r.pid = s.active_pid
      WHERE s.slot_name = $1 AND s.active`,
    [slot],
  );
  const row = rows[0];
  if (!row?.active_pid) return null;
  return { pid: row.active_pid, clientAddress: row.client_addr, applicationName: row.application_name };
}

/** "Two Tidemarks must never stream the same node": the error when the slot is in use. */
export function slotInUseError(where: string, slot: string, holder: SlotHolder | null): TidemarkError {
  const who = holder
    ? `process ${holder.pid}${holder.clientAddress ? ` from ${holder.clientAddress}` : ''}${holder.applicationName ? ` ("${holder.applicationName}")` : ''}`
    : 'another process';
  return new TidemarkError(
    'conflict',
    `Replication slot "${slot}" on ${where} is in use by ${who}. Two Tidemarks must never stream the same node: stop the other Tidemark (or agent) that archives this node, or terminate that walsender (SELECT pg_terminate_backend(${holder?.pid ?? '<pid>'})) if it is stale.`,
    { details: { slot, ...(holder ? { pid: holder.pid, clientAddress: holder.clientAddress, applicationName: holder.applicationName } : {}) } },
  );
}

/**
 * WAL the server keeps for `slot`: `pg_current_wal_lsn() - restart_lsn` in bytes. Null when the
 * slot is gone, has no restart position, or the server is in recovery (no current WAL position).
 */
export async function readSlotBacklog(client: pg.Client, slot: string): Promise<bigint | null> {
  const { rows } = await client.query<{ bytes: string | null }>(
    `SELECT CASE WHEN pg_catalog.pg_is_in_recovery() THEN NULL
                 ELSE (pg_catalog.pg_current_wal_lsn() - restart_lsn)::text END AS bytes
       FROM pg_catalog.pg_replication_slots WHERE slot_name = $1`,
    [slot],
  );
  const text = rows[0]?.bytes;
  if (text === null || text === undefined) return null;
  return BigInt(text.replace(/\..*$/, ''));
}
