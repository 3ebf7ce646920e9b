import { chmod, mkdtemp, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EnvFileSecretStore, secretEnvName } from '../../main/engine/secrets/env-file-secret-store.js';
import { JsonFileSettingsStore } from '../../main/engine/settings/settings-store.js';

const dir = () => mkdtemp(join(tmpdir(), 'tidemark-unit-'));

describe('JsonFileSettingsStore', () => {
  it('returns defaults when there is no file and persists updates with mode 0600', async () => {
    const path = join(await dir(), 'settings.json');
    const store = new JsonFileSettingsStore(path);
    expect((await store.get()).desktop.runInBackground).toBe(true);
    await store.update({ desktop: { runInBackground: false } });
    expect(JSON.parse(await readFile(path, 'utf8')).desktop.runInBackground).toBe(false);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect((await new JsonFileSettingsStore(path).get()).desktop).toMatchObject({ runInBackground: false, notifications: true });
  });

  it('merges defaults into an older file', async () => {
    const path = join(await dir(), 'settings.json');
    await writeFile(path, JSON.stringify({ web: { port: 8080 } }));
    const settings = await new JsonFileSettingsStore(path).get();
    expect(settings.web.port).toBe(8080);
    expect(settings.logging.level).toBe('info');
  });

  it('says which file is broken and changes nothing on invalid input', async () => {
    const path = join(await dir(), 'settings.json');
    await writeFile(path, '{ not json');
    await expect(new JsonFileSettingsStore(path).get()).rejects.toThrow(/settings\.json is not valid JSON/);
    await writeFile(path, JSON.stringify({ web: { port: -1 } }));
    await expect(new JsonFileSettingsStore(path).get()).rejects.toThrow(/web\.port/);
    const good = join(await dir(), 'settings.json');
    const store = new JsonFileSettingsStore(good);
    await store.update({ web: { port: 1234 } });
    await expect(store.update({ web: { port: 99999 } })).rejects.toMatchObject({ code: 'invalid_input' });
    expect(JSON.parse(await readFile(good, 'utf8')).web.port).toBe(1234);
  });
});

describe('EnvFileSecretStore', () => {
  it('stores secrets in 0600 files and reads them back', async () => {
    const root = await dir();
    const store = new EnvFileSecretStore(root, {});
    await store.set('repository/r1/passphrase', 'correct horse');
    const file = join(root, 'repository', 'r1', 'passphrase');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(await store.get('repository/r1/passphrase')).toBe('correct horse');
    await store.delete('repository/r1/passphrase');
    expect(await store.has('repository/r1/passphrase')).toBe(false);
  });

  it('prefers the environment variable', async () => {
    const store = new EnvFileSecretStore(await dir(), { [secretEnvName('cluster/c-1/password')]: 'from-env' });
    expect(secretEnvName('cluster/c-1/password')).toBe('TIDEMARK_SECRET_CLUSTER_C_1_PASSWORD');
    expect(await store.get('cluster/c-1/password')).toBe('from-env');
  });

  it('refuses a secret file other users can read, saying how to fix it', async () => {
    const root = await dir();
    const store = new EnvFileSecretStore(root, {});
    await store.set('cluster/c1/password', 'pw');
    await chmod(join(root, 'cluster', 'c1', 'password'), 0o644);
    await expect(store.get('cluster/c1/password')).rejects.toThrow(/chmod 600/);
  });

  it('rejects names that would escape its folder', async () => {
    const store = new EnvFileSecretStore(await dir(), {});
    await expect(store.set('../outside', 'x')).rejects.toMatchObject({ code: 'invalid_input' });
    await expect(store.get('a/../../b')).rejects.toMatchObject({ code: 'invalid_input' });
  });
});
