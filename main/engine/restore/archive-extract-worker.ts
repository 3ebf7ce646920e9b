/**
 * Worker-thread side of `extractArchiveOffThread`: decompresses a base-backup archive and
 * unpacks its tar into a folder, so the main thread only reads and decrypts. Protocol
 * (archive-extract.ts): in `data`/`end`; out `consumed`/`progress`/`done`/`error`.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { createDecompressor, type CompressionKind } from '../compression/decompressor.js';
import { TidemarkError } from '../errors.js';
import type { FromExtractWorker, ToExtractWorker } from './archive-extract.js';
import { extractTarInto, type FileOwner } from './tar-extract.js';

/** Progress is reported in steps of this many bytes (each report is a message to the main thread). */
const progressStepBytes = 4 * 1024 * 1024;

if (!parentPort) throw new Error('archive-extract-worker runs only as a worker thread');
const port = parentPort;
const { dir, compression, owner } = workerData as { dir: string; compression: CompressionKind; owner: FileOwner | null };
const post = (message: FromExtractWorker): void => port.postMessage(message);

const decompressor = createDecompressor(compression);
let reported = 0;
extractTarInto(dir, decompressor, {
  owner,
  onBytes: (bytes) => {
    if (bytes - reported < progressStepBytes) return;
    reported = bytes;
    post({ type: 'progress', bytes });
  },
}).then(
  (result) => {
    post({ type: 'done', ...result });
    port.close();
  },
  (err: unknown) => {
    const known = err instanceof TidemarkError ? err : null;
    const code = (err as NodeJS.ErrnoException).code;
    post({
      type: 'error',
      code: known?.code ?? 'internal',
      message: known?.message ?? `Extracting into ${dir} failed: ${(err as Error).message}${code ? ` (${code})` : ''}`,
      retryable: known?.retryable ?? false,
    });
    port.close();
  },
);

port.on('message', (message: ToExtractWorker) => {
  if (message.type === 'end') {
    decompressor.end();
    return;
  }
  const chunk = Buffer.from(message.chunk.buffer, message.chunk.byteOffset, message.chunk.byteLength);
  // Acknowledged once decoded: the main thread keeps only a bounded amount in flight.
  decompressor.write(chunk, () => post({ type: 'consumed', bytes: chunk.length }));
});
