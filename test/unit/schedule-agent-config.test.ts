import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { agentConfigSchema, loadAgentConfig } from '../../main/engine/agent/agent-config.js';
import { findSecretsInConfig, missingSecrets } from '../../main/engine/agent/agent-secrets.js';
import { TidemarkError } from '../../main/engine/errors.js';
import { EnvFileSecretStore } from '../../main/engine/secrets/env-file-secret-store.js';
import { tempDir } from '../support/temp-dir.js';

let dir: { path: string; cleanup: () => Promise<void> };
beforeEach(async () => {
  dir = await tempDir('tidemark-agent-config-');
});
afterEach(async () => {
  await dir.cleanup();
});

const cluster = (extra: object = {}) => ({
  id: 'prod',
  name: 'Production',
  coordinator: { host: 'db1.example.internal', user: 'tidemark', sslmode: 'verify-full', caFile: '/etc/tidemark/ca.pem' },
  nodeOverrides: { 'worker-1:5432': { host: '10.0.0.11', port: 5432 } },
  repositoryId: 'main',
  ...extra,
});
const repository = (extra: object = {}) => ({
  id: 'main',
  name: 'Main',
  zones: [
    { kind: 'folder', id: 'nas', name: 'NAS', path: '/mnt/backup' },
    { kind: 's3', id: 'minio', name: 'MinIO', endpoint: 'http://127.0.0.1:9000', bucket: 'tidemark', accessKeyId: 'AKIAEXAMPLE' },
  ],
  ...extra,
});

async function write(content: unknown, mode = 0o600): Promise<string> {
  const path = join(dir.path, 'agent.json');
  await writeFile(path, typeof content === 'string' ? content : JSON.stringify(content, null, 2));
  await chmod(path, mode);
  return path;
}

async function loadError(path: string): Promise<TidemarkError> {
  const err = await loadAgentConfig(path).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(TidemarkError);
  return err as TidemarkError;
}

