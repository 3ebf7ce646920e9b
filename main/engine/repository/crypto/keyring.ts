import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { TidemarkError } from '../../errors.js';
import { repositoryConfigSchema } from '../repository-config.js';
import { readKeyFile } from './key-file.js';
import { TAG_LENGTH, WRAP_NONCE_LENGTH, unwrapKey, wrapKey } from './key-wrap.js';
import { KEY_ID_LENGTH, MASTER_KEY_LENGTH, MasterKey } from './master-key.js';
import {
  DEFAULT_SCRYPT_PARAMS,
  checkScryptParams,
  deriveKekFromPassphrase,
  type ScryptParams,
} from './scrypt-kdf.js';

export const KEYRING_FORMAT = 'tidemark-keyring';
export const KEYRING_VERSION = 1;
export const SCRYPT_SALT_LENGTH = 16;

const hex = (bytes: number) =>
  z.string().regex(new RegExp(`^[0-9a-f]{${bytes * 2}}$`), `${bytes} bytes as lower-case hex`);

const scryptKdfSchema = z
  .object({
    name: z.literal('scrypt'),
    N: z.number().int(),
    r: z.number().int(),
    p: z.number().int(),
    keyLength: z.literal(32),
    salt: hex(SCRYPT_SALT_LENGTH),
  })
  .check((ctx) => {
    try {
      checkScryptParams(ctx.value);
    } catch (err) {
      ctx.issues.push({ code: 'custom', message: (err as Error).message, input: ctx.value });
    }
  });

/** The keyring document: everything needed to unlock the master key except the secret. */
export const keyringSchema = z.object({
  format: z.literal(KEYRING_FORMAT),
  version: z.literal(KEYRING_VERSION),
  repositoryId: repositoryConfigSchema.shape.id,
  keyId: hex(KEY_ID_LENGTH),
  kdf: z.discriminatedUnion('name', [scryptKdfSchema, z.object({ name: z.literal('keyfile') })]),
  wrappedKey: z.object({
    algorithm: z.literal('aes-256-gcm'),
    nonce: hex(WRAP_NONCE_LENGTH),
    ciphertext: hex(MASTER_KEY_LENGTH),
    tag: hex(TAG_LENGTH),
  }),
  createdAt: z.iso.datetime(),
  /** when the master key was last wrapped under a new secret */
  rewrappedAt: z.iso.datetime().optional(),
});
export type Keyring = z.infer<typeof keyringSchema>;

/** A passphrase, or the path of a key file. */
export type KeyringSecret = { passphrase: string } | { keyFile: string };

export interface KeyringOptions {
  /** scrypt cost for a passphrase; tests pass cheap parameters */
  scrypt?: ScryptParams;
}

export const MIN_PASSPHRASE_LENGTH = 8;

/** Validates a keyring read from disk or a zone; `source` names it in the error. */
export function parseKeyring(input: unknown, source = 'The keyring'): Keyring {
  let value = input;
  if (typeof input === 'string' || Buffer.isBuffer(input)) {
    try {
      value = JSON.parse(input.toString());
    } catch {
      throw new TidemarkError(
        'invalid_input',
        `${source} is not valid JSON. Restore it from another zone or import the recovery kit.`,
      );
    }
  }
  const parsed = keyringSchema.safeParse(value);
  if (!parsed.success) {
    const problems = parsed.error.issues
      .map((i) => `${i.path.join('.') || '(document)'}: ${i.message}`)
      .join('; ');
    throw new TidemarkError(
      'invalid_input',
      `${source} is not a valid Tidemark keyring (${problems}). Restore it from another zone or import the recovery kit.`,
    );
  }
  return parsed.data;
}

export function serializeKeyring(keyring: Keyring): string {
  return `${JSON.stringify(keyringSchema.parse(keyring), null, 2)}\n`;
}

/** Creates a new master key and the keyring that holds it wrapped under the secret. */
export async function createKeyring(
  input: ({ repositoryId: string } & KeyringSecret) & KeyringOptions,
): Promise<{ keyring: Keyring; masterKey: MasterKey }> {
  const repositoryId = repositoryConfigSchema.shape.id.safeParse(input.repositoryId);
  if (!repositoryId.success)
    throw new TidemarkError(
      'invalid_input',
      `"${input.repositoryId}" is not a repository id (lower-case letters, digits and dashes).`,
    );
  if ('passphrase' in input && [...input.passphrase].length < MIN_PASSPHRASE_LENGTH) {
    throw new TidemarkError(
      'invalid_input',
      `A repository passphrase needs at least ${MIN_PASSPHRASE_LENGTH} characters; a long phrase of several words is best.`,
    );
  }
  const masterKey = MasterKey.generate();
  const secret: KeyringSecret =
    'passphrase' in input ? { passphrase: input.passphrase } : { keyFile: input.keyFile };
  const wrapped = await wrapMasterKey(repositoryId.data, masterKey, secret, input);
  const keyring: Keyring = {
    format: KEYRING_FORMAT,
    version: KEYRING_VERSION,
    repositoryId: repositoryId.data,
    keyId: masterKey.id,
    ...wrapped,
    createdAt: new Date().toISOString(),
  };
  return { keyring, masterKey };
}

