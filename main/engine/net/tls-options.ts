import { readFile } from 'node:fs/promises';
import { checkServerIdentity, type ConnectionOptions } from 'node:tls';
import { TidemarkError } from '../errors.js';
import type { SslMode } from './ssl-modes.js';

export { sslModes, type SslMode } from './ssl-modes.js';

/** TLS settings as configured: certificates and keys are files (the cluster settings). */
export interface TlsSettings {
  sslmode: SslMode;
  /** PEM file with the CA certificate(s) that signed the server certificate */
  caFile?: string | undefined;
  /** PEM client certificate and key, for `cert` authentication */
  certFile?: string | undefined;
  keyFile?: string | undefined;
}

/** TLS settings with the PEM material loaded (what a connection attempt needs). */
export interface TlsConfig {
  mode: SslMode;
  /** PEM of the CA that signed the server certificate */
  ca?: string | undefined;
  /** PEM client certificate and key, for `cert` authentication */
  cert?: string | undefined;
  key?: string | undefined;
  /** passphrase of an encrypted client key */
  passphrase?: string | undefined;
}

/** `pg`'s `ssl` value for one connection attempt: `false` means plain TCP. */
export type PgSsl = false | ConnectionOptions;

/**
 * The `ssl` settings to try in order, mapping libpq's sslmode onto what `pg` (Node's TLS) can do:
 * - `disable`: plain TCP.
 * - `prefer`: TLS without verification; `pg` itself has no fallback, so the second entry is
 *   plain TCP, for the caller to try when `tlsFallbackAllowed` says so (as libpq does).
 * - `require`: TLS without verification. Like libpq with a root certificate present, a given
 *   `ca` turns it into `verify-ca`.
 * - `verify-ca`: the chain must lead to `ca` (Node's bundled public roots without it); the host
 *   name is not checked.
 * - `verify-full`: chain and host name are checked. `pg` sets SNI only for host names, so with
 *   `host` given the name is checked against it ourselves (IP addresses included).
 * Not possible with `pg`: libpq's `~/.postgresql` default files, CRLs (`sslcrl`), and
 * `sslmode=allow`.
 */
export function pgSslAttempts(tls: TlsConfig | undefined, host?: string): PgSsl[] {
  const mode = tls?.mode ?? 'prefer';
  const clientCert: ConnectionOptions = {};
  if (tls?.cert !== undefined) clientCert.cert = tls.cert;
  if (tls?.key !== undefined) clientCert.key = tls.key;
  if (tls?.passphrase !== undefined) clientCert.passphrase = tls.passphrase;
  const ca = tls?.ca !== undefined ? { ca: tls.ca } : {};
  const unverified: ConnectionOptions = { ...clientCert, rejectUnauthorized: false };
  const chainOnly: ConnectionOptions = {
    ...clientCert,
    ...ca,
    rejectUnauthorized: true,
    // verify-ca: the chain is checked by rejectUnauthorized, the name deliberately is not
    checkServerIdentity: () => undefined,
  };
  switch (mode) {
    case 'disable':
      return [false];
    case 'prefer':
      return [unverified, false];
    case 'require':
      return [tls?.ca !== undefined ? chainOnly : unverified];
    case 'verify-ca':
      return [chainOnly];
    case 'verify-full':
      return [
        {
          ...clientCert,
          ...ca,
          rejectUnauthorized: true,
          ...(host !== undefined
            ? { checkServerIdentity: (_servername: string, cert) => checkServerIdentity(host, cert) }
            : {}),
        } satisfies ConnectionOptions,
      ];
  }
}

/** Reads the PEM files named by `settings`; a file that cannot be read names itself. */
export async function loadTlsConfig(settings: TlsSettings, keyPassphrase?: string): Promise<TlsConfig> {
  const config: TlsConfig = { mode: settings.sslmode };
  if (settings.sslmode === 'disable') return config;
  if (settings.caFile) config.ca = await readPem(settings.caFile, 'CA certificate');
  if (settings.certFile) config.cert = await readPem(settings.certFile, 'client certificate');
  if (settings.keyFile) config.key = await readPem(settings.keyFile, 'client key');
  if (keyPassphrase) config.passphrase = keyPassphrase;
  return config;
}

/**
 * The `ssl` option of a `pg` client for the first connection attempt (see `pgSslAttempts`);
 * prefer's fallback to plain text is the caller's: see `tlsFallbackAllowed`.
 */
export async function pgSslOption(settings: TlsSettings, host: string, keyPassphrase?: string): Promise<PgSsl> {
  const [first] = pgSslAttempts(await loadTlsConfig(settings, keyPassphrase), host);
  return first ?? false;
}

/**
 * prefer: after a failed TLS attempt, libpq tries plain text when the server has no TLS at all,
 * or when pg_hba.conf has no line for a TLS connection from us (e.g. only `hostnossl`).
 */
export function tlsFallbackAllowed(sslmode: SslMode, err: unknown): boolean {
  if (sslmode !== 'prefer' || !(err instanceof Error)) return false;
  if (/does not support SSL connections/i.test(err.message)) return true;
  return (err as { code?: string }).code === '28000' && /SSL encryption|SSL on/.test(err.message);
}

async function readPem(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new TidemarkError(
      'invalid_input',
      `The ${what} file ${path} cannot be read (${reason}). Fix the path in the connection settings.`,
      {
        cause: err,
        details: { path },
      },
    );
  }
}
