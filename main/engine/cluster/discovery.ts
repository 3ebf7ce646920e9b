import type pg from 'pg';
import { TidemarkError } from '../errors.js';
import { nodeKey, type NodeAddress } from './cluster-config.js';

export type NodeRole = 'coordinator' | 'worker';

export interface ClusterNode {
  /** pg_dist_node.nodeid; 0 for a coordinator that has no pg_dist_node row */
  nodeId: number;
  groupId: number;
  /** address as pg_dist_node names it (what the nodes use among themselves) */
  name: string;
  port: number;
  role: NodeRole;
  isActive: boolean;
  hasMetadata: boolean;
  /** pg_dist_node.noderole: primary, secondary or unavailable */
  nodeRole: string;
}

export interface ClusterTopology {
  /** from citus_version(), e.g. 13.2.2 */
  citusVersion: string;
  /** pg_extension.extversion, e.g. 13.2-1; null on the test fixture (see below) */
  citusExtensionVersion: string | null;
  serverVersionNum: number;
  serverVersion: string;
  /** the coordinator's pg_control system identifier (a 64-bit integer as text) */
  systemIdentifier: string;
  /** false when pg_dist_node has no groupid 0 row and the coordinator was synthesised */
  coordinatorRegistered: boolean;
  /** every pg_dist_node row, by node id; see `backupTargets` for the nodes to back up */
  nodes: ClusterNode[];
}

interface NodeRow {
  nodeid: number;
  groupid: number;
  nodename: string;
  nodeport: number;
  isactive: boolean;
  hasmetadata: boolean;
  noderole: string;
}

const citusVersionPattern = /^Citus (\d+\.\d+(?:\.\d+)?(?:-\d+)?)/;

/**
 * Reads the cluster's shape through the coordinator, using only Citus's own surface
 * (citus_version(), pg_extension, pg_dist_local_group, pg_dist_node).
 *
 * - Citus is present when `citus_version()` exists. A real install also has the
 *   pg_extension row; its absence is accepted only because the function exists (the test
 *   fixture on plain PostgreSQL cannot add pg_extension rows).
 * - `connectedTo` must be the coordinator (pg_dist_local_group = 0). If pg_dist_node has no
 *   coordinator row (citus_set_coordinator_host never called), the coordinator is that
 *   address, with node id 0.
 */
export async function discoverTopology(
  client: pg.Client,
  connectedTo: NodeAddress,
): Promise<ClusterTopology> {
  const where = `${connectedTo.host}:${connectedTo.port}`;
  const server = await client.query<{
    num: string;
    version: string;
    sysid: string;
    has_citus: boolean;
    extversion: string | null;
  }>(
    `SELECT current_setting('server_version_num') AS num, current_setting('server_version') AS version,
            (SELECT system_identifier::text FROM pg_catalog.pg_control_system()) AS sysid,
            to_regprocedure('pg_catalog.citus_version()') IS NOT NULL AS has_citus,
            (SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'citus') AS extversion`,
  );
  const info = server.rows[0];
  if (!info) throw new TidemarkError('internal', `No answer from ${where} to the version query.`);
  if (!info.has_citus) {
    throw new TidemarkError(
      'unsupported',
      `${where} has no Citus: citus_version() does not exist in database "${client.database ?? ''}". Connect Tidemark to the Citus coordinator's database, or run CREATE EXTENSION citus; there.`,
    );
  }
  const citusVersion = await readCitusVersion(client, where);

  const local = await client.query<{ groupid: number }>(
    'SELECT groupid FROM pg_catalog.pg_dist_local_group',
  );
  const localGroup = local.rows[0]?.groupid ?? 0;
  if (localGroup !== 0) {
    throw new TidemarkError(
      'invalid_input',
      `${where} is a Citus worker (group ${localGroup}), not the coordinator. Set the cluster's address to the coordinator (the pg_dist_node row with groupid 0).`,
    );
  }

  const rows = await client.query<NodeRow>(
    `SELECT nodeid, groupid, nodename, nodeport, isactive, hasmetadata, noderole::text AS noderole
       FROM pg_catalog.pg_dist_node ORDER BY nodeid`,
  );
  const nodes: ClusterNode[] = rows.rows.map((row) => ({
    nodeId: row.nodeid,
    groupId: row.groupid,
    name: row.nodename,
    port: row.nodeport,
    role: row.groupid === 0 ? 'coordinator' : 'worker',
    isActive: row.isactive,
    hasMetadata: row.hasmetadata,
    nodeRole: row.noderole,
  }));
  const coordinatorRegistered = nodes.some((node) => node.role === 'coordinator');
  if (!coordinatorRegistered) {
    nodes.unshift({
      nodeId: 0,
      groupId: 0,
      name: connectedTo.host,
      port: connectedTo.port,
      role: 'coordinator',
      isActive: true,
      hasMetadata: true,
      nodeRole: 'primary',
    });
  }
  return {
    citusVersion,
    citusExtensionVersion: info.extversion,
    serverVersionNum: Number(info.num),
    serverVersion: info.version,
    systemIdentifier: info.sysid,
    coordinatorRegistered,
    nodes,
  };
}

