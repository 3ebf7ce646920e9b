import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  clusterConfigSchema,
  clusterSecretName,
  nodeKey,
} from '../../main/engine/cluster/cluster-config.js';
import { clusterClientConfig } from '../../main/engine/cluster/connect.js';
import { defaultClusterSchedules } from '../../main/engine/schedule/schedule-config.js';
import { MemorySecretStore } from '../../main/engine/secrets/secret-store.js';
import { JsonFileSettingsStore } from '../../main/engine/settings/settings-store.js';

const minimal = {
  id: 'prod-eu',
  name: 'Production EU',
  coordinator: { host: 'coord.internal', user: 'tidemark' },
  repositoryId: 'main-repo',
};

describe('clusterConfigSchema', () => {
  it('fills the defaults of a minimal cluster', () => {
    const cluster = clusterConfigSchema.parse(minimal);
    expect(cluster.coordinator).toEqual({
      host: 'coord.internal',
      port: 5432,
      database: 'postgres',
      user: 'tidemark',
      sslmode: 'prefer',
    });
    expect(cluster.nodeOverrides).toEqual({});
    expect(cluster.schedules).toEqual(defaultClusterSchedules());
    expect(cluster.schedules).toEqual({
      baseBackup: { enabled: true, cron: '0 2 * * *' },
      restorePoints: { enabled: true, intervalMinutes: 5 },
      retention: { enabled: true, cron: '0 4 * * *' },
      verify: { enabled: true, cron: '0 5 * * 0' },
      walStreaming: { enabled: true },
    });
  });

  it('reads the placeholder schedules of old settings files as the real ones', () => {
    const schedules = (old: unknown) => clusterConfigSchema.parse({ ...minimal, schedules: old }).schedules;
    // Chosen values are kept; everything else gets today's defaults.
    expect(schedules({ baseBackupCron: '30 1 * * 6', restorePointMinutes: 2 })).toEqual({
      ...defaultClusterSchedules(),
      baseBackup: { enabled: true, cron: '30 1 * * 6' },
      restorePoints: { enabled: true, intervalMinutes: 2 },
    });
    // The placeholder wrote its own defaults into every cluster: nobody chose them.
    expect(schedules({ baseBackupCron: '0 3 * * *', restorePointMinutes: 15 })).toEqual(defaultClusterSchedules());
    expect(schedules({ restorePointMinutes: 1 }).restorePoints.intervalMinutes).toBe(1);
    // A cron the old schema never checked, and croner cannot read, falls back to the default.
    expect(schedules({ baseBackupCron: 'nightly' }).baseBackup.cron).toBe('0 2 * * *');
    // An old value the old schema would not have accepted either is still refused.
    expect(clusterConfigSchema.safeParse({ ...minimal, schedules: { restorePointMinutes: 0 } }).error?.issues[0]?.path).toEqual(['schedules', 'restorePoints', 'intervalMinutes']);
  });

  it('loads an old settings file whose clusters have the placeholder schedules, and writes the new shape back', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tidemark-unit-'));
    try {
      const file = join(dir, 'settings.json');
      await writeFile(file, JSON.stringify({ version: 1, clusters: [{ ...minimal, nodeOverrides: {}, schedules: { baseBackupCron: '15 2 * * *', restorePointMinutes: 15 } }] }));
      const store = new JsonFileSettingsStore(file);
      const [cluster] = (await store.get()).clusters;
      expect(cluster?.schedules.baseBackup.cron).toBe('15 2 * * *');
      expect(cluster?.schedules.restorePoints.intervalMinutes).toBe(5);
      await store.update({ logging: { level: 'debug' } });
      const written = JSON.parse(await readFile(file, 'utf8')) as { clusters: { schedules: unknown }[] };
      expect(written.clusters[0]?.schedules).toEqual(cluster?.schedules);
      expect((await new JsonFileSettingsStore(file).get()).clusters[0]?.schedules).toEqual(cluster?.schedules);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('checks the schedules like the agent config does', () => {
    const issues = clusterConfigSchema.safeParse({ ...minimal, schedules: { baseBackup: { cron: '0 25 * * *' }, restorePoints: { intervalMinutes: 5, every: 2 } } }).error?.issues;
    expect(issues?.map((i) => i.path.join('.'))).toEqual(['schedules.baseBackup.cron', 'schedules.restorePoints']);
  });

  it('accepts per-node address overrides keyed by pg_dist_node name and port', () => {
    const cluster = clusterConfigSchema.parse({
      ...minimal,
      nodeOverrides: {
        [nodeKey('worker-1.internal', 5432)]: { host: '203.0.113.7', port: 6432 },
        'fe80::1:5432': { host: 'w2', port: 5432 },
      },
    });
    expect(cluster.nodeOverrides['worker-1.internal:5432']).toEqual({
      host: '203.0.113.7',
      port: 6432,
    });
  });

  it('rejects what cannot work, naming the field', () => {
    const problems = (input: unknown) =>
      clusterConfigSchema.safeParse(input).error?.issues.map((i) => i.path.join('.'));
    expect(problems({ ...minimal, id: 'Prod EU' })).toEqual(['id']);
    expect(
      problems({ ...minimal, coordinator: { ...minimal.coordinator, sslmode: 'allow' } }),
    ).toEqual(['coordinator.sslmode']);
    expect(problems({ ...minimal, coordinator: { ...minimal.coordinator, port: 70000 } })).toEqual([
      'coordinator.port',
    ]);
    expect(
      problems({ ...minimal, coordinator: { ...minimal.coordinator, certFile: '/c.pem' } }),
    ).toEqual(['coordinator.keyFile']);
    expect(
      problems({ ...minimal, nodeOverrides: { 'worker-1': { host: 'x', port: 5432 } } }),
    ).toEqual(['nodeOverrides.worker-1']);
    expect(
      problems({ ...minimal, coordinator: { ...minimal.coordinator, password: 'x' } }),
    ).toEqual(['coordinator']);
  });

  it('names the secrets of a cluster', () => {
    expect(clusterSecretName('prod-eu', 'password')).toBe('cluster/prod-eu/password');
    expect(clusterSecretName('prod-eu', 'key-passphrase')).toBe('cluster/prod-eu/key-passphrase');
  });
});

describe('clusterClientConfig', () => {
  const dirs: string[] = [];
  afterAll(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

  it('builds a pg config from the cluster, the secret store and an address override', async () => {
    const secrets = new MemorySecretStore();
    await secrets.set('cluster/prod-eu/password', 's3cret');
    const cluster = clusterConfigSchema.parse({
      ...minimal,
      coordinator: { ...minimal.coordinator, sslmode: 'disable' },
    });
    const config = await clusterClientConfig(cluster, secrets, {
      address: { host: '10.0.0.9', port: 6000 },
      replication: true,
    });
    expect(config).toMatchObject({
      host: '10.0.0.9',
      port: 6000,
      user: 'tidemark',
      database: 'postgres',
      password: 's3cret',
      ssl: false,
      replication: true,
    });
  });

  it('maps sslmode to TLS options the way libpq does', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tidemark-unit-'));
    dirs.push(dir);
    const ca = join(dir, 'ca.pem');
    await writeFile(ca, '-----BEGIN CERTIFICATE-----\nfixture\n-----END CERTIFICATE-----\n');
    const secrets = new MemorySecretStore();
    const ssl = async (coordinator: Record<string, unknown>) =>
      (
        await clusterClientConfig(
          clusterConfigSchema.parse({
            ...minimal,
            coordinator: { ...minimal.coordinator, ...coordinator },
          }),
          secrets,
        )
      ).ssl;

    expect(await ssl({ sslmode: 'prefer' })).toEqual({ rejectUnauthorized: false });
    expect(await ssl({ sslmode: 'require' })).toEqual({ rejectUnauthorized: false });
    // libpq: require with a root certificate verifies the chain like verify-ca
    const requireWithCa = (await ssl({ sslmode: 'require', caFile: ca })) as Record<
      string,
      unknown
    >;
    expect(requireWithCa).toMatchObject({
      rejectUnauthorized: true,
      ca: expect.stringContaining('fixture'),
    });

    const verifyCa = (await ssl({ sslmode: 'verify-ca', caFile: ca })) as {
      checkServerIdentity: (h: string, c: unknown) => unknown;
    };
    expect(verifyCa.checkServerIdentity('anything', {})).toBeUndefined();

    const verifyFull = (await ssl({ sslmode: 'verify-full', caFile: ca })) as {
      checkServerIdentity: (h: string, c: unknown) => unknown;
    };
    const mismatch = verifyFull.checkServerIdentity('ignored', {
      subject: { CN: 'other.example' },
      subjectaltname: 'DNS:other.example',
    });
    expect(mismatch).toBeInstanceOf(Error);
    expect(String(mismatch)).toMatch(/coord\.internal/);
    expect(
      verifyFull.checkServerIdentity('ignored', {
        subject: { CN: 'coord.internal' },
        subjectaltname: 'DNS:coord.internal',
      }),
    ).toBeUndefined();

    await expect(
      ssl({ sslmode: 'verify-ca', caFile: join(dir, 'missing.pem') }),
    ).rejects.toMatchObject({
      code: 'invalid_input',
      message: expect.stringContaining('missing.pem cannot be read (ENOENT)'),
    });
  });
});
