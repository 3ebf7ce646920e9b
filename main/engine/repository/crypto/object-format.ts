import { TidemarkError } from '../../errors.js';
import { KEY_ID_LENGTH } from './master-key.js';
import { TAG_LENGTH, WRAP_NONCE_LENGTH } from './key-wrap.js';

/*
 * Encrypted object layout, version 1 (docs/repository-format.md describes it byte by byte):
 *
 *   header (92 bytes) | chunk 0 | chunk 1 | … | final chunk
 *   chunk = AES-256-GCM ciphertext | 16-byte tag
 *
 * Every chunk but the last holds exactly `chunkSize` plaintext bytes; the last holds
 * 0…chunkSize-1 bytes (an object whose size is a multiple of the chunk size ends with an
 * empty final chunk), so a chunk's size alone says whether it is the final one.
 */

export const OBJECT_MAGIC = Buffer.from('TDMK', 'ascii');
export const OBJECT_FORMAT_VERSION = 1;
export const NONCE_PREFIX_LENGTH = 7;
export const DATA_KEY_LENGTH = 32;

/**
 * 1 MiB chunks, measured with bench/repository-crypto.ts (256 MiB through the streams, AES-NI):
 * 64 KiB chunks reach ~1.9 / 1.7 GiB/s (encrypt / decrypt) because per-chunk costs (a cipher
 * context, a tag, an AAD pass, a stream push) show; 256 KiB, 1 MiB and 4 MiB all reach
 * ~2.3 GiB/s. Larger chunks gain nothing and every open stream holds about two chunks. A WAL
 * segment (16 MiB) is 16 chunks, and a reader that fails over re-reads at most one chunk.
 */
export const DEFAULT_CHUNK_SIZE = 1024 * 1024;
/** Tiny chunks exist only for readable test vectors. */
export const MIN_CHUNK_SIZE = 16;
/** Bounds what a reader allocates before the header has authenticated. */
export const MAX_CHUNK_SIZE = 16 * 1024 * 1024;
/** The chunk index is a 32-bit field of the nonce. */
export const MAX_CHUNKS = 2 ** 32;
export const MAX_OBJECT_KEY_BYTES = 1024;

const offsets = {
  magic: 0,
  version: 4,
  chunkSize: 5,
  keyId: 9,
  noncePrefix: 9 + KEY_ID_LENGTH,
  wrapNonce: 9 + KEY_ID_LENGTH + NONCE_PREFIX_LENGTH,
  wrappedKey: 9 + KEY_ID_LENGTH + NONCE_PREFIX_LENGTH + WRAP_NONCE_LENGTH,
  wrapTag: 9 + KEY_ID_LENGTH + NONCE_PREFIX_LENGTH + WRAP_NONCE_LENGTH + DATA_KEY_LENGTH,
} as const;

export const HEADER_LENGTH = offsets.wrapTag + TAG_LENGTH;
export const KEY_ID_OFFSET = offsets.keyId;
/** The header bytes the data-key wrap authenticates (everything before the wrap nonce). */
export const WRAP_AAD_HEADER_LENGTH = offsets.wrapNonce;

export interface ObjectHeader {
  version: number;
  chunkSize: number;
  keyId: string;
  noncePrefix: Buffer;
  wrapNonce: Buffer;
  wrappedDataKey: Buffer;
  wrapTag: Buffer;
  /** the header exactly as stored, for associated data */
  bytes: Buffer;
}

export function encodeHeader(fields: Omit<ObjectHeader, 'version' | 'bytes'>): Buffer {
  const bytes = Buffer.alloc(HEADER_LENGTH);
  OBJECT_MAGIC.copy(bytes, offsets.magic);
  bytes.writeUInt8(OBJECT_FORMAT_VERSION, offsets.version);
  bytes.writeUInt32BE(fields.chunkSize, offsets.chunkSize);
  Buffer.from(fields.keyId, 'hex').copy(bytes, offsets.keyId);
  fields.noncePrefix.copy(bytes, offsets.noncePrefix);
  fields.wrapNonce.copy(bytes, offsets.wrapNonce);
  fields.wrappedDataKey.copy(bytes, offsets.wrappedKey);
  fields.wrapTag.copy(bytes, offsets.wrapTag);
  return bytes;
}

/**
 * Parses (not authenticates) a header. `bytes` may be longer than the header; an error
 * names what is wrong so a reader can tell a foreign file from a newer format.
 */
