import type { Catalog } from './catalog.js';
import { layout } from './layout.js';

/** Objects stored as plaintext (they hold no secret, and a reader needs them before any key). */
export const plaintextKeys: ReadonlySet<string> = new Set([layout.marker(), layout.keyring()]);

/**
 * Every object the catalog says the repository holds: the documents of the repository
 * itself, then each cluster's and node's records, backups (record, manifest, archives), WAL
 * and restore points. Objects deleted on purpose are absent, so a repair driven by this
 * list never brings back what retention removed.
 */
export function expectedObjectKeys(catalog: Catalog): string[] {
  const keys = [layout.marker(), layout.keyring(), layout.lock()];
  for (const cluster of catalog.clusters()) {
    const clusterId = cluster.clusterId;
    keys.push(layout.cluster(clusterId));
    for (const point of catalog.restorePoints(clusterId))
      keys.push(layout.restorePoint(clusterId, new Date(point.createdAt), point.name));
    for (const node of catalog.nodes(clusterId)) {
      const nodeId = node.record.nodeId;
      keys.push(layout.node(clusterId, nodeId));
      for (const backup of node.backups) {
        keys.push(layout.backupRecord(clusterId, nodeId, backup.backupId));
        if (backup.manifestBytes > 0)
          keys.push(layout.backupManifest(clusterId, nodeId, backup.backupId));
        for (const archive of backup.archives)
          keys.push(layout.backupArchive(clusterId, nodeId, backup.backupId, archive.name));
      }
      for (const segment of node.walSegments)
        keys.push(layout.walSegment(clusterId, nodeId, segment));
      for (const segment of Object.keys(node.walPartials))
        keys.push(layout.walPartial(clusterId, nodeId, segment));
      for (const timeline of node.histories)
        keys.push(layout.walHistory(clusterId, nodeId, timeline));
      for (const gap of node.gaps)
        keys.push(layout.walGap(clusterId, nodeId, gap.timeline, gap.fromLsn.replace('/', '-')));
    }
  }
  return keys;
}
