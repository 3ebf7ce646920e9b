import { Transform, type TransformCallback } from 'node:stream';
import type { MasterKey } from './master-key.js';
import { ObjectDecoder, ObjectEncoder, type ObjectEncoderOptions } from './object-cipher.js';
import type { ObjectHeader } from './object-format.js';

/** Chunks sealed at once: two keep the thread pool ahead of the network and the disk (more bought nothing, measured). */
const defaultChunksInFlight = 2;

/**
 * Plaintext in, encrypted object (header and chunks) out. Chunks are sealed in libuv's thread
 * pool, up to `chunksInFlight` at a time, and pushed in order; a write is acknowledged once no
 * more than that many are outstanding, which bounds the memory to about 2 × chunksInFlight chunks.
 */
export function createEncryptStream(
  masterKey: MasterKey,
  objectKey: string,
  options: ObjectEncoderOptions & { chunksInFlight?: number } = {},
): Transform {
  const { chunksInFlight = defaultChunksInFlight, ...encoderOptions } = options;
  const encoder = new ObjectEncoder(masterKey, objectKey, encoderOptions);
  const sealing: Promise<Buffer>[] = [];
  const queue = (sealed: Promise<Buffer>): void => {
    // awaited in order below; until then a failure must not count as unhandled
    sealed.catch(() => {});
    sealing.push(sealed);
  };
  const pushUntil = async (stream: Transform, limit: number): Promise<void> => {
    while (sealing.length > limit) stream.push(await sealing.shift());
  };
  return new Transform({
    construct(callback) {
      encoder.prepareDeferred().then(() => callback(), callback);
    },
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      try {
        encoder.writeDeferred(chunk, queue);
      } catch (err) {
        callback(err as Error);
        return;
      }
      pushUntil(this, chunksInFlight).then(() => callback(), callback);
    },
    flush(callback: TransformCallback) {
      try {
        encoder.endDeferred(queue);
      } catch (err) {
        callback(err as Error);
        return;
      }
      pushUntil(this, 0).then(() => callback(), callback);
    },
    destroy(err, callback) {
      sealing.length = 0;
      encoder.dispose();
      callback(err);
    },
  });
}

/**
 * Encrypted object in, authenticated plaintext out. Fails with `corrupt_object` naming the
 * chunk. `resumeOffset` tells where a reader that lost its source should continue.
 */
export class ObjectDecryptStream extends Transform {
  readonly #decoder: ObjectDecoder;

  constructor(masterKey: MasterKey, objectKey: string) {
    super();
    this.#decoder = new ObjectDecoder(masterKey, objectKey);
  }

  /** the authenticated header, once read */
  get header(): ObjectHeader | undefined {
    return this.#decoder.header;
  }

  get deliveredChunks(): number {
    return this.#decoder.deliveredChunks;
  }

  /** Ciphertext offset of the first chunk whose plaintext has not been pushed. */
  get resumeOffset(): number {
    return this.#decoder.resumeOffset;
  }

  /** Ciphertext offset of chunk `index`; needs the header. */
  chunkOffset(index: number): number {
    return this.#decoder.chunkOffset(index);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    try {
      this.#decoder.write(chunk, (plaintext) => this.push(plaintext));
      callback();
    } catch (err) {
      callback(err as Error);
    }
  }

  override _flush(callback: TransformCallback): void {
    try {
      this.#decoder.end((plaintext) => this.push(plaintext));
      callback();
    } catch (err) {
      callback(err as Error);
    }
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    this.#decoder.dispose();
    callback(err);
  }
}

export function createDecryptStream(masterKey: MasterKey, objectKey: string): ObjectDecryptStream {
  return new ObjectDecryptStream(masterKey, objectKey);
}
