import type { Catalog } from '../catalog/catalog.js';
import type { NodeRecord } from '../catalog/records.js';
import {
  readNodeIdentity,
  type ClusterConnections,
  type ConnectedNode,
} from './cluster-connections.js';
import { diffTopology, type ClusterNode } from './discovery.js';

/** A node as events and API answers show it. */
export interface NodeSummary {
  nodeId: string;
  role: 'coordinator' | 'worker';
  name: string;
  port: number;
  groupId: number;
}

export interface NodeMove {
  nodeId: string;
  fields: Array<'name' | 'port' | 'groupId'>;
  before: NodeSummary;
  after: NodeSummary;
}

export interface TopologyRefresh {
  clusterId: string;
  at: string;
  /** nodes backed up from now on (new, or back after having been removed) */
  added: NodeSummary[];
  /** nodes no longer active primaries: recorded with `removedAt`, their backups kept */
  removed: NodeSummary[];
  /** nodes whose address or group changed in pg_dist_node */
  moved: NodeMove[];
  /** new nodes that could not be reached to be recorded; the next refresh retries them */
  unreachable: Array<{ nodeId: string; message: string }>;
  /** things the DBA should look at (e.g. a node that is now a different server) */
  warnings: string[];
}

export function hasTopologyChanged(refresh: TopologyRefresh): boolean {
  return refresh.added.length + refresh.removed.length + refresh.moved.length > 0;
}

export function summarizeRecord(record: NodeRecord): NodeSummary {
  return {
    nodeId: record.nodeId,
    role: record.role,
    name: record.name,
    port: record.port,
    groupId: record.groupId,
  };
}

/** The node record of a reachable node, keeping what an earlier record knew. */
export async function nodeRecordFor(
  clusterId: string,
  connected: ConnectedNode,
  at: string,
  existing?: NodeRecord,
): Promise<NodeRecord> {
  if (!connected.client) throw connected.error ?? new Error(`${connected.label} is not connected`);
  const identity = await readNodeIdentity(connected.client);
  const { node } = connected;
  return {
    clusterId,
    nodeId: connected.id,
    distNodeId: node.nodeId === 0 && node.role === 'coordinator' ? null : node.nodeId,
    groupId: node.groupId,
    role: node.role,
    name: node.name,
    port: node.port,
    systemIdentifier: identity.systemIdentifier,
    serverVersionNum: identity.serverVersionNum,
    walSegmentSize: identity.walSegmentSize,
    firstSeenAt: existing?.firstSeenAt ?? at,
    removedAt: null,
  };
}

/** A catalog node record in the shape discovery uses, for diffing (only active primaries are recorded). */
function asClusterNode(record: NodeRecord): ClusterNode {
  return {
    nodeId: record.distNodeId ?? 0,
    groupId: record.groupId,
    name: record.name,
    port: record.port,
    role: record.role,
    isActive: true,
    hasMetadata: true,
    nodeRole: 'primary',
  };
}

/**
 * Brings the catalog's node records in line with the cluster as discovered now: nodes that
 * became backup targets get a record (or lose their `removedAt`), nodes that stopped being
 * active primaries get `removedAt` (their backups and WAL stay), moved nodes get their new
 * address. Returns what changed; the caller announces it.
 */
export async function reconcileTopology(
  connections: ClusterConnections,
  catalog: Catalog,
  at: Date = new Date(),
): Promise<TopologyRefresh> {
  const clusterId = connections.config.id;
  const when = at.toISOString();
  const records = new Map(catalog.nodes(clusterId).map((n) => [n.record.nodeId, n.record]));
  const active = [...records.values()].filter((r) => r.removedAt === null);
  const current = connections.nodes.map((c) => c.node);
  const diff = diffTopology({ nodes: active.map(asClusterNode) }, { nodes: current });
  const byId = new Map(connections.nodes.map((c) => [c.id, c]));
  const refresh: TopologyRefresh = {
    clusterId,
    at: when,
    added: [],
    removed: [],
    moved: [],
    unreachable: [],
    warnings: [],
  };

  for (const node of diff.added) {
    const connected = byId.get(`n${node.nodeId}`);
    if (!connected) continue;
    if (!connected.client) {
      refresh.unreachable.push({
        nodeId: connected.id,
        message: `${connected.label} is new but cannot be reached: ${connected.error?.message ?? 'no connection'}`,
      });
      continue;
    }
    const existing = records.get(connected.id);
    const record = await nodeRecordFor(clusterId, connected, when, existing);
    if (existing && existing.systemIdentifier !== record.systemIdentifier) {
      refresh.warnings.push(
        `${connected.label} is back with another system identifier (${record.systemIdentifier}, was ${existing.systemIdentifier}): it is a different server now. Its earlier backups stay; new ones start from a fresh base backup.`,
      );
    }
    await catalog.putNode(record);
    refresh.added.push(summarizeRecord(record));
  }

  for (const node of diff.removed) {
    const record = records.get(`n${node.nodeId}`);
    if (!record) continue;
    await catalog.putNode({ ...record, removedAt: when });
    refresh.removed.push(summarizeRecord(record));
  }

  for (const change of diff.changed) {
    const id = `n${change.nodeId}`;
    const record = records.get(id);
    const connected = byId.get(id);
    if (!record || !connected) continue;
    const updated: NodeRecord = {
      ...record,
      name: change.after.name,
      port: change.after.port,
      groupId: change.after.groupId,
    };
    if (connected.client) {
      const fresh = await nodeRecordFor(clusterId, connected, when, record);
      if (fresh.systemIdentifier !== record.systemIdentifier) {
        refresh.warnings.push(
          `${connected.label} now answers with system identifier ${fresh.systemIdentifier} (was ${record.systemIdentifier}): pg_dist_node points this node at another server. Check the node; its WAL history does not continue the archived one.`,
        );
      }
    }
    await catalog.putNode(updated);
    refresh.moved.push({
      nodeId: id,
      fields: change.fields.filter(
        (f): f is 'name' | 'port' | 'groupId' => f === 'name' || f === 'port' || f === 'groupId',
      ),
      before: summarizeRecord(record),
      after: summarizeRecord(updated),
    });
  }
  return refresh;
}
