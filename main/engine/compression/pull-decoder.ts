import { Duplex } from 'node:stream';
import { ByteQueue } from './byte-queue.js';

/**
 * A decompressor driven by its consumer: input is queued, output is produced one piece at a
 * time when asked for, so a consumer that stops asking holds memory to one piece however well
 * the data compresses. The decoder never writes to a piece once returned (it may be a view of
 * the input or of a larger buffer), so the consumer can keep it as long as it needs.
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

/** The input side every PullDecoder shares: a queue of compressed bytes, and whether more will come. */
export abstract class QueuedPullDecoder implements PullDecoder {
  protected readonly input = new ByteQueue();
  protected ended = false;

  get buffered(): number {
    return this.input.length;
  }

  write(chunk: Buffer): void {
    this.input.push(chunk);
  }

  end(): void {
    this.ended = true;
  }

  abstract read(): Buffer | null;
}

/**
 * A PullDecoder as a stream that decodes only as fast as its reader reads: a write is
 * acknowledged once its bytes are decoded, and decoding stops whenever the reader is full, so
 * memory stays at about one piece plus the reader's buffer however well the data compresses.
 */
export class PullDecoderStream extends Duplex {
  /** the callback of the write whose bytes are being decoded */
  private pendingWrite: ((err?: Error | null) => void) | null = null;
  private pendingFinal: ((err?: Error | null) => void) | null = null;
  private done = false;

  constructor(private readonly decoder: PullDecoder) {
    super();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, callback: (err?: Error | null) => void): void {
    this.decoder.write(chunk);
    this.pendingWrite = callback;
    this.pull();
  }

  override _final(callback: (err?: Error | null) => void): void {
    this.decoder.end();
    this.pendingFinal = callback;
    this.pull();
  }

  override _read(): void {
    this.pull();
  }

  private pull(): void {
    if (this.done) return;
    try {
      for (let piece = this.decoder.read(); piece; piece = this.decoder.read()) {
        if (!this.push(piece)) return; // the reader is full: _read() resumes
      }
    } catch (err) {
      this.destroy(err as Error);
      return;
    }
    // The decoder needs more input, or (after end) is finished.
    if (this.pendingFinal) {
      this.done = true;
      this.push(null);
      this.pendingFinal();
    } else if (this.pendingWrite) {
      const callback = this.pendingWrite;
      this.pendingWrite = null;
      callback();
    }
  }
}
