import { Duplex, type Transform } from 'node:stream';
import type { Worker } from 'node:worker_threads';
import { TidemarkError, type ErrorCode } from '../errors.js';
import { startWorker } from '../threads/worker-entry.js';
import { createDecompressor, type CompressionKind } from './decompressor.js';

export type ToWorker = { type: 'data'; chunk: Uint8Array } | { type: 'end' } | { type: 'credit'; bytes: number };
export type FromWorker = { type: 'data'; chunk: Uint8Array } | { type: 'consumed'; bytes: number } | { type: 'end' } | { type: 'error'; code: ErrorCode; message: string };

/** Compressed bytes sent to the worker and not yet decompressed; above this writes wait. */
const maxInFlightBytes = 4 * 1024 * 1024;

/**
 * Like `createDecompressor`, but the decompression runs on a worker thread. Restoring a base
 * backup is CPU-bound on one thread (decrypt, decompress, parse the tar, issue writes); moving
 * the decompression (the largest share, for lz4 and zstd, which decode in JavaScript) to
 * another core lets it overlap the rest. gzip already runs on libuv's threads and `none` has
 * nothing to do: those stay in this thread, as does everything when no worker entry is built.
 */
export function createOffThreadDecompressor(kind: CompressionKind): Transform | Duplex {
  if (kind === 'none' || kind === 'gzip') return createDecompressor(kind);
  const worker = startWorker('decompress-worker', import.meta.url, { workerData: { kind } });
  return worker ? new ThreadedDecompressor(worker) : createDecompressor(kind);
}

class ThreadedDecompressor extends Duplex {
  private inFlight = 0;
  private waitingWrite: (() => void) | null = null;
  private waitingFinal: ((err?: Error | null) => void) | null = null;
  /** output delivered while the consumer was full: its credit is returned on the next read */
  private uncredited = 0;
  private finished = false;

  constructor(private readonly worker: Worker) {
    super({ readableHighWaterMark: 1024 * 1024 });
    worker.on('message', (message: FromWorker) => this.onMessage(message));
    worker.on('error', (err) => this.destroy(new TidemarkError('internal', `The decompression thread failed: ${err.message}`, { cause: err })));
    worker.on('exit', (code) => {
      if (!this.finished && !this.destroyed) this.destroy(new TidemarkError('internal', `The decompression thread stopped unexpectedly (exit code ${code}).`));
    });
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    if (chunk.length === 0) {
      callback();
      return;
    }
    // Transfer a buffer that owns its memory; copy a slice of a shared one.
    const owned = chunk.byteOffset === 0 && chunk.byteLength === chunk.buffer.byteLength && chunk.buffer instanceof ArrayBuffer ? chunk : Uint8Array.prototype.slice.call(chunk);
    this.inFlight += owned.byteLength;
    this.send({ type: 'data', chunk: owned }, [owned.buffer as ArrayBuffer]);
    if (this.inFlight < maxInFlightBytes) callback();
    else this.waitingWrite = () => callback();
  }

  override _final(callback: (err?: Error | null) => void): void {
    this.waitingFinal = callback;
    this.send({ type: 'end' });
  }

  override _read(): void {
    if (this.uncredited > 0) {
      this.send({ type: 'credit', bytes: this.uncredited });
      this.uncredited = 0;
    }
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    this.finished = true;
    void this.worker.terminate().finally(() => callback(err));
  }

  private onMessage(message: FromWorker): void {
    switch (message.type) {
      case 'data': {
        const bytes = message.chunk.byteLength;
        if (this.push(Buffer.from(message.chunk.buffer, message.chunk.byteOffset, bytes))) this.send({ type: 'credit', bytes });
        else this.uncredited += bytes;
        break;
      }
      case 'consumed':
        this.inFlight -= message.bytes;
        if (this.inFlight < maxInFlightBytes && this.waitingWrite) {
          const resume = this.waitingWrite;
          this.waitingWrite = null;
          resume();
        }
        break;
      case 'end':
        this.finished = true;
        this.waitingFinal?.();
        this.push(null);
        break;
      case 'error':
        this.destroy(new TidemarkError(message.code, message.message));
        break;
    }
  }

  private send(message: ToWorker, transfer: ArrayBuffer[] = []): void {
    if (!this.destroyed) this.worker.postMessage(message, transfer);
  }
}
