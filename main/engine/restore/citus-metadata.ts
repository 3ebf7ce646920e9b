import type pg from 'pg';
import { TidemarkError } from '../errors.js';

/**
 * Citus metadata of a restored node, rewritten while Citus is NOT loaded: until then it names
 * the production nodes, and Citus's maintenance daemon would connect there (and settle prepared
 * transactions in production from the restored node's older view). Each node keeps its own copy
 * of the catalog (the coordinator and every metadata worker). Citus's catalog triggers call into
 * the library, which refuses to load outside shared_preload_libraries, so the writes run with
 * `session_replication_role = replica`, which skips them.
 */

export interface NodeAddress {
  /** pg_dist_node.nodeid of the source node */
  distNodeId: number;
  host: string;
  port: number;
}

export interface MetadataRewrite {
  database: string;
  rewritten: number;
  /** rows with no restored counterpart (inactive or secondary nodes): pointed at an address that cannot resolve */
  unrestored: { nodeId: number; nodename: string; nodeport: number }[];
  poolinfoRemoved: number;
  authinfoRemoved: number;
}

/** A name under `.invalid` (RFC 2606) never resolves: a node left out of the restore cannot be reached. */
export function unrestoredNodeName(nodeId: number): string {
  return `tidemark-unrestored-node-${nodeId}.invalid`;
}

/** Whether this database holds Citus metadata. */
export async function hasCitusMetadata(client: pg.Client): Promise<boolean> {
  const { rows } = await client.query<{ present: boolean }>(`SELECT to_regclass('pg_catalog.pg_dist_node') IS NOT NULL AS present`);
  return rows[0]?.present ?? false;
}

/**
 * Points every pg_dist_node row at the restored node that replaced it, removes production
 * pooler addresses (pg_dist_poolinfo) and authentication entries that carry a host
 * (pg_dist_authinfo rows are keyed by nodeid and normally hold only credentials: those stay).
 * One transaction; an active primary with no restored counterpart fails it.
 */
export async function rewriteCitusMetadata(client: pg.Client, database: string, addresses: readonly NodeAddress[], nodeLabel: string): Promise<MetadataRewrite> {
  const byId = new Map(addresses.map((a) => [a.distNodeId, a]));
  await client.query('BEGIN');
  try {
    await client.query('SET LOCAL session_replication_role = replica');
    const { rows } = await client.query<{ nodeid: number; nodename: string; nodeport: number; isactive: boolean; noderole: string }>(
      'SELECT nodeid, nodename, nodeport, isactive, noderole::text AS noderole FROM pg_catalog.pg_dist_node ORDER BY nodeid FOR UPDATE',
    );
    const result: MetadataRewrite = { database, rewritten: 0, unrestored: [], poolinfoRemoved: 0, authinfoRemoved: 0 };
    const orphans = rows.filter((row) => !byId.has(row.nodeid));
    const missingPrimaries = orphans.filter((row) => row.isactive && row.noderole === 'primary');
    if (missingPrimaries.length > 0) {
      const names = missingPrimaries.map((r) => `nodeid ${r.nodeid} (${r.nodename}:${r.nodeport})`).join(', ');
      throw new TidemarkError('invalid_input', `The metadata restored on ${nodeLabel} (database ${database}) lists active primary nodes that are not part of this restore: ${names}. The restore must include every active primary of the cluster; plan it again.`);
    }
    // Two steps so that swapping two nodes' addresses cannot collide on (nodename, nodeport).
    for (const row of rows) {
      await client.query('UPDATE pg_catalog.pg_dist_node SET nodename = $1 WHERE nodeid = $2', [`${unrestoredNodeName(row.nodeid)}`, row.nodeid]);
    }
    for (const row of rows) {
      const target = byId.get(row.nodeid);
      if (!target) {
        result.unrestored.push({ nodeId: row.nodeid, nodename: row.nodename, nodeport: row.nodeport });
        continue;
      }
      await client.query('UPDATE pg_catalog.pg_dist_node SET nodename = $1, nodeport = $2 WHERE nodeid = $3', [target.host, target.port, row.nodeid]);
      result.rewritten += 1;
    }
    if (await tableExists(client, 'pg_dist_poolinfo')) {
      result.poolinfoRemoved = (await client.query('DELETE FROM pg_catalog.pg_dist_poolinfo')).rowCount ?? 0;
    }
    if (await tableExists(client, 'pg_dist_authinfo')) {
      result.authinfoRemoved = (await client.query(`DELETE FROM pg_catalog.pg_dist_authinfo WHERE authinfo ~* '(^|\\s)(host|hostaddr)\\s*='`)).rowCount ?? 0;
    }
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

/** Settles the 2PC transactions left prepared at the cut (on the coordinator, with Citus loaded). */
export async function recoverPreparedTransactions(client: pg.Client): Promise<number> {
  const { rows } = await client.query<{ n: number }>('SELECT pg_catalog.recover_prepared_transactions() AS n');
  return Number(rows[0]?.n ?? 0);
}

export interface HealthPair {
  from: string;
  to: string;
  result: boolean | null;
}

/** Every node-to-node connection check of citus_check_cluster_node_health(). */
export async function clusterNodeHealth(client: pg.Client): Promise<HealthPair[]> {
  const { rows } = await client.query<{ from_nodename: string; from_nodeport: number; to_nodename: string; to_nodeport: number; result: boolean | null }>(
    'SELECT from_nodename, from_nodeport, to_nodename, to_nodeport, result FROM pg_catalog.citus_check_cluster_node_health()',
  );
  return rows.map((r) => ({ from: `${r.from_nodename}:${r.from_nodeport}`, to: `${r.to_nodename}:${r.to_nodeport}`, result: r.result }));
}

async function tableExists(client: pg.Client, name: string): Promise<boolean> {
  const { rows } = await client.query<{ present: boolean }>(`SELECT to_regclass($1) IS NOT NULL AS present`, [`pg_catalog.${name}`]);
  return rows[0]?.present ?? false;
}
