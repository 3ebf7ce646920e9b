/** The repository's encryption: object format, streams, failover reading and the keyring. */
export { MasterKey } from './master-key.js';
export { createEncryptStream, createDecryptStream, ObjectDecryptStream, ObjectEncryptStream } from './object-streams.js';
export { encryptBuffer, decryptBuffer } from './object-buffers.js';
export {
  authenticateObjectEnds,
  openObjectWithFailover,
  type OpenObjectWithFailoverOptions,
  type ZoneReadFailure,
} from './failover-object-reader.js';
export {
  DEFAULT_CHUNK_SIZE,
  HEADER_LENGTH,
  chunkCiphertextOffset,
  encryptedObjectSize,
  type ObjectHeader,
} from './object-format.js';
export {
  createKeyring,
  unlockKeyring,
  rewrapKeyring,
  parseKeyring,
  serializeKeyring,
  type Keyring,
  type KeyringSecret,
  type KeyringOptions,
} from './keyring.js';
export { exportRecoveryKit, importRecoveryKit } from './recovery-kit.js';
export { createKeyFile, readKeyFile } from './key-file.js';
export { DEFAULT_SCRYPT_PARAMS, type ScryptParams } from './scrypt-kdf.js';
