/** Recognises catalog object keys (see layout.ts) so a listing can be turned back into a catalog. */
export type ParsedKey =
  | { kind: 'cluster'; cluster: string }
  | { kind: 'node'; cluster: string; node: string }
  | { kind: 'backup-record'; cluster: string; node: string; backup: string }
  | { kind: 'backup-part'; cluster: string; node: string; backup: string }
  | { kind: 'wal-segment'; cluster: string; node: string; segment: string }
  | { kind: 'wal-partial'; cluster: string; node: string; segment: string }
  | { kind: 'wal-history'; cluster: string; node: string; timeline: number }
  | { kind: 'gap'; cluster: string; node: string }
  | { kind: 'restore-point'; cluster: string; name: string }
  | { kind: 'other' };

const seg = '([0-9A-F]{24})';
const patterns: [RegExp, (m: RegExpMatchArray) => ParsedKey][] = [
  [/^clusters\/([^/]+)\/cluster\.json$/, (m) => ({ kind: 'cluster', cluster: m[1]! })],
  [/^clusters\/([^/]+)\/nodes\/([^/]+)\/node\.json$/, (m) => ({ kind: 'node', cluster: m[1]!, node: m[2]! })],
  [/^clusters\/([^/]+)\/nodes\/([^/]+)\/backups\/([^/]+)\/backup\.json$/, (m) => ({ kind: 'backup-record', cluster: m[1]!, node: m[2]!, backup: m[3]! })],
  [/^clusters\/([^/]+)\/nodes\/([^/]+)\/backups\/([^/]+)\/.+$/, (m) => ({ kind: 'backup-part', cluster: m[1]!, node: m[2]!, backup: m[3]! })],
  [new RegExp(`^clusters/([^/]+)/nodes/([^/]+)/wal/[0-9A-F]{8}/${seg}$`), (m) => ({ kind: 'wal-segment', cluster: m[1]!, node: m[2]!, segment: m[3]! })],
  [new RegExp(`^clusters/([^/]+)/nodes/([^/]+)/wal/[0-9A-F]{8}/${seg}\\.partial$`), (m) => ({ kind: 'wal-partial', cluster: m[1]!, node: m[2]!, segment: m[3]! })],
  [/^clusters\/([^/]+)\/nodes\/([^/]+)\/wal\/history\/([0-9A-F]{8})\.history$/, (m) => ({ kind: 'wal-history', cluster: m[1]!, node: m[2]!, timeline: parseInt(m[3]!, 16) })],
  [/^clusters\/([^/]+)\/nodes\/([^/]+)\/gaps\/[^/]+\.json$/, (m) => ({ kind: 'gap', cluster: m[1]!, node: m[2]! })],
  [/^clusters\/([^/]+)\/restore-points\/\d{8}\/([^/]+)\.json$/, (m) => ({ kind: 'restore-point', cluster: m[1]!, name: m[2]! })],
];

export function parseCatalogKey(key: string): ParsedKey {
  for (const [re, make] of patterns) {
    const m = key.match(re);
    if (m) return make(m);
  }
  return { kind: 'other' };
}
