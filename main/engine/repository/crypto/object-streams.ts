import { Transform, type TransformCallback } from 'node:stream';
import type { MasterKey } from './master-key.js';
import { ObjectDecoder, ObjectEncoder, type ObjectEncoderOptions } from './object-cipher.js';
import type { ObjectHeader } from './object-format.js';

/**
 * Plaintext in, encrypted object (header and chunks) out; counts the plaintext it took. A
 * written buffer is encrypted before its write callback runs and not kept after it.
 */
export class ObjectEncryptStream extends Transform {
  readonly #encoder: ObjectEncoder;
  #plaintextBytes = 0;

  constructor(
    masterKey: MasterKey,
    objectKey: string,
    options: ObjectEncoderOptions & { highWaterMark?: number } = {},
  ) {
    const { highWaterMark, ...encoderOptions } = options;
    super(highWaterMark === undefined ? {} : { writableHighWaterMark: highWaterMark });
    this.#encoder = new ObjectEncoder(masterKey, objectKey, encoderOptions);
  }

  /** plaintext bytes written so far */
  get plaintextBytes(): number {
    return this.#plaintextBytes;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    try {
      this.#encoder.write(chunk, (bytes) => this.push(bytes));
      this.#plaintextBytes += chunk.length;
      callback();
    } catch (err) {
      callback(err as Error);
    }
  }

  override _flush(callback: TransformCallback): void {
    try {
      this.#encoder.end((bytes) => this.push(bytes));
      callback();
    } catch (err) {
      callback(err as Error);
    }
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    this.#encoder.dispose();
    callback(err);
  }
}

export function createEncryptStream(
  masterKey: MasterKey,
  objectKey: string,
  options: ObjectEncoderOptions & { highWaterMark?: number } = {},
): ObjectEncryptStream {
  return new ObjectEncryptStream(masterKey, objectKey, options);
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
