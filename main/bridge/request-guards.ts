import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

/** Checks every request to the web bridge must pass: token, Host, Origin. */

/** The WebSocket sub-protocol a client asks for; the token may travel as a second one. */
export const bridgeProtocol = 'tidemark';
export const tokenProtocolPrefix = 'tidemark-token.';

/** A fresh per-run secret: 32 random bytes, base64url. */
export function createToken(): string {
  return randomBytes(32).toString('base64url');
}

/** Constant-time comparison, whatever the lengths. */
export function tokensEqual(given: string | null | undefined, expected: string): boolean {
  if (typeof given !== 'string' || given.length === 0) return false;
  const digest = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(given), digest(expected));
}

/** The Host header must name the bridge itself; anything else is a DNS-rebinding attempt. */
export function isAllowedHost(host: string | undefined, port: number): boolean {
  return host === `127.0.0.1:${port}` || host === `localhost:${port}`;
}

/** The origins of the pages the bridge serves itself. */
export function ownOrigins(port: number): string[] {
  return [`http://127.0.0.1:${port}`, `http://localhost:${port}`];
}

/** The token from `?token=` or from a `tidemark-token.<token>` WebSocket sub-protocol. */
export function tokenFromRequest(req: IncomingMessage): string | null {
  const url = new URL(req.url ?? '/', 'http://127.0.0.1');
  const fromQuery = url.searchParams.get('token');
  if (fromQuery) return fromQuery;
  const offered = req.headers['sec-websocket-protocol'];
  if (typeof offered !== 'string') return null;
  const entry = offered
    .split(',')
    .map((p) => p.trim())
    .find((p) => p.startsWith(tokenProtocolPrefix));
  return entry ? entry.slice(tokenProtocolPrefix.length) : null;
}
