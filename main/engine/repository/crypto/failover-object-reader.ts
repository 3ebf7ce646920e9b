import { Readable } from 'node:stream';
import { TidemarkError, isAbortError, type ErrorCode } from '../../errors.js';
import type { Zone } from '../zone.js';
import type { MasterKey } from './master-key.js';
import { ObjectDecoder } from './object-cipher.js';
import { TAG_LENGTH } from './key-wrap.js';
import { corruptObject, HEADER_LENGTH } from './object-format.js';

export interface ZoneReadFailure {
  zoneId: string;
  objectKey: string;
  code: ErrorCode;
  /** the zone's or the decoder's error message */
  reason: string;
  /** where the next zone is asked to start */
  resumeOffset: number;
  /** chunks already delivered, which the next zone does not repeat */
  deliveredChunks: number;
}

export interface OpenObjectWithFailoverOptions {
  /** in read order */
  zones: readonly Zone[];
  objectKey: string;
  masterKey: MasterKey;
  signal?: AbortSignal;
  onZoneFailure?: (failure: ZoneReadFailure) => void;
}

/**
 * Authenticated plaintext of one object, read from the first zone that can supply it. Every
 * zone holds the same ciphertext, so when a zone is missing the object, fails to read or
 * serves bytes that do not authenticate, reading continues in the next zone at the first
 * chunk not yet delivered: each plaintext chunk is delivered exactly once, after its tag
 * verified.
 */
export function openObjectWithFailover(options: OpenObjectWithFailoverOptions): Readable {
  if (options.zones.length === 0) {
    throw new TidemarkError(
      'invalid_input',
      `Object ${options.objectKey} cannot be read: the repository has no zones to read from.`,
    );
  }
  const readable = Readable.from(readAcrossZones(options), { objectMode: false });
  const { signal } = options;
  if (signal) {
    const cancel = (): void => {
      readable.destroy(new TidemarkError('cancelled', 'Cancelled.', { retryable: true }));
    };
    if (signal.aborted) cancel();
    else {
      signal.addEventListener('abort', cancel, { once: true });
      readable.once('close', () => signal.removeEventListener('abort', cancel));
    }
  }
  return readable;
}

async function* readAcrossZones(options: OpenObjectWithFailoverOptions): AsyncGenerator<Buffer> {
  const { zones, objectKey, masterKey, signal } = options;
  const decoder = new ObjectDecoder(masterKey, objectKey);
  const failures: ZoneReadFailure[] = [];
  try {
    for (const zone of zones) {
      if (signal?.aborted) throw cancelled();
      decoder.discardPartial();
      const offset = decoder.resumeOffset;
      let failure: unknown;
      try {
        const source = await zone.get(objectKey, { offset, ...(signal ? { signal } : {}) });
        for await (const piece of source as AsyncIterable<Buffer>) {
          yield* decodeDeliveringFirst((deliver) => decoder.write(piece, deliver));
        }
        yield* decodeDeliveringFirst((deliver) => decoder.end(deliver));
        return;
      } catch (err) {
        if (
          signal?.aborted ||
          isAbortError(err) ||
          (err instanceof TidemarkError && err.code === 'cancelled')
        )
          throw cancelled();
        failure = err;
      }
      const record = describeFailure(zone.id, objectKey, failure, decoder);
      failures.push(record);
      options.onZoneFailure?.(record);
    }
    throw allZonesFailed(objectKey, failures);
  } finally {
    decoder.dispose();
  }
}

/**
 * Authenticates the two ends of an object in the first zone whose copy passes: the header (its
 * data key unwraps under the master key, bound to the object key) and the final chunk (its tag
 * verifies, with the final flag, at the index the stored size implies). Together they prove the
 * object is this repository's, complete and not extended, reading two small ranges instead of
 * every byte; the chunks between are authenticated when they are read.
 */
export async function authenticateObjectEnds(options: OpenObjectWithFailoverOptions): Promise<void> {
  const { zones, objectKey, masterKey, signal } = options;
  const failures: ZoneReadFailure[] = [];
  for (const zone of zones) {
    if (signal?.aborted) throw cancelled();
    const decoder = new ObjectDecoder(masterKey, objectKey);
    try {
      const info = await zone.stat(objectKey);
      if (!info) throw new TidemarkError('not_found', `Object ${objectKey} is not in zone ${zone.id}.`);
      decoder.write(await readRange(zone, objectKey, 0, Math.min(HEADER_LENGTH, info.size), 'header', signal), discard);
      if (!decoder.header) throw corruptObject(objectKey, 'header', 'the stored object is shorter than a header (truncated)');
      const piece = decoder.header.chunkSize + TAG_LENGTH;
      const finalIndex = Math.floor((info.size - HEADER_LENGTH) / piece);
      const finalOffset = decoder.chunkOffset(finalIndex);
      if (info.size - finalOffset < TAG_LENGTH) throw corruptObject(objectKey, finalIndex, 'the object ends before its final chunk (truncated)');
      decoder.skipTo(finalIndex);
      decoder.write(await readRange(zone, objectKey, finalOffset, info.size - finalOffset, finalIndex, signal), discard);
      decoder.end(discard);
      return;
    } catch (err) {
      if (signal?.aborted || isAbortError(err) || (err instanceof TidemarkError && err.code === 'cancelled')) throw cancelled();
      const record = describeFailure(zone.id, objectKey, err, decoder);
      failures.push(record);
      options.onZoneFailure?.(record);
    } finally {
      decoder.dispose();
    }
  }
  throw allZonesFailed(objectKey, failures);
}

