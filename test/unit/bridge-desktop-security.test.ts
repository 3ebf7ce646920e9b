import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { appFileResponse } from '../../main/desktop/app-files.js';
import {
  SafeStorageSecretStore,
  type SecretEncryptor,
} from '../../main/desktop/safe-storage-secret-store.js';
import {
  appEntryUrl,
  appOrigin,
  isAllowedExternalUrl,
  isAppUrl,
  secretStorageProblem,
} from '../../main/desktop/security.js';
import { tempDir } from '../support/temp-dir.js';

describe('external links', () => {
  it.each([
    'https://docs.citusdata.com/en/stable/',
    'https://www.postgresql.org/docs/15/continuous-archiving.html',
  ])('opens %s', (url) => {
    expect(isAllowedExternalUrl(url)).toBe(true);
  });

  it.each([
    'http://docs.citusdata.com/',
    'https://docs.citusdata.com.evil.example/',
    'https://evil.example/?https://docs.citusdata.com',
    'https://user:pw@docs.citusdata.com/',
    'https://docs.citusdata.com:8443/',
    'file:///etc/passwd',
    'javascript:alert(1)',
    'app://tidemark/index.html',
    'not a url',
  ])('refuses %s', (url) => {
    expect(isAllowedExternalUrl(url)).toBe(false);
  });

  it('knows its own renderer URLs', () => {
    expect(appOrigin).toBe('app://tidemark');
    expect(isAppUrl(appEntryUrl)).toBe(true);
    expect(isAppUrl('app://other/index.html')).toBe(false);
    expect(isAppUrl('https://tidemark/')).toBe(false);
  });
});

describe('secretStorageProblem', () => {
  it('refuses the plain-text basic_text backend on Linux, saying what to do', () => {
    const problem = secretStorageProblem('linux', true, 'basic_text');
    expect(problem).toMatch(/keyring/);
    expect(problem).toMatch(/plain text/);
  });

  it('accepts a real keyring on Linux and the OS stores elsewhere', () => {
    expect(secretStorageProblem('linux', true, 'gnome_libsecret')).toBeNull();
    expect(secretStorageProblem('linux', true, 'kwallet5')).toBeNull();
    expect(secretStorageProblem('darwin', true, null)).toBeNull();
    expect(secretStorageProblem('win32', true, null)).toBeNull();
  });

  it('reports when no encryption is available at all', () => {
    expect(secretStorageProblem('darwin', false, null)).toMatch(/not available/);
  });
});

describe('app:// files', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  beforeEach(async () => {
    dir = await tempDir();
    await mkdir(join(dir.path, 'renderer', 'assets'), { recursive: true });
    await writeFile(join(dir.path, 'renderer', 'index.html'), '<!doctype html><title>t</title>');
    await writeFile(join(dir.path, 'renderer', 'assets', 'app.js'), 'console.log(1)');
    await writeFile(join(dir.path, 'outside.txt'), 'private');
  });
  afterEach(() => dir.cleanup());

  it('serves the renderer with a strict CSP and the right type', async () => {
    const root = join(dir.path, 'renderer');
    const page = await appFileResponse(root, 'app://tidemark/');
    expect(page.status).toBe(200);
    expect(page.headers['Content-Type']).toBe('text/html; charset=utf-8');
    expect(page.headers['Content-Security-Policy']).toContain("connect-src 'none'");
    expect(String(page.body)).toContain('<title>t</title>');
    const script = await appFileResponse(root, 'app://tidemark/assets/app.js');
    expect(script.headers['Content-Type']).toBe('text/javascript; charset=utf-8');
  });

  it('refuses traversal, other hosts and other methods', async () => {
    const root = join(dir.path, 'renderer');
    for (const url of [
      'app://tidemark/../outside.txt',
      'app://tidemark/%2e%2e/outside.txt',
      'app://tidemark/assets/..%2f..%2foutside.txt',
    ]) {
      const res = await appFileResponse(root, url);
      expect(res.status, url).toBe(404);
      expect(String(res.body)).not.toContain('private');
    }
    expect((await appFileResponse(root, 'app://other/index.html')).status).toBe(403);
    expect((await appFileResponse(root, 'app://tidemark/index.html', 'POST')).status).toBe(403);
    expect((await appFileResponse(root, 'app://tidemark/missing.js')).status).toBe(404);
    expect((await appFileResponse(root, 'app://tidemark/assets/')).status).toBe(404);
  });
});

/**
 * Electron's safeStorage cannot run here (no Electron binary): this stand-in encrypts for
 * real with AES-256-GCM so the store's file handling and refusals are what is tested.
 */
function standInEncryptor(
  backend: ReturnType<SecretEncryptor['getSelectedStorageBackend']>,
): SecretEncryptor {
  const key = randomBytes(32);
  return {
    isEncryptionAvailable: () => true,
    getSelectedStorageBackend: () => backend,
    encryptString(plain) {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
      return Buffer.concat([iv, cipher.getAuthTag(), body]);
    },
    decryptString(blob) {
      const decipher = createDecipheriv('aes-256-gcm', key, blob.subarray(0, 12));
      decipher.setAuthTag(blob.subarray(12, 28));
      return Buffer.concat([decipher.update(blob.subarray(28)), decipher.final()]).toString('utf8');
    },
  };
}

describe('SafeStorageSecretStore', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  beforeEach(async () => {
    dir = await tempDir();
  });
  afterEach(() => dir.cleanup());

  it('keeps only encrypted values, in a file only its owner can read', async () => {
    const path = join(dir.path, 'userData', 'secrets.json');
    const store = new SafeStorageSecretStore(path, standInEncryptor('gnome_libsecret'), 'linux');
    expect(store.describe()).toEqual({ backend: 'safe-storage', writable: true });
    await store.set('repository/r1/passphrase', 'correct horse battery staple');
    expect(await store.get('repository/r1/passphrase')).toBe('correct horse battery staple');
    expect(await store.has('repository/r1/passphrase')).toBe(true);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect(await readFile(path, 'utf8')).not.toContain('correct horse');
    await store.delete('repository/r1/passphrase');
    expect(await store.get('repository/r1/passphrase')).toBeUndefined();
  });

  it('refuses basic_text on Linux and says why in describe()', async () => {
    const store = new SafeStorageSecretStore(
      join(dir.path, 'secrets.json'),
      standInEncryptor('basic_text'),
      'linux',
    );
    expect(store.describe()).toMatchObject({
      backend: 'safe-storage',
      writable: false,
      problem: expect.stringMatching(/keyring/),
    });
    await expect(store.set('cluster/c1/password', 'x')).rejects.toMatchObject({
      code: 'unsupported',
    });
    expect(await store.has('cluster/c1/password')).toBe(false);
  });

  it('reports a value it cannot decrypt as corrupt, naming the secret', async () => {
    const path = join(dir.path, 'secrets.json');
    await new SafeStorageSecretStore(path, standInEncryptor('kwallet5'), 'linux').set(
      'cluster/c1/password',
      'pw',
    );
    // A new key, as after a keyring reset.
    const after = new SafeStorageSecretStore(path, standInEncryptor('kwallet5'), 'linux');
    await expect(after.get('cluster/c1/password')).rejects.toMatchObject({
      code: 'corrupt_object',
      message: expect.stringContaining('cluster/c1/password'),
    });
  });
});
