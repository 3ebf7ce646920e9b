import { createCipheriv, createDecipheriv } from 'node:crypto';

export const WRAP_NONCE_LENGTH = 12;
export const TAG_LENGTH = 16;

export interface WrappedKey {
  nonce: Buffer;
  ciphertext: Buffer;
  tag: Buffer;
}

/**
 * AES-256-GCM over a short key. GCM rather than RFC 3394 key wrap because it also
 * authenticates associated data (what the key belongs to) and Node ships it everywhere.
 */
export function wrapKey(kek: Buffer, key: Buffer, nonce: Buffer, aad: Buffer): WrappedKey {
  const cipher = createCipheriv('aes-256-gcm', kek, nonce, { authTagLength: TAG_LENGTH });
  cipher.setAAD(aad);
  const ciphertext = Buffer.concat([cipher.update(key), cipher.final()]);
  return { nonce, ciphertext, tag: cipher.getAuthTag() };
}

/** The unwrapped key, or `null` if the tag does not verify (wrong key, altered bytes or AAD). */
export function unwrapKey(kek: Buffer, wrapped: WrappedKey, aad: Buffer): Buffer | null {
  if (wrapped.nonce.length !== WRAP_NONCE_LENGTH || wrapped.tag.length !== TAG_LENGTH) return null;
  const decipher = createDecipheriv('aes-256-gcm', kek, wrapped.nonce, {
    authTagLength: TAG_LENGTH,
  });
  decipher.setAAD(aad);
  decipher.setAuthTag(wrapped.tag);
  const key = decipher.update(wrapped.ciphertext);
  try {
    decipher.final();
    return key;
  } catch {
    key.fill(0);
    return null;
  }
}
