import { Transform, type TransformCallback } from 'node:stream';

/** Passes bytes through unchanged, telling `onBytes` how many went by so far. */
export class ByteCounter extends Transform {
  private total = 0;

  constructor(private readonly onBytes?: (total: number) => void) {
    super({ highWaterMark: 1024 * 1024 });
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.total += chunk.length;
    this.onBytes?.(this.total);
    done(null, chunk);
  }
}
