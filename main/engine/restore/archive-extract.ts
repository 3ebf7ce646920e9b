import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Worker } from 'node:worker_threads';
import { createDecompressor, type CompressionKind } from '../compression/decompressor.js';
import { TidemarkError, type ErrorCode } from '../errors.js';
import { startWorker } from '../threads/worker-entry.js';
import { extractTarInto, type FileOwner } from './tar-extract.js';

export type ToExtractWorker = { type: 'data'; chunk: Uint8Array } | { type: 'end' };
export type FromExtractWorker =
  | { type: 'consumed'; bytes: number }
  | { type: 'progress'; bytes: number }
  | { type: 'done'; files: number; bytes: number }
  | { type: 'error'; code: ErrorCode; message: string; retryable: boolean };

export interface ArchiveExtractOptions {
  compression: CompressionKind;
  owner?: FileOwner | null;
  signal?: AbortSignal;
  /** tar bytes unpacked so far (cumulative) */
  onBytes?: (bytes: number) => void;
}

/** Stored bytes handed to the worker and not yet decoded; above this, reading waits. */
const maxInFlightBytes = 4 * 1024 * 1024;

/**
 * Unpacks a base-backup archive as stored (compressed or not) into `dir`. Decompressing and
 * unpacking run on a worker thread: restoring is CPU-bound, and the main thread already reads
 * and decrypts (and runs the rest of the engine, whose large heap made every collection of the
 * unpacked buffers costly). Without a built worker entry it all runs here.
 */
export async function extractArchiveOffThread(dir: string, archive: Readable, options: ArchiveExtractOptions): Promise<{ files: number; bytes: number }> {
  const worker = startWorker('archive-extract-worker', import.meta.url, { workerData: { dir, compression: options.compression, owner: options.owner ?? null } });
  if (!worker) {
    const decompressor = createDecompressor(options.compression);
    const [, result] = await Promise.all([
      pipeline(archive, decompressor, options.signal ? { signal: options.signal } : {}),
      extractTarInto(dir, decompressor, { owner: options.owner ?? null, ...(options.onBytes ? { onBytes: options.onBytes } : {}) }),
    ]);
    return result;
  }
  return new ExtractionOnWorker(worker, archive, options).run();
}

class ExtractionOnWorker {
  private inFlight = 0;
  private acknowledged: (() => void) | null = null;
  private readonly finished: Promise<{ files: number; bytes: number }>;

  constructor(
    private readonly worker: Worker,
    private readonly archive: Readable,
    private readonly options: ArchiveExtractOptions,
  ) {
    this.finished = new Promise((resolve, reject) => {
      worker.on('message', (message: FromExtractWorker) => {
        switch (message.type) {
          case 'consumed':
            this.inFlight -= message.bytes;
            this.acknowledged?.();
            break;
          case 'progress':
            options.onBytes?.(message.bytes);
            break;
          case 'done':
            options.onBytes?.(message.bytes);
            resolve({ files: message.files, bytes: message.bytes });
            break;
          case 'error':
            reject(new TidemarkError(message.code, message.message, { retryable: message.retryable }));
            break;
        }
      });
      worker.on('error', (err) => reject(new TidemarkError('internal', `The extraction thread failed: ${err.message}`, { cause: err })));
      worker.on('exit', (code) => reject(new TidemarkError('internal', `The extraction thread stopped before it finished (exit code ${code}).`)));
    });
  }

  async run(): Promise<{ files: number; bytes: number }> {
    const { signal } = this.options;
    const cancel = (): void => {
      this.archive.destroy(new TidemarkError('cancelled', 'Cancelled.', { retryable: true }));
    };
    signal?.addEventListener('abort', cancel, { once: true });
    const feeding = this.feed();
    try {
      // The first failure wins: the source's (a chunk that does not authenticate) or the worker's.
      const [result] = await Promise.all([this.finished, feeding]);
      return result;
    } catch (err) {
      this.archive.destroy();
      throw signal?.aborted ? new TidemarkError('cancelled', 'Cancelled.', { retryable: true }) : err;
    } finally {
      signal?.removeEventListener('abort', cancel);
      await this.worker.terminate();
      await feeding.catch(() => undefined);
    }
  }

  private async feed(): Promise<void> {
    if (this.options.signal?.aborted) throw new TidemarkError('cancelled', 'Cancelled.', { retryable: true });
    const stopped = this.finished.then(
      () => 'stopped' as const,
      () => 'stopped' as const,
    );
    for await (const piece of this.archive as AsyncIterable<Buffer>) {
      if (piece.length === 0) continue;
      // Memory that is the piece's alone moves to the worker; a view into a larger buffer is copied.
      const own = piece.byteOffset === 0 && piece.byteLength === piece.buffer.byteLength && piece.buffer instanceof ArrayBuffer ? piece : Buffer.from(piece);
      this.inFlight += own.byteLength;
      this.worker.postMessage({ type: 'data', chunk: own } satisfies ToExtractWorker, [own.buffer as ArrayBuffer]);
      while (this.inFlight > maxInFlightBytes) {
        const acked = new Promise<void>((resolve) => (this.acknowledged = resolve));
        if ((await Promise.race([acked, stopped])) === 'stopped') return;
      }
    }
    this.worker.postMessage({ type: 'end' } satisfies ToExtractWorker);
  }
}

