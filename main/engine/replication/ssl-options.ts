import type { ConnectionOptions } from 'node:tls';

/** libpq's sslmode values that Tidemark supports (`allow` is left out: it never helps). */
export const sslModes = ['disable', 'prefer', 'require', 'verify-ca', 'verify-full'] as const;
export type SslMode = (typeof sslModes)[number];

export interface ReplicationSslConfig {
  mode: SslMode;
  /** PEM of the CA that signed the server certificate */
  ca?: string;
  /** PEM client certificate and key, for `cert` authentication */
  cert?: string;
  key?: string;
}

/** `pg`'s `ssl` value for one connection attempt: `false` means plain TCP. */
export type PgSsl = false | ConnectionOptions;

/**
 * The `ssl` settings to try in order, mapping libpq's sslmode onto what `pg` (Node's TLS) can do:
 * - `disable`: plain TCP.
 * - `prefer`: TLS without verification; `pg` itself has no fallback, so when the server refuses
 *   TLS the caller tries again in plain TCP (the second entry), as libpq does.
 * - `require`: TLS without verification. Like libpq with a root certificate present, a given
 *   `ca` turns it into `verify-ca`.
 * - `verify-ca`: the chain must lead to `ca` (Node's bundled public roots without it); the host
 *   name is not checked.
 * - `verify-full`: chain and host name (or IP address SAN) are checked.
 * Not possible with `pg`: libpq's `~/.postgresql` default files, CRLs (`sslcrl`), and
 * `sslmode=allow`.
 */
export function pgSslAttempts(ssl: ReplicationSslConfig | undefined): PgSsl[] {
  const mode = ssl?.mode ?? 'prefer';
  const clientCert: ConnectionOptions = {};
  if (ssl?.cert !== undefined) clientCert.cert = ssl.cert;
  if (ssl?.key !== undefined) clientCert.key = ssl.key;
  const unverified: ConnectionOptions = { ...clientCert, rejectUnauthorized: false };
  const chainOnly: ConnectionOptions = {
    ...clientCert,
    ...(ssl?.ca !== undefined ? { ca: ssl.ca } : {}),
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
      return [ssl?.ca !== undefined ? chainOnly : unverified];
    case 'verify-ca':
      return [chainOnly];
    case 'verify-full':
      return [
        {
          ...clientCert,
          ...(ssl?.ca !== undefined ? { ca: ssl.ca } : {}),
          rejectUnauthorized: true,
        },
      ];
  }
}
