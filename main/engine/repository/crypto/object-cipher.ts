import { createCipheriv, createDecipheriv, randomBytes, type CipherGCM } from 'node:crypto';
import { TidemarkError } from '../../errors.js';
import { TAG_LENGTH, WRAP_NONCE_LENGTH, unwrapKey, wrapKey } from './key-wrap.js';
import type { MasterKey } from './master-key.js';
import {
  DATA_KEY_LENGTH,
  DEFAULT_CHUNK_SIZE,
  HEADER_LENGTH,
  KEY_ID_OFFSET,
  MAX_CHUNKS,
  NONCE_PREFIX_LENGTH,
  checkChunkSize,
  checkObjectKey,
  chunkAad,
  chunkCiphertextOffset,
  chunkNonce,
  corruptObject,
  decodeHeader,
  encodeHeader,
  wrapAad,
  type ObjectHeader,
} from './object-format.js';

/**
 * The object cipher as two push-driven state machines, shared by the Node streams, the
 * buffer helpers and the failover reader so there is exactly one implementation of the
 * format. Each holds at most one chunk of input.
 */

export interface ObjectEncoderOptions {
  chunkSize?: number;
  /**
   * Fixed per-object randomness. Exists only so the published test vectors can be
   * reproduced; production code must let the encoder draw fresh random values.
   */
  fixedRandomness?: { dataKey: Buffer; noncePrefix: Buffer; wrapNonce: Buffer };
}

type Emit = (bytes: Buffer) => void;

/** The chunk an encoder is filling: its ciphertext so far, held until the chunk is complete. */
interface OpenChunk {
  nonce: Buffer;
  cipher: CipherGCM;
  held: Buffer[];
  filled: number;
}

/**
 * A FIFO of byte slices that hands out exact-size pieces as lists of slices: chunks are
 * assembled from stream pieces (typically 64 KiB) without copying them.
 */
class PendingBytes {
  #slices: Buffer[] = [];
  length = 0;

  push(bytes: Buffer): void {
    if (bytes.length === 0) return;
    this.#slices.push(bytes);
    this.length += bytes.length;
  }

  /** Removes and returns the first `size` bytes; the caller checked `length >= size`. */
  take(size: number): Buffer[] {
    const taken: Buffer[] = [];
    let missing = size;
    while (missing > 0) {
      const slice = this.#slices[0] as Buffer;
      if (slice.length <= missing) {
        taken.push(slice);
        this.#slices.shift();
        missing -= slice.length;
      } else {
        taken.push(slice.subarray(0, missing));
        this.#slices[0] = slice.subarray(missing);
        missing = 0;
      }
    }
    this.length -= size;
    return taken;
  }

  clear(): void {
    this.#slices = [];
    this.length = 0;
  }
}

/** Splits a piece (as slices) into its ciphertext slices and its trailing tag. */
function splitTag(piece: Buffer[]): { ciphertext: Buffer[]; tag: Buffer } {
  const ciphertext = [...piece];
  const tagParts: Buffer[] = [];
  let missing = TAG_LENGTH;
  while (missing > 0) {
    const last = ciphertext.pop() as Buffer;
    if (last.length <= missing) {
      tagParts.unshift(last);
      missing -= last.length;
    } else {
      tagParts.unshift(last.subarray(last.length - missing));
      ciphertext.push(last.subarray(0, last.length - missing));
      missing = 0;
    }
  }
  return {
    ciphertext,
    tag: tagParts.length === 1 ? (tagParts[0] as Buffer) : Buffer.concat(tagParts),
  };
}

export class ObjectEncoder {
  readonly chunkSize: number;
  readonly header: Buffer;
  readonly #objectKey: string;
  readonly #dataKey: Buffer;
  readonly #noncePrefix: Buffer;
  readonly #aad: Buffer;
  /** the chunk being filled, if any */
  #open: OpenChunk | undefined;
  #nextIndex = 0;
  #headerEmitted = false;
  #ended = false;

