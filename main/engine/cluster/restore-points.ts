import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import { TidemarkError, throwIfAborted } from '../errors.js';
import { formatLsn, parseLsn } from '../replication/lsn.js';

/** PostgreSQL keeps restore point names in 64-byte buffers (MAXFNAMELEN), NUL included. */
export const maxRestorePointNameBytes = 63;
/** Safe in postgresql.auto.conf (`recovery_target_name`) without any quoting subtleties. */
export const restorePointNamePattern = /^[A-Za-z0-9][A-Za-z0-9._:-]*$/;

/** `tidemark-20261124T031500Z-1a2b3c4d`: sortable by time, unique by the random part. */
export function newRestorePointName(
  at: Date = new Date(),
  random: string = randomBytes(4).toString('hex'),
): string {
  const stamp = at
    .toISOString()
    .replace(/\.\d{3}Z$/, 'Z')
    .replaceAll('-', '')
    .replaceAll(':', '');
  const name = `tidemark-${stamp}-${random}`;
  validateRestorePointName(name);
  return name;
}

export function validateRestorePointName(name: string): void {
  if (!restorePointNamePattern.test(name)) {
    throw new TidemarkError(
      'invalid_input',
      `Restore point name "${name}" is not allowed: use letters, digits, ".", "_", ":" and "-", starting with a letter or digit.`,
    );
  }
  if (Buffer.byteLength(name, 'utf8') > maxRestorePointNameBytes) {
    throw new TidemarkError(
      'invalid_input',
      `Restore point name "${name}" is too long: at most ${maxRestorePointNameBytes} bytes.`,
    );
  }
}

export interface RestorePointNode {
  /** pg_dist_node.nodeid (0 for an unregistered coordinator) */
  nodeId: number;
  /** a regular connection to the node (not in a transaction), used right after the point */
  client: pg.Client;
  /** the node's pg_dist_node address: Citus names it this way in its errors */
  name?: string;
  port?: number;
  /** how messages name the node, e.g. `worker 10.0.0.2:5432 (node 2)` */
  label?: string;
}

export interface CreateRestorePointOptions {
  /** a regular connection to the coordinator, as a superuser, not in a transaction */
  coordinator: pg.Client;
  /** every node whose WAL position to record, the coordinator included */
  nodes: RestorePointNode[];
  name: string;
  /** what the user sees on the timeline; default: the name */
  label?: string;
  /** how long the call may wait for Citus's metadata locks (default 1000 ms) */
  lockTimeoutMs?: number;
  /** extra attempts after a lock timeout (default 3) */
  retries?: number;
  /** wait before the first retry, doubled each time (default 500 ms) */
  backoffMs?: number;
  /** bound on the whole call, which blocks 2PC commits while it runs (default 30 s) */
  statementTimeoutMs?: number;
  signal?: AbortSignal;
}

export interface CreatedRestorePoint {
  name: string;
  label: string;
  /** the coordinator's clock right after the point was written (ISO 8601) */
  createdAt: string;
  /** what citus_create_restore_point returned: the end of the coordinator's restore point record */
  coordinatorLsn: string;
  /**
   * per node id, a WAL position right after the call, at or past that node's restore point
   * record; normally the flush position after a tiny flushing commit, so already streamable
   */
  nodeLsns: Record<number, string>;
  /** attempts it took (1 when no lock timeout happened) */
  attempts: number;
}

const lockNotAvailable = '55P03';
const queryCanceled = '57014';
const remoteNodePatterns = [
  /connection to the remote node (?:[^@\s]+@)?(\S+):(\d+) failed/,
  /connection error: (\S+):(\d+)/,
  /while executing command on (\S+):(\d+)/,
];

/**
 * Creates a cluster-wide consistent restore point with citus_create_restore_point, then
 * records a flushed WAL position past the point on each node, so the catalog can tell when
 * the point becomes restorable on every node (archived WAL has reached those positions).
 * Follows the Citus maintainers' advice: a short lock_timeout, retried with backoff, so a
 * long DDL cannot stall the cluster's 2PC commits behind it. Persisting the point is the
 * caller's job.
 */
