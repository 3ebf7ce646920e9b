import { Readable } from 'node:stream';
import { layout } from '../catalog/layout.js';
import { TidemarkError } from '../errors.js';
import { parseTimelineHistoryFileName } from '../replication/lsn.js';
import type { Repository } from '../repository/repository.js';
import type { NodePlan, RestorePlan } from './restore-planner.js';
import type { NodeRestoreSource, RestoreArchive } from './restore-source.js';

/** A node's restore input read from the repository: decrypted, failing over between zones. */
export function repositoryRestoreSource(repository: Repository, plan: RestorePlan, node: NodePlan, walSegmentSize: number): NodeRestoreSource {
  const { backup } = node;
  const archives: RestoreArchive[] = backup.archives.map((a) => ({
    name: a.name,
    tablespaceOid: a.tablespaceOid,
    tablespacePath: a.tablespacePath,
    compression: backup.compression,
    bytes: a.bytes,
  }));
  const planned = new Set(node.walFiles);
  const partials = new Set(node.partialSegments);
  return {
    nodeId: node.nodeId,
    serverConfig: backup.serverConfig,
    walSegmentSize,
    backupStartLsn: backup.startLsn,
    dataBytes: backup.dataBytes,
    archives,
    walFiles: node.walFiles,
    async openArchive(name, signal) {
      if (!archives.some((a) => a.name === name)) throw new TidemarkError('not_found', `Backup ${backup.backupId} has no archive ${name}.`);
      return repository.openObject(layout.backupArchive(plan.clusterId, node.nodeId, backup.backupId, name), signal ? { signal } : {});
    },
    async openWal(fileName, signal) {
      if (!planned.has(fileName)) return null;
      const options = signal ? { signal } : {};
      const timeline = parseTimelineHistoryFileName(fileName);
      if (timeline !== null) return repository.openObject(layout.walHistory(plan.clusterId, node.nodeId, timeline), options);
      if (!partials.has(fileName)) return repository.openObject(layout.walSegment(plan.clusterId, node.nodeId, fileName), options);
      // PostgreSQL reads whole segments: pad the partial with zeros, as pg_receivewal's files are.
      const partial = await repository.readObject(layout.walPartial(plan.clusterId, node.nodeId, fileName), options);
      if (partial.length > walSegmentSize) throw new TidemarkError('corrupt_object', `The partial WAL segment ${fileName} of node ${node.nodeId} is larger than a segment.`);
      return Readable.from([partial, Buffer.alloc(walSegmentSize - partial.length)]);
    },
  };
}