  constructor(masterKey: MasterKey, objectKey: string, options: ObjectEncoderOptions = {}) {
    checkObjectKey(objectKey);
    this.chunkSize = options.chunkSize ?? DEFAULT_CHUNK_SIZE;
    checkChunkSize(this.chunkSize);
    this.#objectKey = objectKey;
    const fixed = options.fixedRandomness;
    this.#dataKey = fixed ? Buffer.from(fixed.dataKey) : randomBytes(DATA_KEY_LENGTH);
    this.#noncePrefix = fixed ? Buffer.from(fixed.noncePrefix) : randomBytes(NONCE_PREFIX_LENGTH);
    const wrapNonce = fixed ? Buffer.from(fixed.wrapNonce) : randomBytes(WRAP_NONCE_LENGTH);
    if (
      this.#dataKey.length !== DATA_KEY_LENGTH ||
      this.#noncePrefix.length !== NONCE_PREFIX_LENGTH ||
      wrapNonce.length !== WRAP_NONCE_LENGTH
    ) {
      throw new TidemarkError('invalid_input', 'Fixed object randomness has the wrong lengths.');
    }
    // The header before the wrap nonce is known before wrapping, and the wrap authenticates it.
    const unwrapped = {
      chunkSize: this.chunkSize,
      keyId: masterKey.id,
      noncePrefix: this.#noncePrefix,
    };
    const prefix = encodeHeader({
      ...unwrapped,
      wrapNonce,
      wrappedDataKey: Buffer.alloc(DATA_KEY_LENGTH),
      wrapTag: Buffer.alloc(TAG_LENGTH),
    });
    const wrapped = wrapKey(masterKey.bytes, this.#dataKey, wrapNonce, wrapAad(prefix, objectKey));
    this.header = encodeHeader({
      ...unwrapped,
      wrapNonce,
      wrappedDataKey: wrapped.ciphertext,
      wrapTag: wrapped.tag,
    });
    this.#aad = chunkAad(this.header, objectKey);
  }

  /**
   * Emits the header (first call only) and every chunk the input completes. The input is
   * encrypted during the call and not kept: the caller may reuse its buffer at once.
   */
  write(plaintext: Buffer, emit: Emit): void {
    if (this.#ended)
      throw new TidemarkError('internal', `Object ${this.#objectKey}: write after end.`);
    this.#emitHeader(emit);
    for (let offset = 0; offset < plaintext.length; ) {
      const chunk = (this.#open ??= this.#openChunk());
      const length = Math.min(this.chunkSize - chunk.filled, plaintext.length - offset);
      const piece =
        length === plaintext.length ? plaintext : plaintext.subarray(offset, offset + length);
      chunk.held.push(chunk.cipher.update(piece));
      chunk.filled += length;
      offset += length;
      if (chunk.filled === this.chunkSize) {
        // a full chunk is never the final one: the final chunk holds 0…chunkSize-1 bytes
        chunk.cipher.final();
        for (const held of chunk.held) emit(held);
        emit(chunk.cipher.getAuthTag());
        this.#open = undefined;
        this.#nextIndex += 1;
      }
    }
  }

  /** Emits the final chunk (0…chunkSize-1 bytes of plaintext) and forgets the data key. */
  end(emit: Emit): void {
    if (this.#ended) return;
    this.#emitHeader(emit);
    this.#seal(this.#open ? this.#recover(this.#open) : [], true, emit);
    this.#ended = true;
    this.dispose();
  }

  dispose(): void {
    this.#dataKey.fill(0);
    this.#open = undefined;
  }

  #emitHeader(emit: Emit): void {
    if (this.#headerEmitted) return;
    this.#headerEmitted = true;
    emit(this.header);
  }

  #nonce(final: boolean): Buffer {
    if (this.#nextIndex >= MAX_CHUNKS) {
      throw new TidemarkError(
        'invalid_input',
        `Object ${this.#objectKey} exceeds ${MAX_CHUNKS} chunks; use a larger chunk size.`,
      );
    }
    return chunkNonce(this.#noncePrefix, this.#nextIndex, final);
  }

  #cipher(nonce: Buffer): CipherGCM {
    const cipher = createCipheriv('aes-256-gcm', this.#dataKey, nonce, {
      authTagLength: TAG_LENGTH,
    });
    cipher.setAAD(this.#aad);
    return cipher;
  }

  /** A chunk is encrypted as a non-final one while it fills: whether it is final is known only at the end. */
  #openChunk(): OpenChunk {
    const nonce = this.#nonce(false);
    return { nonce, cipher: this.#cipher(nonce), held: [], filled: 0 };
  }

  /**
   * The plaintext of a chunk that turned out to be the final one, from its held ciphertext (GCM
   * decrypts with the same keystream). That ciphertext is never emitted, so no nonce is reused.
   */
  #recover(chunk: OpenChunk): Buffer[] {
    const decipher = createDecipheriv('aes-256-gcm', this.#dataKey, chunk.nonce, {
      authTagLength: TAG_LENGTH,
    });
    return chunk.held.map((held) => decipher.update(held));
  }

  #seal(plaintext: Buffer[], final: boolean, emit: Emit): void {
    const cipher = this.#cipher(this.#nonce(final));
    for (const slice of plaintext) emit(cipher.update(slice));
    cipher.final();
    this.#nextIndex += 1;
    emit(cipher.getAuthTag());
  }
}

