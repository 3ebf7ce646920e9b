import { PassThrough, Readable } from 'node:stream';
import { TidemarkError } from '../../errors.js';
import type { ZoneObjectInfo } from '../zone.js';
import { checkReadOffset, zoneError, type ZoneErrorContext } from './zone-errors.js';

/** Runs `fn` once if `signal` aborts; returns a disposer so long-lived signals do not pile up listeners. */
export function onAbort(signal: AbortSignal | undefined, fn: () => void): () => void {
  if (!signal) return () => {};
  if (signal.aborted) {
    fn();
    return () => {};
  }
  signal.addEventListener('abort', fn, { once: true });
  return () => signal.removeEventListener('abort', fn);
}

export function cancelledError(): TidemarkError {
  return new TidemarkError('cancelled', 'Cancelled.', { retryable: true });
}

/**
 * Re-emits `source` through a PassThrough whose errors are TidemarkErrors (a read that breaks
 * midway names its zone), and releases the source when the reader stops early or `signal` aborts.
 */
export function readableFromZone(
  source: Readable,
  mapError: (err: unknown) => Error,
  signal?: AbortSignal,
): Readable {
  const out = new PassThrough();
  const dispose = onAbort(signal, () => out.destroy(cancelledError()));
  source.on('error', (err) => out.destroy(mapError(err)));
  out.on('close', () => {
    dispose();
    if (!source.destroyed) source.destroy();
  });
  source.pipe(out);
  return out;
}

export function emptyReadable(): Readable {
  return Readable.from([]);
}

/**
 * Services answer "416 range not satisfiable" for a read starting exactly at the end; that is
 * an empty read when the object has that size, a missing object or a bad offset otherwise.
 */
export async function readFromEnd(
  stat: () => Promise<ZoneObjectInfo | null>,
  offset: number,
  context: ZoneErrorContext,
): Promise<Readable> {
  const info = await stat();
  if (!info) throw zoneError('not_found', context);
  checkReadOffset(context, offset, info.size);
  return emptyReadable();
}
