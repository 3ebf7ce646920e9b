import type { Engine } from '../../engine/engine.js';
import type { HandlerGroup } from './index.js';

type ClusterMethod =
  | 'clusters.list'
  | 'clusters.add'
  | 'clusters.check'
  | 'clusters.remove'
  | 'clusters.refresh'
  | 'clusters.setNodeAddress'
  | 'restorePoints.create'
  | 'restorePoints.list';

export function clusterHandlers(engine: Pick<Engine, 'clusters'>): HandlerGroup<ClusterMethod> {
  const { clusters } = engine;
  return {
    'clusters.list': () => clusters.list(),
    'clusters.add': (input) => clusters.add(input),
    'clusters.check': ({ id }) => clusters.check(id),
    'clusters.remove': ({ id }) => clusters.remove(id),
    'clusters.refresh': ({ id }) => clusters.refreshTopology(id),
    'clusters.setNodeAddress': async ({ id, node, address }) => {
      await clusters.setNodeOverride(id, node, address);
      return (await clusters.list()).find((c) => c.config.id === id)!;
    },
    'restorePoints.create': ({ clusterId, label }) =>
      clusters.restorePoints.create(clusterId, label === undefined ? {} : { label }),
    'restorePoints.list': async ({ clusterId, from, to, status, limit }) => {
      const range = {
        ...(from ? { from: new Date(from) } : {}),
        ...(to ? { to: new Date(to) } : {}),
      };
      const [points, total] = await Promise.all([
        clusters.restorePoints.list(clusterId, {
          ...range,
          ...(status ? { status } : {}),
          ...(limit === undefined ? {} : { limit }),
        }),
        clusters.restorePoints.count(clusterId, range),
      ]);
      return { points, total };
    },
  };
}
