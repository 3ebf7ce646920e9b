import type pg from 'pg';
import { TidemarkError, toErrorInfo } from '../errors.js';
import type { SecretStore } from '../secrets/secret-store.js';
import type { ClusterConfig, NodeAddress } from './cluster-config.js';
import { connectClusterNode } from './connect.js';
import {
  backupTargets,
  describeNode,
  discoverTopology,
  resolveNodeAddress,
  type ClusterNode,
  type ClusterTopology,
} from './discovery.js';

/** Tidemark's stable id of a node: `n<pg_dist_node.nodeid>`, `n0` for an unregistered coordinator. */
export function tidemarkNodeId(node: Pick<ClusterNode, 'nodeId'>): string {
  return `n${node.nodeId}`;
}

export interface ConnectedNode {
  node: ClusterNode;
  /** `n<nodeid>` */
  id: string;
  /** how messages name it, e.g. `worker 10.0.0.2:5432 (node 2)` */
  label: string;
  /** where this workstation reaches it (its override, or the pg_dist_node address) */
  address: NodeAddress;
  /** null when the connection failed (see `error`) */
  client: pg.Client | null;
  error: TidemarkError | null;
}

/** Facts of a node the catalog's node record keeps. */
export interface NodeIdentity {
  systemIdentifier: string;
  serverVersionNum: number;
  walSegmentSize: number;
  timeline: number;
}

/**
 * Open connections to a cluster: the coordinator, its topology, and one connection per
 * backup target (every active primary). The coordinator node reuses the coordinator
 * connection: that address is proven to reach it. A node that cannot be reached is kept
 * with its error, so callers decide whether that is fatal.
 */
export class ClusterConnections {
  private constructor(
    readonly config: ClusterConfig,
    readonly coordinator: pg.Client,
    readonly topology: ClusterTopology,
    readonly nodes: ConnectedNode[],
  ) {}

  static async open(
    config: ClusterConfig,
    secrets: SecretStore,
    options: { applicationName?: string; connectTimeoutMs?: number } = {},
  ): Promise<ClusterConnections> {
    const connectOptions = {
      applicationName: options.applicationName ?? 'tidemark',
      ...(options.connectTimeoutMs === undefined
        ? {}
        : { connectTimeoutMs: options.connectTimeoutMs }),
    };
    const coordinator = await connectClusterNode(config, secrets, connectOptions);
    try {
      const address = { host: config.coordinator.host, port: config.coordinator.port };
      const topology = await discoverTopology(coordinator, address);
      const nodes = await Promise.all(
        backupTargets(topology).map(async (node): Promise<ConnectedNode> => {
          const base = { node, id: tidemarkNodeId(node), label: describeNode(node) };
          if (node.role === 'coordinator')
            return { ...base, address, client: coordinator, error: null };
          const nodeAddress = resolveNodeAddress(node, config.nodeOverrides);
          try {
            const client = await connectClusterNode(config, secrets, {
              ...connectOptions,
              address: nodeAddress,
            });
            return { ...base, address: nodeAddress, client, error: null };
          } catch (err) {
            const error =
              err instanceof TidemarkError
                ? err
                : new TidemarkError('connection_failed', toErrorInfo(err).message, { cause: err });
            return { ...base, address: nodeAddress, client: null, error };
          }
        }),
      );
      return new ClusterConnections(config, coordinator, topology, nodes);
    } catch (err) {
      await coordinator.end().catch(() => undefined);
      throw err;
    }
  }

  /** The first node that could not be reached, as an error that names it and says what to do. */
  unreachable(): TidemarkError | null {
    const failed = this.nodes.find((n) => n.client === null);
    if (!failed?.error) return null;
    const key = `${failed.node.name}:${failed.node.port}`;
    const override = this.config.nodeOverrides[key]
      ? ''
      : ` If this workstation reaches it under another address, set a node address override for ${key}.`;
    return new TidemarkError(
      failed.error.code,
      `${failed.label} cannot be reached: ${failed.error.message}${override}`,
      {
        retryable: failed.error.retryable,
        cause: failed.error,
        details: { nodeId: failed.id, ...failed.error.details },
      },
    );
  }

  /** Ends every connection (errors ignored: the sockets may already be gone). */
  async close(): Promise<void> {
    const clients = new Set<pg.Client>([this.coordinator]);
    for (const node of this.nodes) if (node.client) clients.add(node.client);
    await Promise.all([...clients].map((c) => c.end().catch(() => undefined)));
  }
}

/** Reads the facts a node record keeps (and the node's current timeline). */
export async function readNodeIdentity(client: pg.Client): Promise<NodeIdentity> {
  const { rows } = await client.query<{
    sysid: string;
    num: string;
    segsize: string;
    timeline: number;
  }>(
    `SELECT (SELECT system_identifier::text FROM pg_catalog.pg_control_system()) AS sysid,
            current_setting('server_version_num') AS num,
            (SELECT setting FROM pg_catalog.pg_settings WHERE name = 'wal_segment_size') AS segsize,
            (SELECT timeline_id FROM pg_catalog.pg_control_checkpoint()) AS timeline`,
  );
  const row = rows[0];
  if (!row) throw new TidemarkError('internal', 'The node did not answer the identity query.');
  return {
    systemIdentifier: row.sysid,
    serverVersionNum: Number(row.num),
    walSegmentSize: Number(row.segsize),
    timeline: Number(row.timeline),
  };
}
