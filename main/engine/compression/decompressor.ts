import { createGunzip } from 'node:zlib';
import { Transform, PassThrough, type TransformCallback } from 'node:stream';
import { Decompress as ZstdDecompress } from 'fzstd';
import { TidemarkError } from '../errors.js';
import { Lz4FrameDecoder } from './lz4-frame-decoder.js';

export const compressionKinds = ['none', 'lz4', 'zstd', 'gzip'] as const;
export type CompressionKind = (typeof compressionKinds)[number];

/** The file name suffix PostgreSQL gives a compressed base-backup archive. */
export const archiveSuffix: Record<CompressionKind, string> = {
  none: '',
  lz4: '.lz4',
  zstd: '.zst',
  gzip: '.gz',
};

/** A stream that undoes PostgreSQL's server-side compression of a base-backup archive. */
export function createDecompressor(kind: CompressionKind): Transform {
  switch (kind) {
    case 'none':
      return new PassThrough();
    case 'gzip':
      return createGunzip();
    case 'lz4':
      return new Lz4FrameDecoder();
    case 'zstd':
      return new ZstdDecoder();
  }
}

class ZstdDecoder extends Transform {
  private readonly decoder = new ZstdDecompress((data) => {
    this.push(Buffer.from(data));
  });

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    try {
      this.decoder.push(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length));
      done();
    } catch (err) {
      done(
        new TidemarkError('corrupt_object', `The zstd data is corrupt: ${(err as Error).message}`),
      );
    }
  }

  override _flush(done: TransformCallback): void {
    try {
      this.decoder.push(new Uint8Array(0), true);
      done();
    } catch (err) {
      done(
        new TidemarkError('corrupt_object', `The zstd data is corrupt: ${(err as Error).message}`),
      );
    }
  }
}
