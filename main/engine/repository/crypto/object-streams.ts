import { Transform, type TransformCallback, type TransformOptions } from 'node:stream';
import type { MasterKey } from './master-key.js';
import { ObjectDecoder, ObjectEncoder, type ObjectEncoderOptions } from './object-cipher.js';
import type { ObjectHeader } from './object-format.js';

/** The encoder or the decoder: bytes in, pieces out as they are ready, the rest at the end. */
interface ObjectCodec {
  write(bytes: Buffer, emit: (piece: Buffer) => void): void;
  end(emit: (piece: Buffer) => void): void;
  dispose(): void;
}

/** A Transform driving an object codec; its failures (e.g. `corrupt_object`) fail the stream. */
abstract class ObjectCodecStream<Codec extends ObjectCodec> extends Transform {
  constructor(
    protected readonly codec: Codec,
    options?: TransformOptions,
  ) {
    super(options);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    try {
      this.codec.write(chunk, (piece) => this.push(piece));
      callback();
    } catch (err) {
      callback(err as Error);
    }
  }

  override _flush(callback: TransformCallback): void {
    try {
      this.codec.end((piece) => this.push(piece));
      callback();
    } catch (err) {
      callback(err as Error);
    }
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    this.codec.dispose();
    callback(err);
  }
}

/**
 * Plaintext in, encrypted object (header and chunks) out; counts the plaintext it took. A
 * written buffer is encrypted before its write callback runs and not kept after it.
 */
export class ObjectEncryptStream extends ObjectCodecStream<ObjectEncoder> {
  #plaintextBytes = 0;

  constructor(
    masterKey: MasterKey,
    objectKey: string,
    options: ObjectEncoderOptions & { highWaterMark?: number } = {},
  ) {
    const { highWaterMark, ...encoderOptions } = options;
    super(
      new ObjectEncoder(masterKey, objectKey, encoderOptions),
      highWaterMark === undefined ? {} : { writableHighWaterMark: highWaterMark },
    );
  }

  /** plaintext bytes written so far */
  get plaintextBytes(): number {
    return this.#plaintextBytes;
  }

  override _transform(chunk: Buffer, encoding: BufferEncoding, callback: TransformCallback): void {
    this.#plaintextBytes += chunk.length;
    super._transform(chunk, encoding, callback);
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
export class ObjectDecryptStream extends ObjectCodecStream<ObjectDecoder> {
  constructor(masterKey: MasterKey, objectKey: string) {
    super(new ObjectDecoder(masterKey, objectKey));
  }

  /** the authenticated header, once read */
  get header(): ObjectHeader | undefined {
    return this.codec.header;
  }

  get deliveredChunks(): number {
    return this.codec.deliveredChunks;
  }

  /** Ciphertext offset of the first chunk whose plaintext has not been pushed. */
  get resumeOffset(): number {
    return this.codec.resumeOffset;
  }

  /** Ciphertext offset of chunk `index`; needs the header. */
  chunkOffset(index: number): number {
    return this.codec.chunkOffset(index);
  }
}

export function createDecryptStream(masterKey: MasterKey, objectKey: string): ObjectDecryptStream {
  return new ObjectDecryptStream(masterKey, objectKey);
}