/**
 * Authenticates and decrypts an object as its bytes arrive. A chunk's plaintext is handed
 * out only after its tag verified. After a failure, `discardPartial()` and a fresh source
 * positioned at `resumeOffset` continue with the first chunk not yet delivered.
 */
export class ObjectDecoder {
  readonly #masterKey: MasterKey;
  readonly #objectKey: string;
  readonly #pending = new PendingBytes();
  #header: ObjectHeader | undefined;
  #dataKey: Buffer | undefined;
  #aad: Buffer | undefined;
  #nextIndex = 0;
  #ended = false;

  constructor(masterKey: MasterKey, objectKey: string) {
    checkObjectKey(objectKey);
    this.#masterKey = masterKey;
    this.#objectKey = objectKey;
  }

  /** the authenticated header, once read */
  get header(): ObjectHeader | undefined {
    return this.#header;
  }

  /** how many chunks have been authenticated and delivered */
  get deliveredChunks(): number {
    return this.#nextIndex;
  }

  get ended(): boolean {
    return this.#ended;
  }

  /** Ciphertext offset of the first byte not yet authenticated: the header, or the next chunk. */
  get resumeOffset(): number {
    return this.#header ? chunkCiphertextOffset(this.#header.chunkSize, this.#nextIndex) : 0;
  }

