import pg from 'pg';
import { TidemarkError } from '../errors.js';
import { pgSslOption, tlsFallbackAllowed } from '../net/tls-options.js';
import type { SecretStore } from '../secrets/secret-store.js';
import { clusterSecretName, type ClusterConfig, type NodeAddress } from './cluster-config.js';

export interface NodeConnectOptions {
  /** the node to reach; default: the coordinator */
  address?: NodeAddress;
  /** a physical walsender connection (IDENTIFY_SYSTEM, BASE_BACKUP, START_REPLICATION) */
  replication?: boolean;
  applicationName?: string;
  connectTimeoutMs?: number;
}

/** Who a connection was for: every connection error names it. */
export interface ConnectionTarget {
  host: string;
  port: number;
  user: string;
  database: string;
}

/**
 * A `pg` client config for a node of the cluster: the coordinator's user, database and TLS
 * settings, the password from the secret store, and `ssl` for a first attempt (sslmode
 * prefer retries without TLS in `connectClusterNode`).
 */
export async function clusterClientConfig(
  cluster: ClusterConfig,
  secrets: SecretStore,
  options: NodeConnectOptions = {},
): Promise<pg.ClientConfig> {
  const { coordinator } = cluster;
  const address = options.address ?? { host: coordinator.host, port: coordinator.port };
  const [password, keyPassphrase] = await Promise.all([
    secrets.get(clusterSecretName(cluster.id, 'password')),
    coordinator.keyFile
      ? secrets.get(clusterSecretName(cluster.id, 'key-passphrase'))
      : Promise.resolve(undefined),
  ]);
  const config: pg.ClientConfig = {
    host: address.host,
    port: address.port,
    user: coordinator.user,
    database: coordinator.database,
    ssl: await pgSslOption(coordinator, address.host, keyPassphrase),
    application_name: options.applicationName ?? 'tidemark',
    connectionTimeoutMillis: options.connectTimeoutMs ?? 10_000,
    keepAlive: true,
  };
  if (password !== undefined) config.password = password;
  if (options.replication) config.replication = true;
  return config;
}

/** Connects to a node of the cluster; failures become TidemarkErrors that name the node. */
export async function connectClusterNode(
  cluster: ClusterConfig,
  secrets: SecretStore,
  options: NodeConnectOptions = {},
): Promise<pg.Client> {
  const config = await clusterClientConfig(cluster, secrets, options);
  try {
    return await connectClient(config);
  } catch (err) {
    if (!tlsFallbackAllowed(cluster.coordinator.sslmode, err))
      throw mapConnectionError(err, targetOf(config));
    try {
      return await connectClient({ ...config, ssl: false });
    } catch (plainErr) {
      throw mapConnectionError(plainErr, targetOf(config));
    }
  }
}

/**
 * Opens a client and keeps its later 'error' events (a node restarting, a dropped socket)
 * from crashing the process: the next query on it fails instead.
 */
export async function connectClient(config: pg.ClientConfig): Promise<pg.Client> {
  const client = new pg.Client(config);
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (err) {
    await client.end().catch(() => undefined);
    throw err;
  }
  return client;
}

export function targetOf(config: pg.ClientConfig): ConnectionTarget {
  return {
    host: String(config.host ?? 'localhost'),
    port: Number(config.port ?? 5432),
    user: String(config.user ?? ''),
    database: String(config.database ?? config.user ?? ''),
  };
}

const tlsCodes = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'ERR_SSL_WRONG_VERSION_NUMBER',
  'EPROTO',
]);

/** Turns a connection failure into a TidemarkError that says what to do. */
export function mapConnectionError(err: unknown, target: ConnectionTarget): TidemarkError {
  if (err instanceof TidemarkError) return err;
  const where = `${target.host}:${target.port}`;
  const e = err as { code?: string; message?: string };
  const message = e.message ?? String(err);
  const details = {
    host: target.host,
    port: target.port,
    user: target.user,
    database: target.database,
    cause: message,
  };
  const fail = (
    code: ConstructorParameters<typeof TidemarkError>[0],
    text: string,
    retryable = false,
  ): TidemarkError => new TidemarkError(code, text, { retryable, details, cause: err });

  switch (e.code) {
    case 'ECONNREFUSED':
      return fail(
        'connection_failed',
        `Cannot connect to ${where}: connection refused. Check that PostgreSQL runs there and listens on that address (listen_addresses, port) and that no firewall blocks it.`,
        true,
      );
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return fail(
        'connection_failed',
        `Cannot connect to ${where}: the host name "${target.host}" does not resolve. Fix the address, or set a node address override if this workstation uses another name.`,
        true,
      );
    case 'ETIMEDOUT':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'ECONNRESET':
      return fail(
        'connection_failed',
        `Cannot connect to ${where}: ${message}. Check the network path from this workstation to the node.`,
        true,
      );
    case '28P01':
      return fail(
        'authentication_failed',
        `PostgreSQL at ${where} rejected the password of user "${target.user}". Update the cluster's password in Tidemark.`,
      );
    case '28000':
      return fail(
        'permission_denied',
        `PostgreSQL at ${where} refuses user "${target.user}": ${message}. Add a matching line to that node's pg_hba.conf and run SELECT pg_reload_conf();`,
      );
    case '3D000':
      return fail(
        'not_found',
        `Database "${target.database}" does not exist on ${where}. Fix the database name in the cluster settings.`,
      );
    case '42501':
      return fail(
        'permission_denied',
        `PostgreSQL at ${where} denied user "${target.user}": ${message}.`,
      );
    case '53300':
      return fail(
        'connection_failed',
        `PostgreSQL at ${where} has no free connection slot: ${message}.`,
        true,
      );
    case '57P03':
      return fail(
        'connection_failed',
        `PostgreSQL at ${where} is not accepting connections yet: ${message}. Retry once it has started.`,
        true,
      );
  }
  if (/timeout/i.test(message) || /terminated unexpectedly/i.test(message)) {
    return fail(
      'connection_failed',
      `Cannot connect to ${where}: no answer in time (${message}). Check the address and the network path.`,
      true,
    );
  }
  if (/client password must be a string/i.test(message)) {
    return fail(
      'authentication_failed',
      `PostgreSQL at ${where} asks for a password and none is stored for user "${target.user}". Enter the cluster's password in Tidemark.`,
    );
  }
  if (/does not support SSL connections/i.test(message)) {
    return fail(
      'connection_failed',
      `PostgreSQL at ${where} does not accept TLS, which the cluster's sslmode requires. Turn ssl on for that node, or lower sslmode to prefer or disable.`,
    );
  }
  if ((e.code && tlsCodes.has(e.code)) || /certificate|ssl|tls/i.test(message)) {
    return fail(
      'connection_failed',
      `TLS with ${where} failed: ${message}. Check the CA file and sslmode (verify-full also needs the certificate to name "${target.host}").`,
    );
  }
  return fail('connection_failed', `Cannot connect to ${where}: ${message}.`, true);
}