/** The master key, or one `wrong_passphrase` error whatever the reason the secret does not fit. */
export async function unlockKeyring(keyring: Keyring, secret: KeyringSecret): Promise<MasterKey> {
  const { kdf } = keyring;
  if (kdf.name === 'scrypt' && !('passphrase' in secret)) {
    throw new TidemarkError(
      'invalid_input',
      `Repository ${keyring.repositoryId} is unlocked with a passphrase, not a key file. Enter its passphrase.`,
    );
  }
  if (kdf.name === 'keyfile' && !('keyFile' in secret)) {
    throw new TidemarkError(
      'invalid_input',
      `Repository ${keyring.repositoryId} is unlocked with a key file, not a passphrase. Choose its key file.`,
    );
  }
  const kek =
    'passphrase' in secret && kdf.name === 'scrypt'
      ? await deriveKekFromPassphrase(secret.passphrase, Buffer.from(kdf.salt, 'hex'), kdf)
      : await readKeyFile((secret as { keyFile: string }).keyFile);
  const key = unwrapKey(
    kek,
    {
      nonce: Buffer.from(keyring.wrappedKey.nonce, 'hex'),
      ciphertext: Buffer.from(keyring.wrappedKey.ciphertext, 'hex'),
      tag: Buffer.from(keyring.wrappedKey.tag, 'hex'),
    },
    masterKeyAad(keyring.repositoryId, keyring.keyId),
  );
  kek.fill(0);
  if (!key) {
    const what = 'passphrase' in secret ? 'The passphrase' : `The key file ${secret.keyFile}`;
    const check =
      'passphrase' in secret
        ? 'Check it (keyboard layout, caps lock; after a change, use the new one).'
        : 'Check that it is the key file created for this repository.';
    throw new TidemarkError(
      'wrong_passphrase',
      `${what} does not unlock repository ${keyring.repositoryId}. ${check} If it is right, this copy of the keyring is damaged: import the recovery kit.`,
      { details: { repositoryId: keyring.repositoryId } },
    );
  }
  try {
    return new MasterKey(keyring.keyId, key);
  } finally {
    key.fill(0);
  }
}

/**
 * The same master key wrapped under a new secret (a passphrase change, or a switch between
 * passphrase and key file). No object changes: objects only name the master key's id.
 * Copies of the old keyring or recovery kit still open with the old secret.
 */
export async function rewrapKeyring(
  keyring: Keyring,
  oldSecret: KeyringSecret,
  newSecret: KeyringSecret,
  options: KeyringOptions = {},
): Promise<Keyring> {
  if ('passphrase' in newSecret && [...newSecret.passphrase].length < MIN_PASSPHRASE_LENGTH) {
    throw new TidemarkError(
      'invalid_input',
      `A repository passphrase needs at least ${MIN_PASSPHRASE_LENGTH} characters; a long phrase of several words is best.`,
    );
  }
  const masterKey = await unlockKeyring(keyring, oldSecret);
  try {
    const wrapped = await wrapMasterKey(keyring.repositoryId, masterKey, newSecret, options);
    return { ...keyring, ...wrapped, rewrappedAt: new Date().toISOString() };
  } finally {
    masterKey.dispose();
  }
}

/**
 * AAD of the master-key wrap: binds the wrapped key to its repository and key id, so a
 * keyring edited to claim another repository or key id does not unlock.
 */
export function masterKeyAad(repositoryId: string, keyId: string): Buffer {
  return Buffer.from(`tidemark-keyring-v1\0${repositoryId}\0${keyId}`, 'utf8');
}

async function wrapMasterKey(
  repositoryId: string,
  masterKey: MasterKey,
  secret: KeyringSecret,
  options: KeyringOptions,
): Promise<Pick<Keyring, 'kdf' | 'wrappedKey'>> {
  let kdf: Keyring['kdf'];
  let kek: Buffer;
  if ('passphrase' in secret) {
    const params = options.scrypt ?? DEFAULT_SCRYPT_PARAMS;
    const salt = randomBytes(SCRYPT_SALT_LENGTH);
    kek = await deriveKekFromPassphrase(secret.passphrase, salt, params);
    kdf = {
      name: 'scrypt',
      N: params.N,
      r: params.r,
      p: params.p,
      keyLength: 32,
      salt: salt.toString('hex'),
    };
  } else {
    kek = await readKeyFile(secret.keyFile);
    kdf = { name: 'keyfile' };
  }
  try {
    const wrapped = wrapKey(
      kek,
      masterKey.bytes,
      randomBytes(WRAP_NONCE_LENGTH),
      masterKeyAad(repositoryId, masterKey.id),
    );
    return {
      kdf,
      wrappedKey: {
        algorithm: 'aes-256-gcm',
        nonce: wrapped.nonce.toString('hex'),
        ciphertext: wrapped.ciphertext.toString('hex'),
        tag: wrapped.tag.toString('hex'),
      },
    };
  } finally {
    kek.fill(0);
  }
}
