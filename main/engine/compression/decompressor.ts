import { createGunzip } from 'node:zlib';
import { PassThrough, type Duplex } from 'node:stream';
import { Decompress as ZstdDecompress } from 'fzstd';
import { TidemarkError } from '../errors.js';
import { Lz4FrameDecoder } from './lz4-frame-decoder.js';
import { PullDecoderStream, QueuedPullDecoder, type PullDecoder } from './pull-decoder.js';

export const compressionKinds = ['none', 'lz4', 'zstd', 'gzip'] as const;
export type CompressionKind = (typeof compressionKinds)[number];

/** The file name suffix PostgreSQL gives a compressed base-backup archive. */
export const archiveSuffix: Record<CompressionKind, string> = {
  none: '',
  lz4: '.lz4',
  zstd: '.zst',
  gzip: '.gz',
};

/**
 * A stream that undoes PostgreSQL's server-side compression of a base-backup archive. lz4 and
 * zstd decode only as fast as the stream is read (pull-decoder.ts).
 */
export function createDecompressor(kind: CompressionKind): Duplex {
  switch (kind) {
    case 'none':
      return new PassThrough();
    case 'gzip':
      return createGunzip();
    case 'lz4':
    case 'zstd':
      return new PullDecoderStream(createPullDecoder(kind));
  }
}

function createPullDecoder(kind: 'lz4' | 'zstd'): PullDecoder {
  return kind === 'lz4' ? new Lz4FrameDecoder() : new ZstdDecoder();
}

/** Input is given to fzstd in slices of this size, so one slice expands into a bounded amount of output. */
const zstdSliceBytes = 64 * 1024;

class ZstdDecoder extends QueuedPullDecoder {
  private readonly output: Buffer[] = [];
  private finished = false;
  private readonly decoder = new ZstdDecompress((data) => {
    // fzstd may reuse its buffers: the consumer gets a copy of its own.
    const copy = Buffer.allocUnsafeSlow(data.length);
    copy.set(data);
    this.output.push(copy);
  });

  read(): Buffer | null {
    try {
      while (this.output.length === 0) {
        if (this.input.length > 0) {
          const slice = this.input.take(zstdSliceBytes);
          this.decoder.push(new Uint8Array(slice.buffer, slice.byteOffset, slice.length));
        } else if (this.ended && !this.finished) {
          this.finished = true;
          this.decoder.push(new Uint8Array(0), true);
        } else {
          return null;
        }
      }
    } catch (err) {
      throw new TidemarkError('corrupt_object', `The zstd data is corrupt: ${(err as Error).message}`);
    }
    return this.output.shift()!;
  }
}
