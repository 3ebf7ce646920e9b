import { chmod, mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { layout } from '../../main/engine/catalog/layout.js';
import { passphraseSecretName } from '../../main/engine/repository/repository-manager.js';
import { EnvFileSecretStore } from '../../main/engine/secrets/env-file-secret-store.js';
import { MemorySecretStore } from '../../main/engine/secrets/secret-store.js';
import { folderKeys, managerIn, snapshotFiles } from '../support/repo-manager-fixture.js';
import { tempDir } from '../support/temp-dir.js';

let root: { path: string; cleanup: () => Promise<void> };
let counter = 0;

beforeAll(async () => {
  root = await tempDir('tidemark-repo-keys-');
});
afterAll(() => root.cleanup());

async function place(): Promise<{
  dir: string;
  zones: { kind: 'folder'; id: string; name: string; path: string }[];
}> {
  const dir = join(root.path, `case-${++counter}`);
  const zones = ['a', 'b'].map((id) => ({
    kind: 'folder' as const,
    id,
    name: `zone ${id}`,
    path: join(dir, `zone-${id}`),
  }));
  for (const z of zones) await mkdir(z.path, { recursive: true });
  return { dir, zones };
}

const cluster = {
  clusterId: 'c1',
  name: 'prod',
  createdAt: '2026-01-01T00:00:00.000Z',
  coordinator: { host: 'db', port: 5432, database: 'app' },
  citusVersion: null,
};

describe('passphrases, key files and the recovery kit', () => {
  it('a wrong passphrase gives one clear error and writes nothing, locally or in the zones', async () => {
    const { dir, zones } = await place();
    const first = managerIn(join(dir, 'machine'));
    await first.manager.create(
      { id: 'r1', name: 'R1', zones },
      { passphrase: 'the right passphrase' },
    );
    await first.manager.close();

    await first.secrets.set(passphraseSecretName('r1'), 'not the passphrase');
    const zonesBefore = await snapshotFiles(dir);
    await expect(first.manager.open('r1')).rejects.toMatchObject({
      code: 'wrong_passphrase',
      message: expect.stringContaining('r1'),
    });
    await expect(first.manager.status('r1')).rejects.toMatchObject({ code: 'wrong_passphrase' });
    expect(await snapshotFiles(dir)).toEqual(zonesBefore);
    expect(await snapshotFiles(first.manager.localDir('r1'))).toEqual({});
  });

  it('a missing passphrase names the ways to provide it', async () => {
    const { dir, zones } = await place();
    const first = managerIn(join(dir, 'machine'));
    await first.manager.create(
      { id: 'no-secret', name: 'R', zones },
      { passphrase: 'the right passphrase' },
    );
    await first.secrets.delete(passphraseSecretName('no-secret'));
    await first.manager.close();
    await expect(first.manager.open('no-secret')).rejects.toMatchObject({
      code: 'invalid_input',
      message: expect.stringContaining('TIDEMARK_SECRET_REPOSITORY_NO_SECRET_PASSPHRASE'),
    });
  });

  it('a missing key file gives one clear error naming it, and writes nothing', async () => {
    const { dir, zones } = await place();
    const keyFile = join(dir, 'repo.key');
    const first = managerIn(join(dir, 'machine'));
    await first.manager.create(
      { id: 'kf', name: 'KF', zones, key: { source: 'keyfile', path: keyFile } },
      {},
    );
    const { repository } = await first.manager.open('kf');
    await repository.putObject(layout.cluster('c1'), Buffer.from('x'));
    await first.manager.close();

    await rename(keyFile, `${keyFile}.away`);
    const before = await snapshotFiles(dir);
    await expect(first.manager.open('kf')).rejects.toMatchObject({
      code: 'not_found',
      message: expect.stringContaining(keyFile),
    });
    expect(await snapshotFiles(dir)).toEqual(before);
    // a key file others can read is refused too
    await rename(`${keyFile}.away`, keyFile);
    await chmod(keyFile, 0o644);
    await expect(first.manager.open('kf')).rejects.toMatchObject({
      message: expect.stringContaining('chmod 600'),
    });
    await chmod(keyFile, 0o600);
    expect(
      (
        await (await first.manager.open('kf')).repository.readObject(layout.cluster('c1'))
      ).toString(),
    ).toBe('x');
    await first.manager.close();
  });

  it('the recovery kit reopens the repository on a fresh machine after the zones lost their keyring', async () => {
    const { dir, zones } = await place();
    const first = managerIn(join(dir, 'first-machine'));
    await first.manager.create(
      { id: 'kit', name: 'Kit', zones },
      { passphrase: 'kit passphrase 1' },
    );
    const { catalog } = await first.manager.open('kit');
    await catalog.putCluster(cluster);
    await catalog.flush();
    const kit = await first.manager.exportKit('kit');
    expect(kit).not.toContain('kit passphrase 1');
    await first.manager.close();

    // the keyring is gone from every zone
    for (const z of zones) await rm(join(z.path, layout.keyring()));
    const fresh = managerIn(join(dir, 'second-machine'));
    const config = { id: 'kit', name: 'Kit', zones };
    await expect(
      fresh.manager.attach(config, { passphrase: 'kit passphrase 1' }),
    ).rejects.toMatchObject({
      code: 'not_found',
      message: expect.stringContaining('recovery kit'),
    });
    // the kit with a wrong passphrase: refused, and nothing is written back
    await expect(
      fresh.manager.importFromKit(config, kit, { passphrase: 'wrong passphrase' }),
    ).rejects.toMatchObject({ code: 'wrong_passphrase' });
    for (const z of zones) expect(await folderKeys(z.path)).not.toContain(layout.keyring());
    expect(await fresh.manager.list()).toEqual([]);

    await fresh.manager.importFromKit(config, kit, { passphrase: 'kit passphrase 1' });
    for (const z of zones) expect(await folderKeys(z.path)).toContain(layout.keyring());
    expect(await fresh.secrets.get(passphraseSecretName('kit'))).toBe('kit passphrase 1');
    const reopened = await fresh.manager.open('kit');
    expect(reopened.catalog.clusters().map((c) => c.clusterId)).toEqual(['c1']);
    await fresh.manager.close();
  });

  it('rekey changes the passphrase without rewriting data and stores the new one', async () => {
    const { dir, zones } = await place();
    const m = managerIn(join(dir, 'machine'));
    await m.manager.create({ id: 'rk', name: 'RK', zones }, { passphrase: 'old passphrase' });
    const { catalog } = await m.manager.open('rk');
    await catalog.putCluster(cluster);
    const recordBefore = (await snapshotFiles(zones[0]!.path))[layout.cluster('c1')];
    await expect(m.manager.rekey('rk', 'not the old one', 'new passphrase')).rejects.toMatchObject({
      code: 'wrong_passphrase',
    });
    expect(await m.manager.rekey('rk', 'old passphrase', 'new passphrase')).toEqual({
      warnings: [],
    });
    expect(await m.secrets.get(passphraseSecretName('rk'))).toBe('new passphrase');
    expect((await snapshotFiles(zones[0]!.path))[layout.cluster('c1')]).toBe(recordBefore);
    await m.manager.close();
    expect((await m.manager.open('rk')).catalog.clusters()).toHaveLength(1);
    await m.manager.close();

    // an environment variable that still holds the old passphrase is named
    const envStore = new EnvFileSecretStore(join(dir, 'secrets'), {
      TIDEMARK_SECRET_REPOSITORY_RK2_PASSPHRASE: 'env passphrase',
    });
    const e = managerIn(join(dir, 'env-machine'), envStore);
    const zone2 = { kind: 'folder' as const, id: 'a', name: 'zone a', path: join(dir, 'zone-rk2') };
    await mkdir(zone2.path);
    await e.manager.create(
      { id: 'rk2', name: 'RK2', zones: [zone2] },
      { passphrase: 'env passphrase', storePassphrase: false },
    );
    const { warnings } = await e.manager.rekey('rk2', 'env passphrase', 'next passphrase');
    expect(warnings).toEqual([
      {
        kind: 'environment-overrides',
        message: expect.stringContaining('TIDEMARK_SECRET_REPOSITORY_RK2_PASSPHRASE'),
      },
    ]);
    await e.manager.close();
  });
});

describe('forget and destroy', () => {
  it('forget removes the configuration only; destroy needs the typed id and no lock, then removes everything', async () => {
    const { dir, zones } = await place();
    const m = managerIn(join(dir, 'machine'), new MemorySecretStore());
    const config = { id: 'gone', name: 'Gone', zones };
    await m.manager.create(config, { passphrase: 'gone passphrase' });
    const { catalog } = await m.manager.open('gone');
    await catalog.putCluster(cluster);
    await catalog.flush();
    const before = await Promise.all(zones.map((z) => folderKeys(z.path)));

    await m.manager.forget('gone');
    expect(await m.manager.list()).toEqual([]);
    expect(await Promise.all(zones.map((z) => folderKeys(z.path)))).toEqual(before);

    await m.manager.attach(config, { passphrase: 'gone passphrase' });
    await expect(m.manager.destroy('gone', { confirm: 'yes' })).rejects.toMatchObject({
      code: 'invalid_input',
      message: expect.stringContaining('"gone"'),
    });
    await m.manager.setLocked('gone', true, 'keep');
    await expect(m.manager.destroy('gone', { confirm: 'gone' })).rejects.toMatchObject({
      code: 'locked',
    });
    expect(await Promise.all(zones.map((z) => folderKeys(z.path)))).toEqual(before);
    await m.manager.setLocked('gone', false);

    expect((await m.manager.destroy('gone', { confirm: 'gone' })).deleted).toBe(before[0]!.length);
    for (const z of zones) expect(await folderKeys(z.path)).toEqual([]);
    expect(await m.manager.list()).toEqual([]);
    expect(await m.secrets.has(passphraseSecretName('gone'))).toBe(false);
  });
});
