import { chmod, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TidemarkError } from '../../main/engine/errors.js';
import { createKeyFile, readKeyFile } from '../../main/engine/repository/crypto/key-file.js';
import {
  createKeyring,
  parseKeyring,
  rewrapKeyring,
  serializeKeyring,
  unlockKeyring,
  type Keyring,
} from '../../main/engine/repository/crypto/keyring.js';
import {
  decryptBuffer,
  encryptBuffer,
} from '../../main/engine/repository/crypto/object-buffers.js';
import { DEFAULT_SCRYPT_PARAMS } from '../../main/engine/repository/crypto/scrypt-kdf.js';
import { tempDir } from '../support/temp-dir.js';

const cheap = { scrypt: { N: 1024, r: 8, p: 1 } };
const passphrase = 'tide pools at low water';

async function rejection(promise: Promise<unknown>): Promise<TidemarkError> {
  const error = await promise.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(error).toBeInstanceOf(TidemarkError);
  return error as TidemarkError;
}

describe('passphrase keyring', () => {
  it('unlocks the same master key it created, and the document holds no secret', async () => {
    const { keyring, masterKey } = await createKeyring({
      repositoryId: 'prod-backups',
      passphrase,
      ...cheap,
    });
    expect(keyring).toMatchObject({
      format: 'tidemark-keyring',
      version: 1,
      repositoryId: 'prod-backups',
      keyId: masterKey.id,
      kdf: { name: 'scrypt', N: 1024, r: 8, p: 1, keyLength: 32 },
    });
    const text = serializeKeyring(keyring);
    expect(text).not.toContain(masterKey.bytes.toString('hex'));
    expect(text).not.toContain(masterKey.bytes.toString('base64'));
    expect(text).not.toContain(passphrase);
    const unlocked = await unlockKeyring(parseKeyring(text), { passphrase });
    expect(unlocked.id).toBe(masterKey.id);
    expect(unlocked.bytes.equals(masterKey.bytes)).toBe(true);
  });

  it('gives one clear wrong_passphrase error for a wrong passphrase', async () => {
    const { keyring } = await createKeyring({ repositoryId: 'prod-backups', passphrase, ...cheap });
    const error = await rejection(
      unlockKeyring(keyring, { passphrase: 'tide pools at high water' }),
    );
    expect(error.code).toBe('wrong_passphrase');
    expect(error.message).toMatch(/^The passphrase does not unlock repository prod-backups\. /);
    expect(error.message).not.toContain('tide pools');
  });

  it('treats the same characters in another Unicode composition as the same passphrase', async () => {
    const composed = 'marée basse à Saint-Malo';
    const { keyring, masterKey } = await createKeyring({
      repositoryId: 'r1',
      passphrase: composed,
      ...cheap,
    });
    const unlocked = await unlockKeyring(keyring, { passphrase: composed.normalize('NFD') });
    expect(unlocked.bytes.equals(masterKey.bytes)).toBe(true);
  });

  it('does not unlock when the document is edited to claim another repository or key id', async () => {
    const { keyring } = await createKeyring({ repositoryId: 'prod-backups', passphrase, ...cheap });
    expect(
      (await rejection(unlockKeyring({ ...keyring, repositoryId: 'other-repo' }, { passphrase })))
        .code,
    ).toBe('wrong_passphrase');
    expect(
      (await rejection(unlockKeyring({ ...keyring, keyId: '0'.repeat(32) }, { passphrase }))).code,
    ).toBe('wrong_passphrase');
  });

  it('rewraps under a new passphrase without touching data: the old passphrase fails, old objects still decrypt', async () => {
    const { keyring, masterKey } = await createKeyring({
      repositoryId: 'prod-backups',
      passphrase,
      ...cheap,
    });
    const objectKey = 'clusters/c1/catalog/backups.json';
    const before = encryptBuffer(masterKey, objectKey, Buffer.from('{"backups":[]}'));
    const newPassphrase = 'a brand new passphrase';
    const rewrapped = await rewrapKeyring(
      keyring,
      { passphrase },
      { passphrase: newPassphrase },
      cheap,
    );
    expect(rewrapped.keyId).toBe(keyring.keyId);
    expect(rewrapped.createdAt).toBe(keyring.createdAt);
    expect(rewrapped.rewrappedAt).toBeDefined();
    expect(rewrapped.kdf).not.toEqual(keyring.kdf); // fresh salt
    expect((await rejection(unlockKeyring(rewrapped, { passphrase }))).code).toBe(
      'wrong_passphrase',
    );
    const unlocked = await unlockKeyring(rewrapped, { passphrase: newPassphrase });
    expect(decryptBuffer(unlocked, objectKey, before).toString()).toBe('{"backups":[]}');
  });

  it('refuses a rewrap with a wrong old passphrase, and too short passphrases', async () => {
    const { keyring } = await createKeyring({ repositoryId: 'prod-backups', passphrase, ...cheap });
    expect(
      (
        await rejection(
          rewrapKeyring(
            keyring,
            { passphrase: 'not the one!' },
            { passphrase: 'whatever else' },
            cheap,
          ),
        )
      ).code,
    ).toBe('wrong_passphrase');
    expect(
      (await rejection(rewrapKeyring(keyring, { passphrase }, { passphrase: 'short' }, cheap)))
        .code,
    ).toBe('invalid_input');
    expect(
      (await rejection(createKeyring({ repositoryId: 'r1', passphrase: 'short', ...cheap }))).code,
    ).toBe('invalid_input');
    expect(
      (await rejection(createKeyring({ repositoryId: 'Not An Id', passphrase, ...cheap }))).code,
    ).toBe('invalid_input');
  });

  it("uses N=2^17 r=8 p=1 by default (needs maxmem above Node's 32 MiB default)", async () => {
    const { keyring, masterKey } = await createKeyring({
      repositoryId: 'prod-backups',
      passphrase,
    });
    expect(keyring.kdf).toMatchObject({ name: 'scrypt', ...DEFAULT_SCRYPT_PARAMS });
    expect((await unlockKeyring(keyring, { passphrase })).bytes.equals(masterKey.bytes)).toBe(true);
  });
});

