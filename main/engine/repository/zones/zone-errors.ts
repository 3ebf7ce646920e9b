import { isAbortError, TidemarkError } from '../../errors.js';

/** What a zone was doing, for messages that name the zone, the place and the object. */
export interface ZoneErrorContext {
  zoneId: string;
  /** where the zone stores objects, e.g. `folder /mnt/backup` or `s3://bucket/prefix at http://…` */
  where: string;
  action: 'write' | 'read' | 'check' | 'list' | 'delete';
  key?: string;
}

export type ZoneFailure =
  | 'not_found'
  | 'missing_container'
  | 'unavailable'
  | 'authentication'
  | 'permission'
  | 'disk_full'
  | 'cancelled'
  | 'unknown';

/** Error names/codes each service uses, beyond HTTP status codes. */
export interface ServiceVocabulary {
  notFound: readonly string[];
  missingContainer: readonly string[];
  authentication: readonly string[];
  /** a 403 whose message matches is a credentials problem whatever its code says */
  authenticationMessage?: RegExp;
}

const errnoFailures: Record<string, ZoneFailure> = {
  ENOENT: 'not_found',
  ENOSPC: 'disk_full',
  EDQUOT: 'disk_full',
  EACCES: 'permission',
  EPERM: 'permission',
  EROFS: 'permission',
  // a network share or socket that went away
  ECONNREFUSED: 'unavailable',
  ECONNRESET: 'unavailable',
  ECONNABORTED: 'unavailable',
  ETIMEDOUT: 'unavailable',
  EHOSTUNREACH: 'unavailable',
  EHOSTDOWN: 'unavailable',
  ENETUNREACH: 'unavailable',
  ENETDOWN: 'unavailable',
  ENOTFOUND: 'unavailable',
  EAI_AGAIN: 'unavailable',
  EPIPE: 'unavailable',
  ENOTCONN: 'unavailable',
  ESTALE: 'unavailable',
  EIO: 'unavailable',
  UND_ERR_SOCKET: 'unavailable',
};

const timeoutNames = new Set([
  'TimeoutError',
  'RequestTimeout',
  'RequestTimeoutException',
  'ERR_HTTP_REQUEST_TIMEOUT',
]);

interface ErrorShape {
  name?: unknown;
  code?: unknown;
  Code?: unknown;
  statusCode?: unknown;
  $metadata?: { httpStatusCode?: unknown };
  cause?: unknown;
}

/** Sorts an error thrown by fs, an SDK or a socket into what it means for the zone. */
export function classifyZoneError(
  err: unknown,
  vocabulary?: ServiceVocabulary,
  depth = 0,
): ZoneFailure {
  if (err instanceof TidemarkError) return err.code === 'cancelled' ? 'cancelled' : 'unknown';
  if (isAbortError(err)) return 'cancelled';
  if (typeof err !== 'object' || err === null) return 'unknown';
  const shape = err as ErrorShape;
  const names = [shape.code, shape.Code, shape.name].filter(
    (n): n is string => typeof n === 'string',
  );
  const status = numberOr(shape.$metadata?.httpStatusCode) ?? numberOr(shape.statusCode);
  for (const name of names) {
    const errno = errnoFailures[name];
    if (errno) return errno;
    if (timeoutNames.has(name)) return 'unavailable';
    if (vocabulary?.missingContainer.includes(name)) return 'missing_container';
    if (vocabulary?.notFound.includes(name)) return 'not_found';
    if (vocabulary?.authentication.includes(name)) return 'authentication';
  }
  if (status !== undefined) {
    if (
      status === 403 &&
      err instanceof Error &&
      vocabulary?.authenticationMessage?.test(err.message)
    ) {
      return 'authentication';
    }
    if (status === 404) return 'not_found';
    if (status === 401) return 'authentication';
    if (status === 403) return 'permission';
    if (status === 408 || status === 429 || status >= 500) return 'unavailable';
  }
  // SDKs wrap socket errors; the errno is on the cause
  if (shape.cause !== undefined && depth < 3)
    return classifyZoneError(shape.cause, vocabulary, depth + 1);
  return 'unknown';
}