  /** Ciphertext offset of chunk `index` (known once the header is read). */
  chunkOffset(index: number): number {
    if (!this.#header)
      throw new TidemarkError('internal', 'The object header has not been read yet.');
    return chunkCiphertextOffset(this.#header.chunkSize, index);
  }

  /**
   * Moves on to chunk `index` without reading the chunks before it (which are then neither
   * authenticated nor delivered): for checks that open only the header and the final chunk.
   */
  skipTo(index: number): void {
    if (!this.#header || this.#pending.length > 0 || index < this.#nextIndex)
      throw new TidemarkError('internal', 'ObjectDecoder.skipTo needs the header read and may only move forward.');
    this.#nextIndex = index;
  }

  /** Forgets bytes of a chunk (or header) that was not complete, before switching sources. */
  discardPartial(): void {
    this.#pending.clear();
  }

  /** Feeds ciphertext; `deliver` receives each chunk's plaintext once it authenticated. */
  write(ciphertext: Buffer, deliver: Emit): void {
    if (this.#ended)
      throw this.#corrupt(this.#nextIndex, 'bytes follow the final chunk (appended data)');
    this.#pending.push(ciphertext);
    if (!this.#header) {
      if (this.#pending.length < HEADER_LENGTH) return;
      this.#openHeader(Buffer.concat(this.#pending.take(HEADER_LENGTH)));
    }
    const header = this.#header as ObjectHeader;
    // A full-size piece is never the final chunk, so it can be opened without looking ahead.
    const pieceSize = header.chunkSize + TAG_LENGTH;
    while (this.#pending.length >= pieceSize) {
      this.#open(this.#pending.take(pieceSize), false, deliver);
    }
  }

  /** The source ended: the bytes pending must be exactly the final chunk. */
  end(deliver: Emit): void {
    if (this.#ended) return;
    if (!this.#header) {
      if (this.#pending.length === 0) throw this.#corrupt('header', 'the stored object is empty');
      decodeHeader(this.#objectKey, Buffer.concat(this.#pending.take(this.#pending.length)));
      throw new TidemarkError('internal', 'An incomplete header was accepted.');
    }
    if (this.#pending.length < TAG_LENGTH) {
      const why =
        this.#pending.length === 0
          ? 'the object ends before its final chunk (truncated)'
          : 'the object ends inside a chunk tag (truncated)';
      throw this.#corrupt(this.#nextIndex, why);
    }
    this.#open(this.#pending.take(this.#pending.length), true, deliver);
    this.#ended = true;
    this.dispose();
  }

  dispose(): void {
    this.#dataKey?.fill(0);
    this.#pending.clear();
  }

  #openHeader(bytes: Buffer): void {
    const header = decodeHeader(this.#objectKey, bytes);
    const keyIdMatches = header.keyId === this.#masterKey.id;
    // With a foreign key id, try the unlocked key as if the id field were damaged: if the
    // data key then unwraps, the header was altered; otherwise the object is another key's.
    const claimed = keyIdMatches ? header.bytes : withKeyId(header.bytes, this.#masterKey.idBytes);
    const dataKey = unwrapKey(
      this.#masterKey.bytes,
      { nonce: header.wrapNonce, ciphertext: header.wrappedDataKey, tag: header.wrapTag },
      wrapAad(claimed, this.#objectKey),
    );
    if (!keyIdMatches) {
      dataKey?.fill(0);
      if (dataKey) throw this.#corrupt('header', 'its master key id field was altered');
      throw new TidemarkError(
        'wrong_passphrase',
        `Object ${this.#objectKey} was encrypted with master key ${header.keyId}, but the unlocked key is ${this.#masterKey.id}. Unlock the keyring of the repository that wrote it; if this is that keyring, the object header is damaged: read it from another zone.`,
        {
          details: {
            objectKey: this.#objectKey,
            objectKeyId: header.keyId,
            masterKeyId: this.#masterKey.id,
          },
        },
      );
    }
    if (!dataKey) {
      throw this.#corrupt(
        'header',
        `its data key does not unwrap with master key ${this.#masterKey.id} (an altered header, or an object stored under another key)`,
      );
    }
    this.#header = header;
    this.#dataKey = dataKey;
    this.#aad = chunkAad(header.bytes, this.#objectKey);
  }

  /** Delivers the chunk's plaintext (possibly in several slices) only once its tag verified. */
  #open(piece: Buffer[], final: boolean, deliver: Emit): void {
    const header = this.#header as ObjectHeader;
    const index = this.#nextIndex;
    if (index >= MAX_CHUNKS)
      throw this.#corrupt(index, 'it has more chunks than the format allows');
    const { ciphertext, tag } = splitTag(piece);
    const decipher = createDecipheriv(
      'aes-256-gcm',
      this.#dataKey as Buffer,
      chunkNonce(header.noncePrefix, index, final),
      { authTagLength: TAG_LENGTH },
    );
    decipher.setAAD(this.#aad as Buffer);
    decipher.setAuthTag(tag);
    const plaintext = ciphertext.map((slice) => decipher.update(slice));
    try {
      decipher.final();
    } catch {
      for (const slice of plaintext) slice.fill(0);
      const why = final
        ? 'its tag does not verify as the final chunk (altered, cut short, or followed by appended data)'
        : 'its tag does not verify (altered, reordered, or from another object)';
      throw this.#corrupt(index, why);
    }
    this.#nextIndex = index + 1;
    for (const slice of plaintext) if (slice.length > 0) deliver(slice);
  }

  #corrupt(where: 'header' | number, why: string): TidemarkError {
    return corruptObject(this.#objectKey, where, why);
  }
}

function withKeyId(header: Buffer, keyId: Buffer): Buffer {
  const copy = Buffer.from(header);
  keyId.copy(copy, KEY_ID_OFFSET);
  return copy;
}
