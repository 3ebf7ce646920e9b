import type { Engine } from '../../engine/engine.js';
import type { HandlerGroup } from './index.js';

export function coreHandlers(
  engine: Engine,
): HandlerGroup<'app.info' | 'jobs.list' | 'jobs.get' | 'jobs.cancel' | 'settings.get' | 'settings.update' | 'secrets.status' | 'secrets.set' | 'secrets.delete'> {
  return {
    'app.info': async () => ({
      version: engine.version,
      shell: engine.shell,
      platform: process.platform,
      secrets: engine.secrets.describe(),
    }),
    'jobs.list': async () => engine.jobs.list(),
    'jobs.get': async ({ id }) => engine.jobs.get(id),
    'jobs.cancel': async ({ id }) => engine.jobs.cancel(id),
    'settings.get': () => engine.settings.get(),
    'settings.update': (patch) => engine.settings.update(patch),
    'secrets.status': async ({ names }) => {
      const entries = await Promise.all(names.map(async (n) => [n, await engine.secrets.has(n)] as const));
      return Object.fromEntries(entries);
    },
    'secrets.set': async ({ name, value }) => {
      await engine.secrets.set(name, value);
      return { set: true as const };
    },
    'secrets.delete': async ({ name }) => {
      await engine.secrets.delete(name);
      return { deleted: true as const };
    },
  };
}
