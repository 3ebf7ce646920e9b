/**
 * Worker-thread side of `createOffThreadDecompressor`: runs one decompressor on the chunks the
 * main thread sends and sends the output back, transferring buffers rather than copying them.
 * Protocol (see threaded-decompressor.ts): in `data`/`end`/`credit`, out `data`/`consumed`/
 * `end`/`error`.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { TidemarkError } from '../errors.js';
import { createDecompressor, type CompressionKind } from './decompressor.js';
import type { FromWorker, ToWorker } from './threaded-decompressor.js';

/** Input is fed in slices of this size so one write can expand into at most a few MB of output. */
const sliceBytes = 64 * 1024;
/** Output sent but not yet taken by the main thread's consumer; above this the decompressor pauses. */
const maxOutstandingBytes = 8 * 1024 * 1024;

const port = parentPort;
if (!port) throw new Error('decompress-worker runs only as a worker thread');
const decompressor = createDecompressor((workerData as { kind: CompressionKind }).kind);
let outstanding = 0;

const post = (message: FromWorker, transfer: ArrayBuffer[] = []): void => port.postMessage(message, transfer);

decompressor.on('data', (chunk: Buffer) => {
  // A buffer that owns its whole ArrayBuffer moves to the main thread; a pooled slice is copied first.
  const own = chunk.byteOffset === 0 && chunk.byteLength === chunk.buffer.byteLength && chunk.buffer instanceof ArrayBuffer ? chunk : Buffer.from(Uint8Array.prototype.slice.call(chunk));
  outstanding += own.byteLength;
  post({ type: 'data', chunk: own }, [own.buffer as ArrayBuffer]);
  if (outstanding > maxOutstandingBytes) decompressor.pause();
});
decompressor.on('end', () => {
  post({ type: 'end' });
  port.close();
});
decompressor.on('error', (err: unknown) => {
  const known = err instanceof TidemarkError ? err : null;
  post({ type: 'error', code: known?.code ?? 'corrupt_object', message: known?.message ?? `The compressed data is corrupt: ${(err as Error).message}` });
  port.close();
});

port.on('message', (message: ToWorker) => {
  switch (message.type) {
    case 'data': {
      const chunk = Buffer.from(message.chunk.buffer, message.chunk.byteOffset, message.chunk.byteLength);
      let pending = Math.ceil(chunk.length / sliceBytes);
      const consumed = (): void => {
        if (--pending === 0) post({ type: 'consumed', bytes: chunk.length });
      };
      for (let at = 0; at < chunk.length; at += sliceBytes) decompressor.write(chunk.subarray(at, at + sliceBytes), consumed);
      break;
    }
    case 'end':
      decompressor.end();
      break;
    case 'credit':
      outstanding -= message.bytes;
      if (outstanding <= maxOutstandingBytes && decompressor.isPaused()) decompressor.resume();
      break;
  }
});
