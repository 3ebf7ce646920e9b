/**
 * The closed set of error codes that cross the API boundary. Each says what went wrong in a
 * way the UI can act on; the message says what the user should do next.
 */
export const errorCodes = [
  'invalid_input',
  'not_found',
  'unauthorized',
  'forbidden_sender',
  'wrong_passphrase',
  'connection_failed',
  'authentication_failed',
  'permission_denied',
  'preflight_failed',
  'zone_unavailable',
  'corrupt_object',
  'disk_full',
  'conflict',
  'locked',
  'cancelled',
  'target_unreachable',
  'unsupported',
  'internal',
] as const;

export type ErrorCode = (typeof errorCodes)[number];

export interface ErrorInfo {
  code: ErrorCode;
  message: string;
  retryable: boolean;
  details?: Record<string, unknown>;
}

export class TidemarkError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;
  readonly details?: Record<string, unknown>;

  constructor(
    code: ErrorCode,
    message: string,
    options: { retryable?: boolean; details?: Record<string, unknown>; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'TidemarkError';
    this.code = code;
    this.retryable = options.retryable ?? false;
    if (options.details) this.details = options.details;
  }

  toInfo(): ErrorInfo {
    const info: ErrorInfo = { code: this.code, message: this.message, retryable: this.retryable };
    if (this.details) info.details = this.details;
    return info;
  }
}

/** Anything thrown, as an ErrorInfo safe to send to a UI: unknown errors hide their internals. */
export function toErrorInfo(err: unknown): ErrorInfo {
  if (err instanceof TidemarkError) return err.toInfo();
  if (isAbortError(err)) return { code: 'cancelled', message: 'Cancelled.', retryable: true };
  return {
    code: 'internal',
    message: 'An unexpected error occurred; the log has the details.',
    retryable: false,
  };
}

export function isAbortError(err: unknown): boolean {
  return err instanceof Error && (err.name === 'AbortError' || (err as { code?: string }).code === 'ABORT_ERR');
}

/** Throws the signal's reason as a cancellation if it was aborted. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new TidemarkError('cancelled', 'Cancelled.', { retryable: true });
}
