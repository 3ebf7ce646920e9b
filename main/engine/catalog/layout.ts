/**
 * Where every object lives inside a repository (the same in every zone). The layout is
 * self-describing: one zone plus the passphrase is enough to rebuild the whole catalog.
 * See docs/repository-format.md.
 */

const idPattern = /^[a-z0-9][a-z0-9_-]{0,62}$/;

function id(kind: string, value: string): string {
  if (!idPattern.test(value)) throw new Error(`Invalid ${kind} id "${value}"`);
  return value;
}

/** Timeline as PostgreSQL writes it in file names: 8 upper-case hex digits. */
export function timelineHex(timeline: number): string {
  return timeline.toString(16).toUpperCase().padStart(8, '0');
}

export const layout = {
  /** plaintext marker: format and repository id, so a tool can tell what it is looking at */
  marker: () => 'tidemark-repository.json',
  /** plaintext keyring: wrapped master key and KDF parameters, no secret */
  keyring: () => 'keys/keyring.json',
  /** encrypted: the deletion lock */
  lock: () => 'lock.json',

  cluster: (cluster: string) => `clusters/${id('cluster', cluster)}/cluster.json`,
  clustersPrefix: () => 'clusters/',
  node: (cluster: string, node: string) => `clusters/${id('cluster', cluster)}/nodes/${id('node', node)}/node.json`,
  nodesPrefix: (cluster: string) => `clusters/${id('cluster', cluster)}/nodes/`,

  backupPrefix: (cluster: string, node: string, backup: string) =>
    `clusters/${id('cluster', cluster)}/nodes/${id('node', node)}/backups/${id('backup', backup)}/`,
  backupsPrefix: (cluster: string, node: string) => `clusters/${id('cluster', cluster)}/nodes/${id('node', node)}/backups/`,
  /** written LAST: a backup without it is not complete, whatever else exists */
  backupRecord: (cluster: string, node: string, backup: string) => `${layout.backupPrefix(cluster, node, backup)}backup.json`,
  backupArchive: (cluster: string, node: string, backup: string, archive: string) =>
    `${layout.backupPrefix(cluster, node, backup)}archives/${archive}`,
  backupManifest: (cluster: string, node: string, backup: string) => `${layout.backupPrefix(cluster, node, backup)}backup_manifest`,

  walPrefix: (cluster: string, node: string) => `clusters/${id('cluster', cluster)}/nodes/${id('node', node)}/wal/`,
  /** a complete segment, named as in pg_wal */
  walSegment: (cluster: string, node: string, segmentName: string) =>
    `${layout.walPrefix(cluster, node)}${segmentName.slice(0, 8)}/${segmentName}`,
  /** the segment being written; replaced on every flush, removed once the segment is complete */
  walPartial: (cluster: string, node: string, segmentName: string) =>
    `${layout.walPrefix(cluster, node)}${segmentName.slice(0, 8)}/${segmentName}.partial`,
  walHistory: (cluster: string, node: string, timeline: number) =>
    `${layout.walPrefix(cluster, node)}history/${timelineHex(timeline)}.history`,
  walGap: (cluster: string, node: string, timeline: number, fromLsnHex: string) =>
    `clusters/${id('cluster', cluster)}/nodes/${id('node', node)}/gaps/${timelineHex(timeline)}-${fromLsnHex}.json`,

  /** restore points grouped by UTC day so listing a time range reads few prefixes */
  restorePoint: (cluster: string, createdAt: Date, name: string) =>
    `clusters/${id('cluster', cluster)}/restore-points/${createdAt.toISOString().slice(0, 10).replaceAll('-', '')}/${name}.json`,
  restorePointsPrefix: (cluster: string) => `clusters/${id('cluster', cluster)}/restore-points/`,
};
