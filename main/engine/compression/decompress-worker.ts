/**
 * Worker-thread side of `createOffThreadDecompressor`: drives one PullDecoder on the chunks the
 * main thread sends and sends the output back, handing over memory rather than copying it.
 * Output goes out only while the main thread's consumer keeps up (credit), and input is
 * acknowledged once decoded, so memory stays bounded however well the data compresses.
 * Protocol (threaded-decompressor.ts): in `data`/`end`/`credit`; out `data`/`consumed`/`end`/`error`.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { TidemarkError } from '../errors.js';
import { createPullDecoder } from './decompressor.js';
import type { FromWorker, ToWorker } from './threaded-decompressor.js';

/** Output sent but not yet taken by the main thread's consumer; above this, decoding waits. */
const maxOutstandingBytes = 8 * 1024 * 1024;

if (!parentPort) throw new Error('decompress-worker runs only as a worker thread');
const port = parentPort;
const decoder = createPullDecoder((workerData as { kind: 'lz4' | 'zstd' }).kind);
let outstanding = 0;
let received = 0;
let acknowledged = 0;
let ended = false;
let stopped = false;

const post = (message: FromWorker, transfer: ArrayBuffer[] = []): void => port.postMessage(message, transfer);

function pump(): void {
  if (stopped) return;
  let exhausted = false;
  try {
    while (outstanding <= maxOutstandingBytes) {
      const piece = decoder.read();
      if (!piece) {
        exhausted = true;
        break;
      }
      // Pieces are the consumer's own (pull-decoder.ts): their memory moves to the main thread,
      // except a slice of Node's shared small-buffer pool, which is copied first.
      const own = piece.buffer instanceof ArrayBuffer && piece.buffer.byteLength > Buffer.poolSize ? piece : Buffer.from(Uint8Array.prototype.slice.call(piece));
      outstanding += own.byteLength;
      post({ type: 'data', chunk: own }, [own.buffer as ArrayBuffer]);
    }
  } catch (err) {
    stopped = true;
    const known = err instanceof TidemarkError ? err : null;
    post({ type: 'error', code: known?.code ?? 'corrupt_object', message: known?.message ?? `The compressed data is corrupt: ${(err as Error).message}` });
    port.close();
    return;
  }
  const decoded = received - decoder.buffered;
  if (decoded > acknowledged) {
    post({ type: 'consumed', bytes: decoded - acknowledged });
    acknowledged = decoded;
  }
  if (ended && exhausted) {
    // read() returned null after end() without throwing: the stream is complete
    stopped = true;
    post({ type: 'end' });
    port.close();
  }
}

port.on('message', (message: ToWorker) => {
  switch (message.type) {
    case 'data':
      received += message.chunk.byteLength;
      decoder.write(Buffer.from(message.chunk.buffer, message.chunk.byteOffset, message.chunk.byteLength));
      break;
    case 'end':
      ended = true;
      decoder.end();
      break;
    case 'credit':
      outstanding -= message.bytes;
      break;
  }
  pump();
});