describe('keyring documents are validated on load', () => {
  let valid: Keyring;
  beforeAll(async () => {
    valid = (await createKeyring({ repositoryId: 'prod-backups', passphrase, ...cheap })).keyring;
  });

  it('names the fields that are wrong', () => {
    const broken = { ...valid, wrappedKey: { ...valid.wrappedKey, tag: 'xyz' } };
    expect(() => parseKeyring(broken, 'Keyring in zone "a"')).toThrow(
      /Keyring in zone "a" is not a valid Tidemark keyring \(wrappedKey\.tag: /,
    );
    expect(() => parseKeyring('{ not json', 'keyring.json')).toThrow(
      /keyring\.json is not valid JSON/,
    );
    expect(() => parseKeyring({ ...valid, version: 2 })).toThrow(
      expect.objectContaining({ code: 'invalid_input' }),
    );
  });

  it('refuses scrypt parameters that would exhaust memory or are too weak to be real', () => {
    const kdf = valid.kdf as Extract<Keyring['kdf'], { name: 'scrypt' }>;
    expect(() => parseKeyring({ ...valid, kdf: { ...kdf, N: 2 ** 22, r: 32 } })).toThrow(
      /out of range/,
    );
    expect(() => parseKeyring({ ...valid, kdf: { ...kdf, N: 1000 } })).toThrow(/out of range/);
    expect(() => parseKeyring({ ...valid, kdf: { ...kdf, N: 16 } })).toThrow(/out of range/);
  });
});

describe('key files', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  beforeAll(async () => {
    dir = await tempDir('tidemark-keyfile-');
  });
  afterAll(async () => {
    await dir.cleanup();
  });

  it('creates an owner-only key file and unlocks a keyring with it', async () => {
    const path = join(dir.path, 'repo.key');
    await createKeyFile(path);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect((await readFile(path, 'utf8')).startsWith('# Tidemark repository key file')).toBe(true);
    expect((await readKeyFile(path)).length).toBe(32);
    const { keyring, masterKey } = await createKeyring({
      repositoryId: 'edge-site',
      keyFile: path,
    });
    expect(keyring.kdf).toEqual({ name: 'keyfile' });
    expect((await unlockKeyring(keyring, { keyFile: path })).bytes.equals(masterKey.bytes)).toBe(
      true,
    );
    expect((await rejection(createKeyFile(path))).code).toBe('conflict');
  });

  it('refuses a key file that group or others can read, naming the fix', async () => {
    const path = join(dir.path, 'open.key');
    await createKeyFile(path);
    await chmod(path, 0o644);
    const error = await rejection(readKeyFile(path));
    expect(error.code).toBe('invalid_input');
    expect(error.message).toContain(`Key file ${path} is accessible to other users (mode 0644)`);
    expect(error.message).toContain(`chmod 600 ${path}`);
    await chmod(path, 0o640);
    expect((await rejection(readKeyFile(path))).code).toBe('invalid_input');
  });

  it('reports a missing key file as not_found naming the path', async () => {
    const path = join(dir.path, 'nowhere.key');
    const error = await rejection(
      unlockKeyring({ ...(await keyfileKeyring()), repositoryId: 'edge-site' }, { keyFile: path }),
    );
    expect(error.code).toBe('not_found');
    expect(error.message).toContain(`Key file ${path} does not exist`);
  });

  it('rejects a file that is not a key, and a key file of another repository', async () => {
    const junk = join(dir.path, 'junk.key');
    await writeFile(junk, 'hello\n', { mode: 0o600 });
    expect(await rejection(readKeyFile(junk))).toMatchObject({
      code: 'invalid_input',
      message: expect.stringContaining('is not a Tidemark key file'),
    });
    const other = join(dir.path, 'other.key');
    await createKeyFile(other);
    const error = await rejection(unlockKeyring(await keyfileKeyring(), { keyFile: other }));
    expect(error.code).toBe('wrong_passphrase');
    expect(error.message).toContain(`The key file ${other} does not unlock repository edge-site`);
  });

  it('says which kind of secret a keyring needs', async () => {
    const keyring = await keyfileKeyring();
    expect(await rejection(unlockKeyring(keyring, { passphrase }))).toMatchObject({
      code: 'invalid_input',
      message: expect.stringContaining('unlocked with a key file'),
    });
  });

  it('switches a repository from a key file to a passphrase', async () => {
    const path = join(dir.path, 'switch.key');
    await createKeyFile(path);
    const { keyring, masterKey } = await createKeyring({
      repositoryId: 'edge-site',
      keyFile: path,
    });
    const rewrapped = await rewrapKeyring(keyring, { keyFile: path }, { passphrase }, cheap);
    expect(rewrapped.kdf.name).toBe('scrypt');
    expect((await unlockKeyring(rewrapped, { passphrase })).bytes.equals(masterKey.bytes)).toBe(
      true,
    );
  });

  async function keyfileKeyring(): Promise<Keyring> {
    const path = join(dir.path, `k-${Math.random().toString(16).slice(2)}.key`);
    await createKeyFile(path);
    return (await createKeyring({ repositoryId: 'edge-site', keyFile: path })).keyring;
  }
});