export function decodeHeader(objectKey: string, bytes: Buffer): ObjectHeader {
  const magicSeen = Math.min(bytes.length, OBJECT_MAGIC.length);
  if (!bytes.subarray(0, magicSeen).equals(OBJECT_MAGIC.subarray(0, magicSeen))) {
    throw corruptObject(
      objectKey,
      'header',
      'it does not start with the Tidemark object magic "TDMK"',
    );
  }
  if (bytes.length <= offsets.version) {
    throw corruptObject(
      objectKey,
      'header',
      `it ends after ${bytes.length} of the ${HEADER_LENGTH} header bytes (truncated)`,
    );
  }
  const version = bytes.readUInt8(offsets.version);
  if (version === 0)
    throw corruptObject(objectKey, 'header', 'its format version is 0, which no Tidemark writes');
  if (version !== OBJECT_FORMAT_VERSION) {
    throw new TidemarkError(
      'unsupported',
      `Object ${objectKey} uses encryption format version ${version}; this Tidemark reads version ${OBJECT_FORMAT_VERSION}. Update Tidemark to read it.`,
      { details: { objectKey, version } },
    );
  }
  if (bytes.length < HEADER_LENGTH) {
    throw corruptObject(
      objectKey,
      'header',
      `it ends after ${bytes.length} of the ${HEADER_LENGTH} header bytes (truncated)`,
    );
  }
  const chunkSize = bytes.readUInt32BE(offsets.chunkSize);
  if (chunkSize < MIN_CHUNK_SIZE || chunkSize > MAX_CHUNK_SIZE) {
    throw corruptObject(
      objectKey,
      'header',
      `its chunk size ${chunkSize} is outside ${MIN_CHUNK_SIZE}…${MAX_CHUNK_SIZE}`,
    );
  }
  const field = (from: number, length: number): Buffer =>
    Buffer.from(bytes.subarray(from, from + length));
  return {
    version,
    chunkSize,
    keyId: bytes.subarray(offsets.keyId, offsets.keyId + KEY_ID_LENGTH).toString('hex'),
    noncePrefix: field(offsets.noncePrefix, NONCE_PREFIX_LENGTH),
    wrapNonce: field(offsets.wrapNonce, WRAP_NONCE_LENGTH),
    wrappedDataKey: field(offsets.wrappedKey, DATA_KEY_LENGTH),
    wrapTag: field(offsets.wrapTag, TAG_LENGTH),
    bytes: field(0, HEADER_LENGTH),
  };
}

/** STREAM-style nonce: prefix(7) | chunk index (uint32 BE) | final flag (0x00 or 0x01). */
export function chunkNonce(noncePrefix: Buffer, index: number, final: boolean): Buffer {
  const nonce = Buffer.alloc(NONCE_PREFIX_LENGTH + 5);
  noncePrefix.copy(nonce, 0);
  nonce.writeUInt32BE(index, NONCE_PREFIX_LENGTH);
  nonce.writeUInt8(final ? 1 : 0, NONCE_PREFIX_LENGTH + 4);
  return nonce;
}

/** AAD of the data-key wrap: header bytes before the wrap nonce, then the object key. */
export function wrapAad(headerPrefix: Buffer, objectKey: string): Buffer {
  return Buffer.concat([
    headerPrefix.subarray(0, WRAP_AAD_HEADER_LENGTH),
    Buffer.from(objectKey, 'utf8'),
  ]);
}

/** AAD of every chunk: the whole header, then the object key. */
export function chunkAad(header: Buffer, objectKey: string): Buffer {
  return Buffer.concat([header, Buffer.from(objectKey, 'utf8')]);
}

/** Ciphertext byte offset where chunk `index` starts: where a reader resumes in another zone. */
export function chunkCiphertextOffset(chunkSize: number, index: number): number {
  return HEADER_LENGTH + index * (chunkSize + TAG_LENGTH);
}

/** Stored size of an object with `plaintextSize` bytes. */
export function encryptedObjectSize(plaintextSize: number, chunkSize = DEFAULT_CHUNK_SIZE): number {
  const fullChunks = Math.floor(plaintextSize / chunkSize);
  return chunkCiphertextOffset(chunkSize, fullChunks) + (plaintextSize % chunkSize) + TAG_LENGTH;
}

export function checkObjectKey(objectKey: string): void {
  const length = Buffer.byteLength(objectKey, 'utf8');
  if (length === 0 || length > MAX_OBJECT_KEY_BYTES) {
    throw new TidemarkError(
      'invalid_input',
      `An object key has 1…${MAX_OBJECT_KEY_BYTES} bytes; got ${length}.`,
    );
  }
}

export function checkChunkSize(chunkSize: number): void {
  if (!Number.isInteger(chunkSize) || chunkSize < MIN_CHUNK_SIZE || chunkSize > MAX_CHUNK_SIZE) {
    throw new TidemarkError(
      'invalid_input',
      `The chunk size must be an integer in ${MIN_CHUNK_SIZE}…${MAX_CHUNK_SIZE}; got ${chunkSize}.`,
    );
  }
}

/** `where` is `header` or a chunk index. */
export function corruptObject(
  objectKey: string,
  where: 'header' | number,
  why: string,
): TidemarkError {
  const at = where === 'header' ? 'its header' : `chunk ${where}`;
  return new TidemarkError(
    'corrupt_object',
    `Object ${objectKey} failed authentication at ${at}: ${why}. The stored bytes are damaged, incomplete or not this object's; read it from another zone, or treat this copy as lost.`,
    { details: { objectKey, chunk: where } },
  );
}
