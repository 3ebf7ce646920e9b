import type { Catalog } from '../../engine/catalog/catalog.js';
import { layout } from '../../engine/catalog/layout.js';
import { buildTimelineView, nearestRestorablePoint } from '../../engine/catalog/timeline-view.js';
import {
  parseTimelineHistory,
  type TimelineHistoryEntry,
} from '../../engine/catalog/wal-continuity.js';
import type { Engine } from '../../engine/engine.js';
import type { HandlerGroup } from './index.js';

export function timelineHandlers(
  engine: Pick<Engine, 'clusters' | 'repositories'>,
): HandlerGroup<'timeline.get' | 'timeline.nearestPoint'> {
  const open = async (clusterId: string) => {
    const config = await engine.clusters.get(clusterId);
    const [{ catalog }, repository] = await Promise.all([
      engine.repositories.open(config.repositoryId),
      engine.repositories.get(config.repositoryId),
    ]);
    return { catalog, retentionDays: repository.retentionDays };
  };
  return {
    'timeline.get': async ({ clusterId, from, to, buckets }) => {
      const { catalog, retentionDays } = await open(clusterId);
      return buildTimelineView(catalog, {
        clusterId,
        retentionDays,
        now: new Date(),
        ...(from ? { from: new Date(from) } : {}),
        ...(to ? { to: new Date(to) } : {}),
        ...(buckets === undefined ? {} : { buckets }),
        histories: await readHistories(catalog, clusterId),
      });
    },
    'timeline.nearestPoint': async ({ clusterId, at }) => {
      const { catalog } = await open(clusterId);
      return nearestRestorablePoint(catalog, clusterId, new Date(at));
    },
  };
}

/** The history files of nodes that switched timelines (rare, small): needed to follow their WAL. */
async function readHistories(
  catalog: Catalog,
  clusterId: string,
): Promise<Record<string, Record<number, TimelineHistoryEntry[]>>> {
  const out: Record<string, Record<number, TimelineHistoryEntry[]>> = {};
  for (const node of catalog.nodes(clusterId)) {
    const nodeId = node.record.nodeId;
    for (const timeline of node.histories) {
      if (timeline <= 1) continue;
      const text = (
        await catalog.repository.readObject(layout.walHistory(clusterId, nodeId, timeline))
      ).toString();
      (out[nodeId] ??= {})[timeline] = parseTimelineHistory(text);
    }
  }
  return out;
}