describe('agent config', () => {
  it('fills defaults and resolves relative folders against the config file', async () => {
    const path = await write({ dataDir: 'state', logDir: '/var/log/tidemark', clusters: [cluster()], repositories: [repository()] });
    const { config, path: loadedFrom } = await loadAgentConfig(path);
    expect(loadedFrom).toBe(path);
    expect(config.dataDir).toBe(join(dir.path, 'state'));
    expect(config.logDir).toBe('/var/log/tidemark');
    expect(config.secretsDir).toBeUndefined();
    expect(config.logLevel).toBe('info');
    expect(config.stopGraceSeconds).toBe(10);
    expect(config.clusters[0]!.schedules.baseBackup).toEqual({ enabled: true, cron: '0 2 * * *' });
    expect(config.clusters[0]!.coordinator.port).toBe(5432);
    expect(config.repositories[0]!.retentionDays).toBe(35);
  });

  it('points at the exact field of every problem, in one round', async () => {
    const path = await write({
      clusters: [cluster({ schedules: { restorePoints: { intervalMinutes: 0 }, verify: { cron: '0 5 * * 8' } }, colour: 'blue' }), cluster({ repositoryId: 'other' })],
      repositories: [repository({ zones: [] })],
      loglevel: 'debug',
    });
    const err = await loadError(path);
    expect(err.code).toBe('invalid_input');
    expect(err.details?.problems).toEqual([
      'clusters[0].schedules.restorePoints.intervalMinutes: at least 1 minute',
      expect.stringMatching(/^clusters\[0\]\.schedules\.verify\.cron: '0 5 \* \* 8' is not a valid cron expression: /),
      'clusters[0].colour: unknown field (check its spelling; docs/agent.md lists every field)',
      'repositories[0].zones: Too small: expected array to have >=1 items',
      'loglevel: unknown field (check its spelling; docs/agent.md lists every field)',
      'clusters[1].id: the id "prod" is used twice; every cluster needs its own',
      'clusters[1].repositoryId: no repository "other" in "repositories"; the repositories are: "main"',
    ]);
    expect(err.message.startsWith(`The agent config ${path} is invalid:\n  - clusters[0].schedules`)).toBe(true);
  });

  it('says where JSON is broken and when the file is missing', async () => {
    const path = await write('{\n  "clusters": [\n    { "id": "prod", }\n  ]\n}\n');
    expect((await loadError(path)).message).toMatch(new RegExp(`^The agent config ${path} is not valid JSON at line 3, column \\d+ .*; fix it and start the agent again\\.$`));
    const missing = await loadError(join(dir.path, 'nope.json'));
    expect(missing.code).toBe('not_found');
    expect(missing.message).toContain('does not exist');
  });

  it('refuses secrets in the file, naming where each belongs, and warns harder when others can read it', async () => {
    const withSecrets = {
      clusters: [cluster({ coordinator: { host: 'db1', user: 'tidemark', password: 'hunter2' } })],
      repositories: [repository({ zones: [{ kind: 's3', id: 'minio', name: 'MinIO', bucket: 'tidemark', accessKeyId: 'AKIA', secretAccessKey: 'abc' }], passphrase: 'x' })],
    };
    const private600 = await loadError(await write(withSecrets, 0o600));
    expect(private600.message).toContain('holds secrets; the agent never reads secrets from its config file');
    expect(private600.message).toContain('  - clusters[0].coordinator.password: set the environment variable TIDEMARK_SECRET_CLUSTER_PROD_PASSWORD, or put it in the 0600 file <secretsDir>/cluster/prod/password');
    expect(private600.message).toContain('  - repositories[0].zones[0].secretAccessKey: set the environment variable TIDEMARK_SECRET_ZONE_MAIN_MINIO_SECRETACCESSKEY');
    expect(private600.message).toContain('  - repositories[0].passphrase: set the environment variable TIDEMARK_SECRET_REPOSITORY_MAIN_PASSPHRASE');
    expect(private600.message).not.toContain('hunter2');
    const shared = await loadError(await write(withSecrets, 0o644));
    expect(shared.message).toMatch(/can be read by other users and holds secrets: treat them as exposed and change them at the source/);
    expect(shared.details?.readableByOthers).toBe(true);
  });

  it('does not mistake paths, key ids and key sources for secrets', () => {
    expect(
      findSecretsInConfig({
        secretsDir: '/etc/tidemark/secrets',
        clusters: [{ coordinator: { keyFile: '/k.pem', certFile: '/c.pem' } }],
        repositories: [{ key: { source: 'keyfile', path: '/k' }, zones: [{ accessKeyId: 'AKIA' }] }],
        tokenFile: '/t',
      }),
    ).toEqual([]);
    expect(findSecretsInConfig({ a: [{ sasToken: 's' }], b: { apiKey: 'k', password: '' } }).map((s) => s.path)).toEqual([['a', 0, 'sasToken'], ['b', 'apiKey']]);
  });

  it('lists the secrets the store lacks; the environment and 0600 files both count', async () => {
    const path = await write({ clusters: [cluster()], repositories: [repository()] });
    const { config } = await loadAgentConfig(path);
    const secretsDir = join(dir.path, 'secrets');
    await mkdir(join(secretsDir, 'zone', 'main', 'minio'), { recursive: true });
    await writeFile(join(secretsDir, 'zone', 'main', 'minio', 'secretAccessKey'), 'abc\n', { mode: 0o600 });
    const store = new EnvFileSecretStore(secretsDir, { TIDEMARK_SECRET_CLUSTER_PROD_PASSWORD: 'pw' });
    expect(await missingSecrets(config, store)).toEqual([
      { name: 'repository/main/passphrase', env: 'TIDEMARK_SECRET_REPOSITORY_MAIN_PASSPHRASE', purpose: 'encryption passphrase of repository main' },
    ]);
    // A secret file others can read is refused, as ssh does.
    await chmod(join(secretsDir, 'zone', 'main', 'minio', 'secretAccessKey'), 0o644);
    await expect(missingSecrets(config, store)).rejects.toThrow(/can be read by other users; run "chmod 600/);
  });
});

describe('documented systemd unit', () => {
  it('is the shipped unit, with the stop and hardening settings the agent relies on', async () => {
    const unit = await readFile('resources/systemd/tidemark-agent.service', 'utf8');
    const doc = await readFile('docs/agent.md', 'utf8');
    const lines = (text: string) => text.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('#'));
    const documented = /```ini\n([\s\S]*?)```/.exec(doc)?.[1] ?? '';
    expect(lines(documented)).toEqual(lines(unit));
    for (const directive of ['User=tidemark', 'Restart=on-failure', 'KillSignal=SIGTERM', 'TimeoutStopSec=120', 'NoNewPrivileges=yes', 'ProtectSystem=strict', 'ReadWritePaths=/var/lib/tidemark /var/log/tidemark']) {
      expect(lines(unit)).toContain(directive);
    }
    // TimeoutStopSec must cover the default stop timeout plus a shutdown step.
    const timeoutStopSec = Number(/^TimeoutStopSec=(\d+)$/m.exec(unit)?.[1]);
    expect(timeoutStopSec).toBeGreaterThan(agentConfigSchema.parse({}).stopTimeoutSeconds + 15);
  });
});
