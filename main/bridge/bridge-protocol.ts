import { z } from 'zod';
import type { Envelope } from '../api/contract/index.js';
import type { ContractEvent } from './engine-events.js';

/**
 * The WebSocket protocol of the web bridge (JSON text frames):
 *   client → server  {id, method, input}      one API call
 *   server → client  {id, result: envelope}   its answer, same id
 *   server → client  {event, payload}         a contract event
 */
export const bridgeRequestSchema = z
  .object({
    id: z.union([z.string().max(200), z.number().int()]),
    method: z.string().max(200),
    input: z.unknown().optional(),
  })
  .strict();

export type BridgeRequest = z.infer<typeof bridgeRequestSchema>;
export type RequestId = BridgeRequest['id'];
export interface BridgeResponse {
  /** null when the request was too malformed to have an id */
  id: RequestId | null;
  result: Envelope<unknown>;
}
export type BridgeEventMessage = ContractEvent;

/** A frame as a request, or an invalid_input envelope saying why it is not one. */
export function parseBridgeRequest(
  text: string,
): { ok: true; request: BridgeRequest } | { ok: false; response: BridgeResponse } {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return {
      ok: false,
      response: refusal(null, 'The message is not valid JSON; send {"id", "method", "input"}.'),
    };
  }
  const parsed = bridgeRequestSchema.safeParse(raw);
  if (parsed.success) return { ok: true, request: parsed.data };
  const id = idOf(raw);
  return {
    ok: false,
    response: refusal(
      id,
      'The message must be an object {"id", "method", "input"} with a string or integer id.',
    ),
  };
}

export function refusal(id: RequestId | null, message: string): BridgeResponse {
  return { id, result: { ok: false, error: { code: 'invalid_input', message, retryable: false } } };
}

function idOf(raw: unknown): RequestId | null {
  if (typeof raw !== 'object' || raw === null) return null;
  const id = (raw as { id?: unknown }).id;
  return (typeof id === 'string' && id.length <= 200) ||
    (typeof id === 'number' && Number.isInteger(id))
    ? id
    : null;
}
