import type { EventName, EventPayload } from '../api/contract/index.js';
import type { Engine } from '../engine/engine.js';

/** One contract event with its payload. */
export type ContractEvent = { [E in EventName]: { event: E; payload: EventPayload<E> } }[EventName];

/** Where a transport gets the events it pushes to its UI. */
export interface EngineEventSource {
  /** Calls `listener` for every event until the returned function is called. */
  subscribe(listener: (event: ContractEvent) => void): () => void;
}

/** The engine's events as contract events: a job change is `job.updated`. */
export function engineEventSource(engine: Pick<Engine, 'jobs'>): EngineEventSource {
  return {
    subscribe(listener) {
      const onJob = (job: EventPayload<'job.updated'>) =>
        listener({ event: 'job.updated', payload: job });
      engine.jobs.on('changed', onJob);
      return () => engine.jobs.off('changed', onJob);
    },
  };
}