const discard = (): void => undefined;

/** Exactly `length` bytes of a stored object from `offset`. */
async function readRange(zone: Zone, objectKey: string, offset: number, length: number, where: 'header' | number, signal: AbortSignal | undefined): Promise<Buffer> {
  const source = await zone.get(objectKey, { offset, ...(signal ? { signal } : {}) });
  const pieces: Buffer[] = [];
  let have = 0;
  try {
    for await (const piece of source as AsyncIterable<Buffer>) {
      pieces.push(piece);
      have += piece.length;
      if (have >= length) break;
    }
  } finally {
    source.destroy();
  }
  if (have < length) throw corruptObject(objectKey, where, `zone ${zone.id} returned fewer bytes than the size it lists (truncated while read)`);
  return Buffer.concat(pieces, have).subarray(0, length);
}

/** Chunks that authenticated before a failure in the same input are still delivered, then the failure is raised. */
function* decodeDeliveringFirst(
  step: (deliver: (plaintext: Buffer) => void) => void,
): Generator<Buffer> {
  const ready: Buffer[] = [];
  let failure: unknown;
  let failed = false;
  try {
    step((plaintext) => ready.push(plaintext));
  } catch (err) {
    failure = err;
    failed = true;
  }
  yield* ready;
  if (failed) throw failure;
}

function describeFailure(
  zoneId: string,
  objectKey: string,
  err: unknown,
  decoder: ObjectDecoder,
): ZoneReadFailure {
  const known = err instanceof TidemarkError;
  return {
    zoneId,
    objectKey,
    code: known ? err.code : 'zone_unavailable',
    reason: err instanceof Error ? err.message : String(err),
    resumeOffset: decoder.resumeOffset,
    deliveredChunks: decoder.deliveredChunks,
  };
}

function shortReason(failure: ZoneReadFailure): string {
  if (failure.code === 'not_found') return 'missing';
  const chunk = /failed authentication at (chunk \d+|its header)/.exec(failure.reason);
  if (chunk) return `failed authentication at ${chunk[1]}`;
  return failure.code;
}

/** Failures that say something about the stored bytes rather than about reaching them. */
const contentCodes: ReadonlySet<ErrorCode> = new Set([
  'not_found',
  'corrupt_object',
  'wrong_passphrase',
  'unsupported',
  'invalid_input',
]);

function allZonesFailed(objectKey: string, failures: ZoneReadFailure[]): TidemarkError {
  const codes = new Set(failures.map((f) => f.code));
  const tried = failures.map((f) => `${f.zoneId}: ${shortReason(f)}`).join('; ');
  const details = {
    objectKey,
    zones: failures.map(({ zoneId, code, reason }) => ({ zoneId, code, reason })),
  };
  const only = codes.size === 1 ? [...codes][0] : undefined;
  if (only === 'not_found') {
    return new TidemarkError(
      'not_found',
      `Object ${objectKey} is missing from every zone (${tried}). It was never stored or was deleted; check the zones' paths and the catalog.`,
      { details },
    );
  }
  if (only === 'wrong_passphrase') {
    return new TidemarkError(
      'wrong_passphrase',
      `Object ${objectKey} was encrypted with another master key in every zone (${tried}). Unlock the keyring of the repository that wrote it.`,
      { details },
    );
  }
  if (only === 'unsupported') {
    return new TidemarkError(
      'unsupported',
      `Object ${objectKey} uses a newer format in every zone (${tried}). Update Tidemark to read it.`,
      { details },
    );
  }
  const unreachable = failures.some((f) => !contentCodes.has(f.code));
  if (codes.has('corrupt_object') || codes.has('wrong_passphrase') || codes.has('unsupported')) {
    const advice = unreachable
      ? 'Zones that could not be reached may hold a good copy: try again once they are reachable.'
      : 'No zone holds a good copy; treat the object as lost.';
    return new TidemarkError(
      'corrupt_object',
      `Object ${objectKey} could not be read intact from any zone (${tried}). ${advice}`,
      { details, retryable: unreachable },
    );
  }
  return new TidemarkError(
    'zone_unavailable',
    `Object ${objectKey} could not be read from any zone (${tried}). Check that the zones are reachable and try again.`,
    { details, retryable: true },
  );
}

function cancelled(): TidemarkError {
  return new TidemarkError('cancelled', 'Cancelled.', { retryable: true });
}
