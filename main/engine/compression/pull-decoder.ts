import { Transform, type TransformCallback } from 'node:stream';

/**
 * A decompressor driven by its consumer: input is queued, output is produced one piece at a
 * time when asked for, so a consumer that stops asking holds memory to one piece however well
 * the data compresses. Every piece returned is the consumer's own: the decoder never writes to
 * it again (a worker thread hands such memory over instead of copying it).
 */
export interface PullDecoder {
  /** Queues compressed bytes (kept by reference until decoded). */
  write(chunk: Buffer): void;
  /** The next piece of output, or null when more input is needed (after end(): when done). */
  read(): Buffer | null;
  /** No more input will come: read() yields the rest, then throws `corrupt_object` if the stream stopped mid-way. */
  end(): void;
  /** Compressed bytes queued and not yet decoded. */
  readonly buffered: number;
}

/** A PullDecoder as a Transform stream (all the output of a chunk is pushed at once). */
export class PullDecoderStream extends Transform {
  constructor(private readonly decoder: PullDecoder) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    try {
      this.decoder.write(chunk);
      this.drain();
      done();
    } catch (err) {
      done(err as Error);
    }
  }

  override _flush(done: TransformCallback): void {
    try {
      this.decoder.end();
      this.drain();
      done();
    } catch (err) {
      done(err as Error);
    }
  }

  private drain(): void {
    for (let piece = this.decoder.read(); piece; piece = this.decoder.read()) this.push(piece);
  }
}