/** A TidemarkError for `failure` whose message names the zone and says what to do next. */
export function zoneError(
  failure: ZoneFailure,
  context: ZoneErrorContext,
  cause?: unknown,
): TidemarkError {
  if (cause instanceof TidemarkError) return cause;
  const zone = `Zone "${context.zoneId}" (${context.where})`;
  const object = context.key === undefined ? '' : ` "${context.key}"`;
  const reason = describeCause(cause);
  const details = {
    zoneId: context.zoneId,
    ...(context.key === undefined ? {} : { key: context.key }),
  };
  const options = (retryable: boolean) => ({ retryable, details, cause });
  switch (failure) {
    case 'not_found':
      return new TidemarkError(
        'not_found',
        `${zone} has no object${object}. Read it from another zone, or run a zone repair if it should be here.`,
        options(false),
      );
    case 'missing_container':
      return new TidemarkError(
        'zone_unavailable',
        `${zone} does not exist${reason}. Create it, or correct the zone's settings.`,
        options(false),
      );
    case 'unavailable':
      return new TidemarkError(
        'zone_unavailable',
        `${zone} cannot be reached${reason}. Check that the storage is online and its address is right; ` +
          'objects it misses are copied to it by a zone repair once it is back.',
        options(true),
      );
    case 'authentication':
      return new TidemarkError(
        'authentication_failed',
        `${zone} rejected the credentials${reason}. Check the access key and secret stored for this zone.`,
        options(false),
      );
    case 'permission':
      return new TidemarkError(
        'permission_denied',
        `${zone} refused to ${context.action}${object}: permission denied${reason}. ` +
          'Give the account Tidemark runs as read and write access to it.',
        options(false),
      );
    case 'disk_full':
      return new TidemarkError(
        'disk_full',
        `${zone} is full${reason} while writing${object}. Free space or enlarge the volume, then run a zone repair.`,
        options(true),
      );
    case 'cancelled':
      return new TidemarkError('cancelled', 'Cancelled.', { retryable: true, cause });
    case 'unknown':
      return new TidemarkError(
        'internal',
        `${zone} failed to ${context.action}${object}${reason}. The log has the details.`,
        options(false),
      );
  }
}

/** classify + zoneError in one step, for the zones' catch blocks. */
export function toZoneError(
  err: unknown,
  context: ZoneErrorContext,
  vocabulary?: ServiceVocabulary,
): TidemarkError {
  return zoneError(classifyZoneError(err, vocabulary), context, err);
}

/** `ZoneUnavailable`-style code plus a short message; never includes request signatures. */
function describeCause(cause: unknown): string {
  if (!(cause instanceof Error)) return '';
  const shape = cause as ErrorShape;
  const code = [shape.code, shape.Code, shape.name].find(
    (n) => typeof n === 'string' && n !== 'Error',
  );
  const message = cause.message.split('\n')[0]?.slice(0, 200) ?? '';
  if (code && message && !message.includes(String(code))) return ` (${String(code)}: ${message})`;
  return message ? ` (${message})` : code ? ` (${String(code)})` : '';
}

function numberOr(value: unknown): number | undefined {
  return typeof value === 'number' ? value : undefined;
}

/** An offset past the end is a caller error; an offset equal to the size reads nothing. */
export function checkReadOffset(context: ZoneErrorContext, offset: number, size?: number): void {
  if (!Number.isSafeInteger(offset) || offset < 0 || (size !== undefined && offset > size)) {
    throw new TidemarkError(
      'invalid_input',
      `Zone "${context.zoneId}" cannot read "${context.key}" from byte ${offset}` +
        `${size === undefined ? '' : `; it has ${size} bytes`}. Resume from an offset within the object.`,
    );
  }
}
