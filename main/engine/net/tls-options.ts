import { readFile } from 'node:fs/promises';
import { checkServerIdentity, type ConnectionOptions } from 'node:tls';
import { TidemarkError } from '../errors.js';

/** libpq's sslmode values that Tidemark supports (allow is left out: it only weakens prefer). */
export const sslModes = ['disable', 'prefer', 'require', 'verify-ca', 'verify-full'] as const;
export type SslMode = (typeof sslModes)[number];

export interface TlsSettings {
  sslmode: SslMode;
  /** PEM file with the CA certificate(s) that signed the server certificate */
  caFile?: string | undefined;
  /** PEM client certificate and key, for `cert` authentication */
  certFile?: string | undefined;
  keyFile?: string | undefined;
}

/**
 * The `ssl` option of a `pg` client for one connection attempt, following libpq's meaning
 * of sslmode:
 * - disable → no TLS;
 * - prefer, require → TLS without certificate checks, except that a CA file turns require
 *   into verify-ca, as libpq does when a root certificate is present (prefer's fallback to
 *   plain text is the caller's: see `tlsFallbackAllowed`);
 * - verify-ca → the chain must lead to the CA file (or a system CA), any host name;
 * - verify-full → verify-ca plus the host name must match the certificate.
 */
export async function pgSslOption(
  settings: TlsSettings,
  host: string,
  keyPassphrase?: string,
): Promise<false | ConnectionOptions> {
  if (settings.sslmode === 'disable') return false;
  const options: ConnectionOptions = {};
  const ca = settings.caFile ? await readPem(settings.caFile, 'CA certificate') : undefined;
  if (settings.certFile) options.cert = await readPem(settings.certFile, 'client certificate');
  if (settings.keyFile) options.key = await readPem(settings.keyFile, 'client key');
  if (keyPassphrase) options.passphrase = keyPassphrase;
  const verify =
    settings.sslmode === 'verify-ca' ||
    settings.sslmode === 'verify-full' ||
    (settings.sslmode === 'require' && ca !== undefined);
  if (!verify) return { ...options, rejectUnauthorized: false };
  if (ca) options.ca = ca;
  options.rejectUnauthorized = true;
  // The chain is checked by rejectUnauthorized. pg sets SNI only for host names, so check
  // the name against `host` ourselves (IP addresses included); verify-ca skips the name.
  options.checkServerIdentity =
    settings.sslmode === 'verify-full'
      ? (_servername, cert) => checkServerIdentity(host, cert)
      : () => undefined;
  return options;
}

/** prefer: try TLS, and fall back to plain text only when the server has no TLS at all. */
export function tlsFallbackAllowed(sslmode: SslMode, err: unknown): boolean {
  return (
    sslmode === 'prefer' &&
    err instanceof Error &&
    /does not support SSL connections/i.test(err.message)
  );
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
