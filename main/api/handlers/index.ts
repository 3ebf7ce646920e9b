import type { Engine } from '../../engine/engine.js';
import type { MethodInput, MethodName, MethodOutput } from '../contract/index.js';
import { coreHandlers } from './core-handlers.js';
import { devHandlers } from './dev-handlers.js';

/** One function per contract method; the type forces every method to have a handler. */
export type Handlers = { [M in MethodName]: (input: MethodInput<M>) => Promise<MethodOutput<M>> };

export type HandlerGroup<K extends MethodName> = { [M in K]: Handlers[M] };

export function createHandlers(engine: Engine): Handlers {
  return {
    ...coreHandlers(engine),
    ...devHandlers(engine),
  };
}
