import { TidemarkError } from '../errors.js';
import type { SslMode } from '../net/tls-options.js';

/** The parts of pg-protocol's DatabaseError (an ErrorResponse) that are used here. */
interface ServerError {
  code: string;
  message: string;
  severity?: string;
  detail?: string;
  hint?: string;
}

export function isServerError(err: unknown): err is ServerError {
  if (!(err instanceof Error)) return false;
  const { code, severity } = err as { code?: unknown; severity?: unknown };
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) && typeof severity === 'string';
}

const networkCodes = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EADDRNOTAVAIL',
]);
const certificateCodes = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_SIGNATURE_FAILURE',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);
/** SQLSTATEs that mean the server is going away or not taking connections now */
const serverGoingAwayStates = new Set(['57P01', '57P02', '57P03', '08006', '08003', '08000']);

export interface ConnectContext {
  /** `host:port` */
  node: string;
  user: string;
  sslMode: SslMode;
  connectTimeoutMs: number;
  /** wal_level read over a normal connection when the walsender refused: explains max_wal_senders = 0 */
  walLevel?: string;
  /** a plain-TCP attempt was turned away by pg_hba.conf, and a TLS attempt got past it */
  tlsAccepted?: boolean;
}

/** Maps a failed replication connection attempt to an error that says what to change. */
export function connectError(err: unknown, ctx: ConnectContext): TidemarkError {
  if (err instanceof TidemarkError) return err;
  const { node, user } = ctx;
  if (isServerError(err)) {
    const details = { sqlstate: err.code, server: err.message };
    const options = { details, cause: err };
    if (err.code === '28P01') {
      return new TidemarkError(
        'authentication_failed',
        `PostgreSQL at ${node} rejected the password for role "${user}". Check the user name and password configured for this node.`,
        options,
      );
    }
    if (err.code === '28000') {
      if (ctx.tlsAccepted) {
        return new TidemarkError(
          'permission_denied',
          `PostgreSQL at ${node} accepts replication connections from this address only over TLS (hostssl in pg_hba.conf), but the node's SSL mode is "${ctx.sslMode}". Set the SSL mode to "require" or stricter.`,
          options,
        );
      }
      if (/pg_hba.conf rejects/.test(err.message)) {
        return new TidemarkError(
          'permission_denied',
          `pg_hba.conf on ${node} explicitly rejects this replication connection (${err.message}). Change the matching "reject" line for role "${user}" and this address, then reload the server (SELECT pg_reload_conf()).`,
          options,
        );
      }
      if (/replication connection/.test(err.message)) {
        return new TidemarkError(
          'permission_denied',
          `pg_hba.conf on ${node} has no "replication" line for role "${user}" from this address (${err.message}). Add a line such as "host replication ${user} <this machine's address>/32 scram-sha-256" and reload the server (SELECT pg_reload_conf()).`,
          options,
        );
      }
      return new TidemarkError(
        'permission_denied',
        `PostgreSQL at ${node} refused role "${user}": ${err.message}. Fix pg_hba.conf or the role, then reload the server.`,
        options,
      );
    }
    if (err.code === '42501') {
      return new TidemarkError(
        'permission_denied',
        `Role "${user}" on ${node} may not stream WAL: it lacks the REPLICATION attribute (${err.message}). Run ALTER ROLE "${user}" REPLICATION as a superuser, or use a role that has it.`,
        options,
      );
    }
    if (err.code === '53300' && /max_wal_senders/.test(err.message)) {
      if (/currently 0\b/.test(err.message)) {
        const walLevel = ctx.walLevel === 'minimal' ? ' and wal_level is minimal' : '';
        return new TidemarkError(
          'preflight_failed',
          `PostgreSQL at ${node} cannot stream WAL: max_wal_senders is 0${walLevel}. Set wal_level = replica and max_wal_senders = 10 (at least 2 per Tidemark backup) in postgresql.conf and restart the server.`,
          {
            ...options,
            details: { ...details, ...(ctx.walLevel ? { walLevel: ctx.walLevel } : {}) },
          },
        );
      }
      return new TidemarkError(
        'preflight_failed',
        `PostgreSQL at ${node} has no free WAL sender (${err.message}). Stop unused replication clients or raise max_wal_senders (Tidemark needs 2 per node) and restart the server.`,
        { ...options, retryable: true },
      );
    }
    if (err.code === '53300') {
      return new TidemarkError(
        'connection_failed',
        `PostgreSQL at ${node} has no free connection slot (${err.message}). Retry later or raise max_connections.`,
        { ...options, retryable: true },
      );
    }
    if (serverGoingAwayStates.has(err.code)) {
      return new TidemarkError(
        'connection_failed',
        `PostgreSQL at ${node} is not accepting connections now (${err.message}). Retry when the server is up.`,
        { ...options, retryable: true },
      );
    }
    return new TidemarkError(
      'connection_failed',
      `PostgreSQL at ${node} refused the replication connection: ${err.message} (SQLSTATE ${err.code}).`,
      options,
    );
  }
  const message = err instanceof Error ? err.message : String(err);
  const code = (err as { code?: unknown } | null)?.code;
  if (message === 'The server does not support SSL connections') {
    return new TidemarkError(
      'connection_failed',
      `PostgreSQL at ${node} does not accept TLS (ssl = off), but the node's SSL mode is "${ctx.sslMode}". Turn on ssl in the server's postgresql.conf, or choose SSL mode "prefer" or "disable" if unencrypted traffic is acceptable on this network.`,
      { cause: err },
    );
  }
  if (typeof code === 'string' && certificateCodes.has(code)) {
    return new TidemarkError(
      'connection_failed',
      `The TLS certificate of ${node} failed verification (${code}: ${message}). Give the CA certificate that signed the server certificate, and for "verify-full" connect with a host name the certificate names.`,
      { cause: err, details: { tls: code } },
    );
  }
  if (message === 'timeout expired') {
    return new TidemarkError(
      'connection_failed',
      `PostgreSQL at ${node} did not answer within ${Math.round(ctx.connectTimeoutMs / 1000)} s. Check that the server is running and reachable on this address, and that no firewall drops the traffic.`,
      { cause: err, retryable: true },
    );
  }
  if (
    (typeof code === 'string' && networkCodes.has(code)) ||
    /Connection terminated/.test(message)
  ) {
    return new TidemarkError(
      'connection_failed',
      `Cannot connect to PostgreSQL at ${node} (${typeof code === 'string' ? code : message}). Check that the server is running and listens on this address (listen_addresses, port), and that no firewall blocks it.`,
      { cause: err, retryable: true },
    );
  }
  return new TidemarkError(
    'connection_failed',
    `Cannot open a replication connection to ${node}: ${message}.`,
    { cause: err },
  );
}

