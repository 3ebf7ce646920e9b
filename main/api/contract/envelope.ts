import { z } from 'zod';
import { errorCodes } from '../../engine/errors.js';

export const errorInfoSchema = z.object({
  code: z.enum(errorCodes),
  message: z.string(),
  retryable: z.boolean(),
  details: z.record(z.string(), z.unknown()).optional(),
});

export type ErrorInfo = z.infer<typeof errorInfoSchema>;

/** Every call answers with an envelope: errors are data across the boundary, never throws. */
export type Envelope<T> = { ok: true; value: T } | { ok: false; error: ErrorInfo };

/** The two wire channels: calls (request/response) and events (main → renderer). */
export const wireChannels = { call: 'tidemark:call', event: 'tidemark:event' } as const;