export async function createRestorePoint(
  options: CreateRestorePointOptions,
): Promise<CreatedRestorePoint> {
  validateRestorePointName(options.name);
  const lockTimeoutMs = options.lockTimeoutMs ?? 1000;
  const retries = options.retries ?? 3;
  const backoffMs = options.backoffMs ?? 500;
  const statementTimeoutMs = options.statementTimeoutMs ?? 30_000;

  for (let attempt = 1; ; attempt++) {
    throwIfAborted(options.signal);
    let point: { lsn: string; at: Date };
    try {
      point = await callCitus(options.coordinator, options.name, lockTimeoutMs, statementTimeoutMs);
    } catch (err) {
      if ((err as { code?: string }).code === lockNotAvailable && attempt <= retries) {
        await sleep(backoffMs * 2 ** (attempt - 1), undefined, { signal: options.signal }).catch(
          () => throwIfAborted(options.signal),
        );
        continue;
      }
      throw explainFailure(err, options, attempt, lockTimeoutMs, statementTimeoutMs);
    }
    const nodeLsns = await readNodeLsns(options);
    return {
      name: options.name,
      label: options.label ?? options.name,
      createdAt: point.at.toISOString(),
      coordinatorLsn: formatLsn(parseLsn(point.lsn)),
      nodeLsns,
      attempts: attempt,
    };
  }
}

