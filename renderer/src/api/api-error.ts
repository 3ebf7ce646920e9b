import type { ErrorInfo } from '../../../main/api/contract/index.js';

/** An error answer of the engine, rebuilt on this side. `message` is written for the user. */
export class ApiError extends Error {
  readonly code: ErrorInfo['code'];
  readonly retryable: boolean;
  readonly details?: Record<string, unknown>;

  constructor(info: ErrorInfo) {
    super(info.message);
    this.name = 'ApiError';
    this.code = info.code;
    this.retryable = info.retryable;
    if (info.details) this.details = info.details;
  }
}

/** Anything a call can throw, as a message fit for a toast. */
export function errorMessage(err: unknown): string {
  if (err instanceof ApiError) return err.message;
  if (err instanceof Error) return `Unexpected error in the Tidemark window: ${err.message}`;
  return 'Unexpected error in the Tidemark window.';
}
