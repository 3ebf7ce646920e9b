import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  clusterConfigSchema,
  clusterSecretName,
  nodeKey,
} from '../../main/engine/cluster/cluster-config.js';
import { clusterClientConfig } from '../../main/engine/cluster/connect.js';
import { MemorySecretStore } from '../../main/engine/secrets/secret-store.js';

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
    expect(cluster.schedules).toEqual({ baseBackupCron: '0 3 * * *', restorePointMinutes: 15 });
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
