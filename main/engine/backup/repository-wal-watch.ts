import { layout } from '../catalog/layout.js';
import { TidemarkError } from '../errors.js';
import { formatLsn, segmentNumberOf, segmentStartLsn, walSegmentFileName } from '../replication/lsn.js';
import type { NodeWalObjects } from './wal-objects.js';

/**
 * Waits until the repository holds a node's WAL up to `lsn` on `timeline`, written by whoever
 * archives that node (another Tidemark process of this installation, e.g. the agent, holds the
 * slot). Looks at the zones themselves: that process's catalog index is not ours.
 */
export async function waitUntilWalInRepository(
  objects: NodeWalObjects,
  segmentSize: number,
  lsn: bigint,
  timeline: number,
  options: { timeoutMs: number; signal?: AbortSignal; pollMs?: number; where: string },
): Promise<void> {
  const segment = segmentNumberOf(lsn > 0n ? lsn - 1n : 0n, segmentSize);
  const name = walSegmentFileName(timeline, segment, segmentSize);
  const segmentKey = layout.walSegment(objects.clusterId, objects.nodeId, name);
  const partialKey = layout.walPartial(objects.clusterId, objects.nodeId, name);
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    if (options.signal?.aborted) throw new TidemarkError('cancelled', `Waiting for the WAL of ${options.where} was cancelled.`, { retryable: true });
    const keys = new Set((await objects.repository.list(segmentKey)).objects.map((o) => o.key));
    if (keys.has(segmentKey)) {
      objects.catalog.noteWalSegment(objects.clusterId, objects.nodeId, name);
      return;
    }
    if (keys.has(partialKey)) {
      const bytes = (await objects.repository.readObject(partialKey)).length;
      if (segmentStartLsn(segment, segmentSize) + BigInt(bytes) >= lsn) {
        objects.catalog.noteWalPartial(objects.clusterId, objects.nodeId, name, bytes);
        return;
      }
    }
    if (Date.now() >= deadline) {
      throw new TidemarkError(
        'connection_failed',
        `The WAL of ${options.where} up to ${formatLsn(lsn)} did not reach the repository within ${Math.round(options.timeoutMs / 1000)} s. Another Tidemark process streams this node's WAL: check that it runs, archives into this same repository, and can reach its zones.`,
        { retryable: true },
      );
    }
    await new Promise((resolve) => setTimeout(resolve, options.pollMs ?? 1000));
  }
}
