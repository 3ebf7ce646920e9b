import type { z } from 'zod';
import { backupEvents, backupMethods } from './backups.js';
import { clusterEvents, clusterMethods } from './clusters.js';
import { appMethods, jobEvents, jobMethods, secretMethods, settingsMethods } from './core.js';
import { devMethods } from './dev.js';
import type { Envelope } from './envelope.js';
import { repositoryMethods } from './repositories.js';
import { restoreMethods } from './restores.js';
import { timelineMethods } from './timeline.js';

export * from './envelope.js';
export type { MethodSpec } from './define.js';

/**
 * Every API method, `noun.verb`. The preload, the main-process dispatcher, the web bridge
 * and the renderer are all derived from this one table.
 */
export const methods = {
  ...appMethods,
  ...jobMethods,
  ...settingsMethods,
  ...secretMethods,
  ...repositoryMethods,
  ...clusterMethods,
  ...backupMethods,
  ...restoreMethods,
  ...timelineMethods,
  ...devMethods,
};

/** Every event the engine pushes to the UI, `noun.event`, with its payload. */
export const events = {
  ...jobEvents,
  ...clusterEvents,
  ...backupEvents,
};

export type Methods = typeof methods;
export type MethodName = keyof Methods;
export type MethodInput<M extends MethodName> = z.input<Methods[M]['input']>;
/** The input after validation, with defaults applied: what a handler receives. */
export type MethodParsedInput<M extends MethodName> = z.output<Methods[M]['input']>;
export type MethodOutput<M extends MethodName> = z.output<Methods[M]['output']>;
export type EventName = keyof typeof events;
export type EventPayload<E extends EventName> = z.output<(typeof events)[E]>;

export const methodNames = Object.keys(methods) as MethodName[];
export const eventNames = Object.keys(events) as EventName[];

export function isMethodName(name: unknown): name is MethodName {
  return typeof name === 'string' && Object.hasOwn(methods, name);
}

/** The API as the renderer sees it: one async function per method, answering an envelope. */
export type TidemarkApi = {
  [M in MethodName]: (input: MethodInput<M>) => Promise<Envelope<MethodOutput<M>>>;
};

/** The event side of the API, as exposed by the preload and the web transport. */
export interface TidemarkEvents {
  on<E extends EventName>(event: E, listener: (payload: EventPayload<E>) => void): () => void;
}

/** What the preload puts on `window.tidemark`: every method, plus `on` for events. */
export type TidemarkBridge = TidemarkApi & TidemarkEvents;