export interface CommandContext {
  node: string;
  /** what was being done, e.g. "the base backup" */
  what: string;
}

/** Maps a failure while a replication command runs to an error that says what to change. */
export function commandError(err: unknown, ctx: CommandContext): TidemarkError {
  if (err instanceof TidemarkError) return err;
  const { node, what } = ctx;
  if (isServerError(err)) {
    const options = { details: { sqlstate: err.code, server: err.message }, cause: err };
    if (err.code === '53400' || /all replication slots are in use/.test(err.message)) {
      return new TidemarkError(
        'preflight_failed',
        `PostgreSQL at ${node} has no free replication slot (${err.message}). Drop unused slots (see pg_replication_slots) or raise max_replication_slots and restart the server.`,
        options,
      );
    }
    if (err.code === '55000' && /max_replication_slots|wal_level/.test(err.message)) {
      return new TidemarkError(
        'preflight_failed',
        `PostgreSQL at ${node} cannot use replication slots (${err.message}). Set max_replication_slots = 10 and wal_level = replica in postgresql.conf and restart the server.`,
        options,
      );
    }
    if (err.code === '42710') {
      return new TidemarkError(
        'conflict',
        `${capitalise(what)} failed on ${node}: ${err.message}. Use the existing slot or drop it first.`,
        options,
      );
    }
    if (err.code === '42704') {
      return new TidemarkError(
        'not_found',
        `${capitalise(what)} failed on ${node}: ${err.message}.`,
        options,
      );
    }
    if (err.code === '55006') {
      return new TidemarkError(
        'conflict',
        `${capitalise(what)} failed on ${node}: ${err.message}. Another process uses it; stop that client first.`,
        options,
      );
    }
    if (err.code === 'XX001') {
      return new TidemarkError(
        'corrupt_object',
        `PostgreSQL at ${node} found damaged data pages during ${what} (${err.message}). This backup is not usable: check the server log for the files with checksum failures and repair them before backing up again.`,
        options,
      );
    }
    if (err.code === '58P01' && /has already been removed/.test(err.message)) {
      return new TidemarkError(
        'not_found',
        `PostgreSQL at ${node} no longer has the WAL needed for ${what} (${err.message}). The WAL chain has a gap: take a new full backup, and keep Tidemark's replication slot so the server retains WAL until it is archived.`,
        options,
      );
    }
    if (err.code === '58P01') {
      return new TidemarkError(
        'not_found',
        `${capitalise(what)} failed on ${node}: ${err.message}.`,
        options,
      );
    }
    if (serverGoingAwayStates.has(err.code)) {
      return new TidemarkError(
        'connection_failed',
        `PostgreSQL at ${node} ended the connection during ${what} (${err.message}): the server is shutting down or restarting. Retry when it is back.`,
        { ...options, retryable: true },
      );
    }
    if (err.code === '42501') {
      return new TidemarkError(
        'permission_denied',
        `PostgreSQL at ${node} refused ${what}: ${err.message}. Grant the role the needed privilege.`,
        options,
      );
    }
    return new TidemarkError(
      'internal',
      `PostgreSQL at ${node} refused ${what}: ${err.message} (SQLSTATE ${err.code}).`,
      options,
    );
  }
  const message = err instanceof Error ? err.message : String(err);
  return new TidemarkError(
    'connection_failed',
    `The connection to ${node} was lost during ${what} (${message}). Check that the server is running and reachable; the operation can be retried.`,
    { cause: err, retryable: true },
  );
}

function capitalise(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
