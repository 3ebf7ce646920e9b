import type { MasterKey } from './master-key.js';
import { ObjectDecoder, ObjectEncoder, type ObjectEncoderOptions } from './object-cipher.js';

/** A whole small object (a catalog record) in one call, through the same encoder as streams. */
export function encryptBuffer(
  masterKey: MasterKey,
  objectKey: string,
  plaintext: Buffer,
  options: ObjectEncoderOptions = {},
): Buffer {
  const encoder = new ObjectEncoder(masterKey, objectKey, options);
  const parts: Buffer[] = [];
  try {
    encoder.write(plaintext, (bytes) => parts.push(bytes));
    encoder.end((bytes) => parts.push(bytes));
    return Buffer.concat(parts);
  } finally {
    encoder.dispose();
  }
}

/** Authenticates and decrypts a whole object, or throws `corrupt_object`. */
export function decryptBuffer(masterKey: MasterKey, objectKey: string, stored: Buffer): Buffer {
  const decoder = new ObjectDecoder(masterKey, objectKey);
  const parts: Buffer[] = [];
  try {
    decoder.write(stored, (bytes) => parts.push(bytes));
    decoder.end((bytes) => parts.push(bytes));
    return Buffer.concat(parts);
  } catch (err) {
    for (const part of parts) part.fill(0);
    throw err;
  } finally {
    decoder.dispose();
  }
}
