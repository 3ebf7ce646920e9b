import { isIP } from 'node:net';
import { TidemarkError } from '../errors.js';

/**
 * `pg_hba.conf` and `pg_ident.conf` of a restored node. The source's access rules are never
 * copied (they name the source's networks). While isolated, the only way in is the node's own
 * unix socket, as the bootstrap superuser, for the OS users that run Tidemark and the server.
 */

/** The pg_ident map name Tidemark's rules use. */
export const identMapName = 'tidemark';

export type HbaMethod = 'scram-sha-256' | 'md5' | 'cert' | 'trust' | 'reject';

export interface AccessRules {
  /** `host all all 127.0.0.1/32` and `::1/128` (default true) */
  allowLocalhost?: boolean;
  /** further client networks the user allowed, as CIDRs (e.g. 10.1.0.0/16) */
  clientCidrs?: string[];
  /** method for TCP connections (default scram-sha-256) */
  method?: HbaMethod;
}

/** Rules while the node is restored and isolated: its own unix socket only, no TCP at all. */
export function isolatedHba(superuser: string): string {
  return hbaFile([localPeerLine(superuser)]);
}

/**
 * Rules of the finished node: local peer access for the superuser, the user's choices, and the
 * other restored nodes (Citus nodes connect to each other).
 */
export function finalHba(superuser: string, rules: AccessRules, peerHosts: readonly string[]): string {
  const method = rules.method ?? 'scram-sha-256';
  const lines = [localPeerLine(superuser)];
  if (rules.allowLocalhost ?? true) {
    lines.push(hostLine('127.0.0.1/32', method), hostLine('::1/128', method));
  }
  for (const cidr of rules.clientCidrs ?? []) lines.push(hostLine(checkCidr(cidr), method));
  const seen = new Set(lines);
  for (const host of peerHosts) {
    const line = hostLine(peerAddress(host), method);
    if (!seen.has(line)) lines.push(line);
    seen.add(line);
  }
  return hbaFile(lines);
}

/** Maps the OS users that may connect over the socket to the bootstrap superuser. */
export function identFile(osUsers: readonly string[], superuser: string): string {
  const lines = [...new Set(osUsers)].map((user) => `${identMapName} ${hbaToken(user)} ${hbaToken(superuser)}`);
  return `# Written by Tidemark for a restored node.\n${lines.join('\n')}\n`;
}

function localPeerLine(superuser: string): string {
  return `local all ${hbaToken(superuser)} peer map=${identMapName}`;
}

function hostLine(address: string, method: HbaMethod): string {
  return `host all all ${address} ${method}`;
}

function hbaFile(lines: string[]): string {
  return `# Written by Tidemark for a restored node; the source's rules were not copied.\n${lines.join('\n')}\n`;
}

/** A user name as pg_hba/pg_ident read it: double-quoted unless it is a plain word. */
function hbaToken(name: string): string {
  if (name === '' || /["\n\r\0]/.test(name)) {
    throw new TidemarkError('invalid_input', `The role or user name "${name}" cannot be written to pg_hba.conf; use a name without quotes or line breaks.`);
  }
  if (/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(name) && !['all', 'sameuser', 'samerole', 'replication'].includes(name)) return name;
  return `"${name}"`;
}

function checkCidr(cidr: string): string {
  const [address, prefix, extra] = cidr.trim().split('/');
  const family = isIP(address ?? '');
  const bits = Number(prefix);
  const max = family === 6 ? 128 : 32;
  if (family === 0 || extra !== undefined || prefix === undefined || !/^\d+$/.test(prefix) || bits > max) {
    throw new TidemarkError('invalid_input', `"${cidr}" is not a network in CIDR form; write it like 10.1.0.0/16 or fd00::/8.`);
  }
  return `${address}/${bits}`;
}

/** A restored node's address as a pg_hba address: a single IP, or a host name. */
function peerAddress(host: string): string {
  const family = isIP(host);
  if (family === 4) return `${host}/32`;
  if (family === 6) return `${host}/128`;
  if (!/^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$/.test(host)) {
    throw new TidemarkError('invalid_input', `"${host}" is neither an IP address nor a host name; check the node's address.`);
  }
  return host;
}
