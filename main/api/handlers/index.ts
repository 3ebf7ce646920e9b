import type { Engine } from '../../engine/engine.js';
import type { MethodName, MethodOutput, MethodParsedInput } from '../contract/index.js';
import { backupHandlers } from './backup-handlers.js';
import { clusterHandlers } from './cluster-handlers.js';
import { coreHandlers } from './core-handlers.js';
import { devHandlers } from './dev-handlers.js';
import { repositoryHandlers } from './repository-handlers.js';
import { restoreHandlers } from './restore-handlers.js';
import { timelineHandlers } from './timeline-handlers.js';

/** One function per contract method; the type forces every method to have a handler. */
export type Handlers = { [M in MethodName]: (input: MethodParsedInput<M>) => Promise<MethodOutput<M>> };

export type HandlerGroup<K extends MethodName> = { [M in K]: Handlers[M] };

export function createHandlers(engine: Engine): Handlers {
  return {
    ...coreHandlers(engine),
    ...devHandlers(engine),
    ...repositoryHandlers(engine),
    ...clusterHandlers(engine),
    ...backupHandlers(engine),
    ...restoreHandlers(engine),
    ...timelineHandlers(engine),
  };
}