async function readCitusVersion(client: pg.Client, where: string): Promise<string> {
  let text: string;
  try {
    text =
      (await client.query<{ v: string }>('SELECT pg_catalog.citus_version() AS v')).rows[0]?.v ??
      '';
  } catch (err) {
    const message = (err as Error).message;
    if (/can only be loaded via shared_preload_libraries/.test(message)) {
      throw new TidemarkError(
        'unsupported',
        `Citus is installed on ${where} but not loaded. Set shared_preload_libraries = 'citus' in its postgresql.conf (citus first) and restart it.`,
        { cause: err },
      );
    }
    throw new TidemarkError('internal', `citus_version() failed on ${where}: ${message}`, {
      cause: err,
    });
  }
  const match = citusVersionPattern.exec(text);
  if (!match)
    throw new TidemarkError(
      'unsupported',
      `${where} answered citus_version() with "${text}", which Tidemark cannot read.`,
    );
  return match[1] as string;
}

/** The nodes whose data makes up the cluster: every active primary (coordinator included). */
export function backupTargets(topology: ClusterTopology): ClusterNode[] {
  return topology.nodes.filter((node) => node.isActive && node.nodeRole === 'primary');
}

/** Where this workstation reaches a node: its override, else its pg_dist_node address. */
export function resolveNodeAddress(
  node: Pick<ClusterNode, 'name' | 'port'>,
  overrides: Record<string, NodeAddress>,
): NodeAddress {
  return overrides[nodeKey(node.name, node.port)] ?? { host: node.name, port: node.port };
}

export interface TopologyChange {
  nodeId: number;
  before: ClusterNode;
  after: ClusterNode;
  /** which of name, port, groupId, isActive, nodeRole changed */
  fields: Array<'name' | 'port' | 'groupId' | 'isActive' | 'nodeRole'>;
}

export interface TopologyDiff {
  added: ClusterNode[];
  removed: ClusterNode[];
  changed: TopologyChange[];
}

const comparedFields = ['name', 'port', 'groupId', 'isActive', 'nodeRole'] as const;

/**
 * What changed between two discoveries, by node id: nodes added and removed, and nodes
 * that moved (citus_update_node), changed group, or were (de)activated.
 */
export function diffTopology(
  previous: Pick<ClusterTopology, 'nodes'>,
  current: Pick<ClusterTopology, 'nodes'>,
): TopologyDiff {
  const before = new Map(previous.nodes.map((node) => [node.nodeId, node]));
  const after = new Map(current.nodes.map((node) => [node.nodeId, node]));
  const diff: TopologyDiff = { added: [], removed: [], changed: [] };
  for (const node of current.nodes) {
    const old = before.get(node.nodeId);
    if (!old) {
      diff.added.push(node);
      continue;
    }
    const fields = comparedFields.filter((field) => old[field] !== node[field]);
    if (fields.length > 0)
      diff.changed.push({ nodeId: node.nodeId, before: old, after: node, fields });
  }
  for (const node of previous.nodes) if (!after.has(node.nodeId)) diff.removed.push(node);
  return diff;
}

export function describeNode(node: Pick<ClusterNode, 'role' | 'name' | 'port' | 'nodeId'>): string {
  return `${node.role} ${node.name}:${node.port}${node.nodeId > 0 ? ` (node ${node.nodeId})` : ''}`;
}
