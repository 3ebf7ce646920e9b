import pg from 'pg';
import { clusterSecretName, type ClusterConfig, type NodeAddress } from '../cluster/cluster-config.js';
import { mapConnectionError } from '../cluster/connect.js';
import type { NodeRole } from '../cluster/discovery.js';
import { TidemarkError } from '../errors.js';
import { loadTlsConfig, pgSslAttempts, tlsFallbackAllowed, type TlsConfig } from '../net/tls-options.js';
import type { ReplicationConnectionConfig } from '../replication/replication-connection.js';
import type { SecretStore } from '../secrets/secret-store.js';

/**
 * One node to back up: who it is (cluster and Tidemark node id, as the catalog names it) and
 * how this machine reaches it. Built from a cluster's settings (`endpointFor`) or given
 * explicitly (a list of node connections).
 */
export interface NodeEndpoint {
  clusterId: string;
  /** Tidemark's node id, `n<pg_dist_node.nodeid>` */
  nodeId: string;
  role: NodeRole;
  /** pg_dist_node.nodeid (null for an unregistered coordinator) and groupid */
  distNodeId: number | null;
  groupId: number;
  /** the node as pg_dist_node names it (what the nodes use among themselves) */
  name: string;
  port: number;
  /** where this machine connects (an override, or the pg_dist_node address) */
  address: NodeAddress;
  user: string;
  password?: string | undefined;
  database: string;
  tls: TlsConfig;
}

export const defaultConnectTimeoutMs = 10_000;

/** How every message names a node: `cluster "c1" node n2 (worker 10.0.0.2:5432)`. */
export function describeEndpoint(endpoint: NodeEndpoint): string {
  return `cluster "${endpoint.clusterId}" node ${endpoint.nodeId} (${endpoint.role} ${hostPort(endpoint.address)})`;
}

export function hostPort(address: NodeAddress): string {
  return `${address.host.includes(':') ? `[${address.host}]` : address.host}:${address.port}`;
}

/** The endpoint of a node of a configured cluster: its settings, password and TLS files. */
export async function endpointFor(
  cluster: ClusterConfig,
  secrets: SecretStore,
  node: { nodeId: string; role: NodeRole; distNodeId: number | null; groupId: number; name: string; port: number; address: NodeAddress },
): Promise<NodeEndpoint> {
  const { coordinator } = cluster;
  const [password, keyPassphrase] = await Promise.all([
    secrets.get(clusterSecretName(cluster.id, 'password')),
    coordinator.keyFile ? secrets.get(clusterSecretName(cluster.id, 'key-passphrase')) : Promise.resolve(undefined),
  ]);
  return {
    clusterId: cluster.id,
    ...node,
    user: coordinator.user,
    password,
    database: coordinator.database,
    tls: await loadTlsConfig(coordinator, keyPassphrase),
  };
}

/** The walsender connection settings of a node. */
export function replicationConfig(endpoint: NodeEndpoint, applicationName: string, connectTimeoutMs = defaultConnectTimeoutMs): ReplicationConnectionConfig {
  return {
    host: endpoint.address.host,
    port: endpoint.address.port,
    user: endpoint.user,
    ...(endpoint.password !== undefined ? { password: endpoint.password } : {}),
    database: endpoint.database,
    ssl: endpoint.tls,
    applicationName,
    connectTimeoutMs,
  };
}

/**
 * A normal (SQL) connection to a node, for what a walsender cannot answer (pg_settings,
 * pg_replication_slots). Follows sslmode like the walsender connection does.
 */
export async function connectNodeSql(
  endpoint: NodeEndpoint,
  applicationName: string,
  options: { database?: string; connectTimeoutMs?: number } = {},
): Promise<pg.Client> {
  const database = options.database ?? endpoint.database;
  const base: pg.ClientConfig = {
    host: endpoint.address.host,
    port: endpoint.address.port,
    user: endpoint.user,
    database,
    application_name: applicationName,
    connectionTimeoutMillis: options.connectTimeoutMs ?? defaultConnectTimeoutMs,
    keepAlive: true,
    ...(endpoint.password !== undefined ? { password: endpoint.password } : {}),
  };
  const attempts = pgSslAttempts(endpoint.tls, endpoint.address.host);
  let lastError: unknown;
  for (const [index, ssl] of attempts.entries()) {
    const client = new pg.Client({ ...base, ssl });
    // a node restarting later must fail the next query, not crash the process
    client.on('error', () => undefined);
    try {
      await client.connect();
      return client;
    } catch (err) {
      await client.end().catch(() => undefined);
      lastError = err;
      if (index < attempts.length - 1 && tlsFallbackAllowed(endpoint.tls.mode, err)) continue;
      break;
    }
  }
  throw atNode(endpoint, mapConnectionError(lastError, { host: endpoint.address.host, port: endpoint.address.port, user: endpoint.user, database }));
}

/**
 * The error, with the node named in front (cluster and node id; host:port is usually in the
 * message already). Keeps code, retryability and details.
 */
export function atNode(endpoint: NodeEndpoint, err: unknown): TidemarkError {
  const where = describeEndpoint(endpoint);
  if (err instanceof TidemarkError) {
    if (err.message.includes(`node ${endpoint.nodeId} (`)) return err;
    return new TidemarkError(err.code, `${capitalise(where)}: ${err.message}`, {
      retryable: err.retryable,
      cause: err,
      details: { ...err.details, clusterId: endpoint.clusterId, nodeId: endpoint.nodeId, node: hostPort(endpoint.address) },
    });
  }
  const message = err instanceof Error ? err.message : String(err);
  return new TidemarkError('internal', `${capitalise(where)}: ${message}`, {
    cause: err,
    details: { clusterId: endpoint.clusterId, nodeId: endpoint.nodeId, node: hostPort(endpoint.address) },
  });
}

function capitalise(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