async function callCitus(
  client: pg.Client,
  name: string,
  lockTimeoutMs: number,
  statementTimeoutMs: number,
): Promise<{ lsn: string; at: Date }> {
  await client.query('BEGIN');
  try {
    await client.query(
      `SELECT set_config('lock_timeout', $1, true), set_config('statement_timeout', $2, true)`,
      [`${lockTimeoutMs}ms`, `${statementTimeoutMs}ms`],
    );
    const { rows } = await client.query<{ lsn: string; at: Date }>(
      'SELECT point::text AS lsn, clock_timestamp() AS at FROM pg_catalog.citus_create_restore_point($1) AS point',
      [name],
    );
    // The locks are held until the transaction ends: end it at once.
    await client.query('COMMIT');
    const row = rows[0];
    if (!row) throw new Error('citus_create_restore_point returned no row');
    return row;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

/**
 * Per node, a WAL position at or past its restore point, flushed when possible. A restore
 * point record does not flush WAL by itself: pg_current_wal_lsn() (the write position) can
 * still be before it, and on an idle node it could stay unflushed, so unstreamed, until the
 * next checkpoint. A transactional logical message (prefix `tidemark`) committed with
 * synchronous_commit = local flushes everything before it, the point included; where that
 * is not allowed, the insert position (also past the point) is recorded instead.
 */
async function readNodeLsns(options: CreateRestorePointOptions): Promise<Record<number, string>> {
  const entries = await Promise.all(
    options.nodes.map(async (node) => {
      try {
        return [
          node.nodeId,
          formatLsn(parseLsn(await flushedLsnAfterPoint(node.client, options.name))),
        ] as const;
      } catch (err) {
        throw new TidemarkError(
          'connection_failed',
          `Restore point "${options.name}" was written, but the WAL position of ${nodeLabel(node)} could not be read (${(err as Error).message}). The point cannot be proven restorable and will not be offered; check the connection to that node.`,
          { retryable: true, cause: err, details: { nodeId: node.nodeId } },
        );
      }
    }),
  );
  return Object.fromEntries(entries);
}

async function flushedLsnAfterPoint(client: pg.Client, name: string): Promise<string> {
  await client.query('BEGIN');
  try {
    await client.query(
      `SELECT set_config('synchronous_commit', 'local', true), pg_catalog.pg_logical_emit_message(true, 'tidemark', $1)`,
      [`restore point ${name}`],
    );
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    if (!isServerError(err)) throw err;
    const { rows } = await client.query<{ lsn: string }>(
      'SELECT pg_catalog.pg_current_wal_insert_lsn()::text AS lsn',
    );
    return rows[0]?.lsn ?? '';
  }
  const { rows } = await client.query<{ lsn: string }>(
    'SELECT pg_catalog.pg_current_wal_flush_lsn()::text AS lsn',
  );
  return rows[0]?.lsn ?? '';
}

/** An error the server sent (it has a SQLSTATE), as opposed to a broken connection. */
function isServerError(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) && !code.startsWith('08');
}

function explainFailure(
  err: unknown,
  options: CreateRestorePointOptions,
  attempts: number,
  lockTimeoutMs: number,
  statementTimeoutMs: number,
): TidemarkError {
  if (err instanceof TidemarkError) return err;
  const e = err as { code?: string; message?: string; where?: string };
  const message = e.message ?? String(err);
  const prefix = `Restore point "${options.name}" was not created`;
  if (e.code === lockNotAvailable) {
    return new TidemarkError(
      'conflict',
      `${prefix}: Citus metadata on the coordinator stayed locked through ${attempts} attempts (lock_timeout ${lockTimeoutMs} ms each). A long-running DDL, a node change or another restore point holds pg_dist_node, pg_dist_partition or pg_dist_transaction; find the session in pg_locks on the coordinator, or try again later.`,
      { retryable: true, cause: err, details: { attempts } },
    );
  }
  const remote = findRemoteNode(`${message}\n${e.where ?? ''}`, options.nodes);
  if (remote) {
    return new TidemarkError(
      'connection_failed',
      `${prefix}: the coordinator could not reach ${remote.label} (${message.split('\n')[0]}). Start that node or repair the network between it and the coordinator; no consistent restore point can be made while a node is down.`,
      {
        retryable: true,
        cause: err,
        details: { nodeId: remote.nodeId, host: remote.host, port: remote.port },
      },
    );
  }
  if (e.code === queryCanceled) {
    return new TidemarkError(
      'connection_failed',
      `${prefix}: it did not finish within ${statementTimeoutMs} ms; a worker may be hanging. Check that every worker answers.`,
      { retryable: true, cause: err },
    );
  }
  if (e.code === '42501' || /operation is not allowed$/.test(message)) {
    return new TidemarkError(
      'permission_denied',
      `${prefix}: citus_create_restore_point() needs a superuser. Connect as a superuser, or run on the coordinator: ALTER ROLE <user> SUPERUSER;`,
      { cause: err },
    );
  }
  if (/not allowed on this node/.test(message)) {
    return new TidemarkError(
      'invalid_input',
      `${prefix}: the connection is to a worker, not the coordinator. Point the cluster at its coordinator.`,
      { cause: err },
    );
  }
  if (!e.code) {
    return new TidemarkError(
      'connection_failed',
      `${prefix}: the connection to the coordinator failed (${message}).`,
      { retryable: true, cause: err },
    );
  }
  return new TidemarkError(
    'internal',
    `${prefix}: the coordinator answered ${e.code}: ${message}`,
    { cause: err },
  );
}

function findRemoteNode(
  text: string,
  nodes: RestorePointNode[],
): { label: string; nodeId?: number; host: string; port: number } | undefined {
  for (const pattern of remoteNodePatterns) {
    const match = pattern.exec(text);
    if (!match) continue;
    const host = match[1] as string;
    const port = Number(match[2]);
    const node = nodes.find((n) => n.name === host && n.port === port);
    if (node) return { label: nodeLabel(node), nodeId: node.nodeId, host, port };
    return { label: `node ${host}:${port}`, host, port };
  }
  return undefined;
}

function nodeLabel(node: RestorePointNode): string {
  if (node.label) return node.label;
  if (node.name !== undefined && node.port !== undefined)
    return `node ${node.name}:${node.port} (node ${node.nodeId})`;
  return `node ${node.nodeId}`;
}
