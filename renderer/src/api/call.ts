import type {
  Envelope,
  EventName,
  EventPayload,
  MethodInput,
  MethodName,
  MethodOutput,
  TidemarkBridge,
} from '../../../main/api/contract/index.js';
import { ApiError } from './api-error.js';

let activeBridge: TidemarkBridge | null = null;

/** Set once at start by main.tsx, after the transport is picked. */
export function setBridge(bridge: TidemarkBridge): void {
  activeBridge = bridge;
}

function bridge(): TidemarkBridge {
  if (!activeBridge) throw new Error('No transport to the Tidemark engine was set up.');
  return activeBridge;
}

/** Calls one API method and unwraps its envelope: the value, or a thrown ApiError. */
export async function call<M extends MethodName>(
  method: M,
  input: MethodInput<M>,
): Promise<MethodOutput<M>> {
  // TypeScript cannot correlate `M` across the mapped bridge type; the contract guarantees it.
  const send = bridge()[method] as unknown as (
    input: MethodInput<M>,
  ) => Promise<Envelope<MethodOutput<M>>>;
  const envelope = await send(input);
  if (!envelope.ok) throw new ApiError(envelope.error);
  return envelope.value;
}

export function subscribe<E extends EventName>(
  event: E,
  listener: (payload: EventPayload<E>) => void,
): () => void {
  return bridge().on(event, listener);
}
