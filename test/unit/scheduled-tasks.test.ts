import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAgentConfig } from '../../main/engine/agent/agent-config.js';
import { OverlaySettingsStore, resolveAgentSettings } from '../../main/engine/agent/agent-settings.js';
import { clusterConfigSchema, type ClusterConfig } from '../../main/engine/cluster/cluster-config.js';
import { createEngine, type Engine } from '../../main/engine/engine.js';
import { TidemarkError } from '../../main/engine/errors.js';
import type { JobContext } from '../../main/engine/jobs/job-manager.js';
import { MemoryJobStore } from '../../main/engine/jobs/job-store.js';
import type { RepositoryConfig } from '../../main/engine/repository/repository-config.js';
import { scheduledTaskHandlers, WalStreams, type ScheduledTask } from '../../main/engine/schedule/scheduled-tasks.js';
import { MemorySecretStore } from '../../main/engine/secrets/secret-store.js';
import { JsonFileSettingsStore } from '../../main/engine/settings/settings-store.js';
import { freePort } from '../support/free-port.js';
import { tempDir } from '../support/temp-dir.js';

type LogLine = { level: number; msg: string; [key: string]: unknown };

let dir: { path: string; cleanup: () => Promise<void> };
let engine: Engine;
const logs: LogLine[] = [];
let repository: RepositoryConfig;
let cluster: ClusterConfig;

beforeAll(async () => {
  dir = await tempDir('tidemark-scheduled-tasks-');
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n')) if (line.trim()) logs.push(JSON.parse(line) as LogLine);
      done();
    },
  });
  const paths = { config: join(dir.path, 'config'), data: join(dir.path, 'data'), logs: join(dir.path, 'logs') };
  engine = await createEngine({
    paths,
    settings: new JsonFileSettingsStore(join(paths.config, 'settings.json')),
    secrets: new MemorySecretStore(),
    logger: pino({ level: 'info' }, sink),
    shell: 'web',
    version: 'test',
    jobStore: new MemoryJobStore(),
  });
  await mkdir(join(dir.path, 'zone'));
  repository = await engine.repositories.create(
    { id: 'main', name: 'Main', zones: [{ kind: 'folder', id: 'local', name: 'Local', path: join(dir.path, 'zone') }] },
    { passphrase: 'correct horse battery staple' },
  );
  // A cluster whose coordinator port nobody listens on: every connection is refused at once.
  cluster = clusterConfigSchema.parse({
    id: 'prod',
    name: 'Production',
    coordinator: { host: '127.0.0.1', port: await freePort(), user: 'postgres', sslmode: 'disable' },
    repositoryId: 'main',
    schedules: { verify: { sample: 0.5 } },
  });
  await engine.settings.update({ clusters: [cluster] });
});

afterAll(async () => {
  await engine?.close();
  await dir?.cleanup();
});

/** Runs a task in a job, as the scheduler does, and returns how the job ended. */
async function run(kind: ScheduledTask['kind'], handler: (task: ScheduledTask, job: JobContext) => Promise<unknown>) {
  const job = engine.jobs.start({ kind: `schedule.${kind}`, title: kind, subject: 'prod' }, (ctx) =>
    handler({ cluster, repository, kind, scheduledFor: new Date(), catchUp: false }, ctx),
  );
  return engine.jobs.wait(job.id);
}

describe('scheduled tasks', () => {
  it('skips retention on a locked repository with a warning, and applies it once unlocked', async () => {
    const tasks = scheduledTaskHandlers(engine);
    await engine.repositories.setLocked('main', true, 'legal hold');
    const locked = await run('retention', tasks.retention);
    expect(locked.state).toBe('succeeded');
    expect(locked.result).toMatchObject({ skipped: 'locked', message: expect.stringContaining('Repository "main" is locked') });
    expect(logs.find((l) => typeof l.msg === 'string' && l.msg.startsWith('retention skipped: Repository "main" is locked'))).toMatchObject({ level: 40, repositoryId: 'main' });

    await engine.repositories.setLocked('main', false);
    const applied = await run('retention', tasks.retention);
    expect(applied.state).toBe('succeeded');
    expect(applied.result).toEqual({ deleted: 0, bytes: 0, incomplete: 0, unreachableZones: [] });
  });

  it('verifies the repository with the schedule\'s sample', async () => {
    const verified = await run('verify', scheduledTaskHandlers(engine).verify);
    expect(verified.state, JSON.stringify(verified.error)).toBe('succeeded');
    expect(verified.result).toMatchObject({ repositoryId: 'main', sample: 0.5, problems: 0, ok: true });
  });

  it('records a restore point that could not be made as failed, and fails the run with the reason', async () => {
    // The cluster was never added through clusters.add (as one declared in the agent config): the task records it.
    expect((await engine.repositories.open('main')).catalog.cluster('prod')).toBeUndefined();
    const failed = await run('restorePoint', scheduledTaskHandlers(engine).restorePoint);
    expect(failed.state).toBe('failed');
    expect(failed.error?.code).toBe('connection_failed');
    const points = await engine.clusters.restorePoints.list('prod');
    expect(points).toHaveLength(1);
    expect(points[0]).toMatchObject({ status: 'failed', error: failed.error?.message });
    expect((await engine.repositories.open('main')).catalog.cluster('prod')?.record).toMatchObject({ name: 'Production', citusVersion: null });
  });

  it('fails a base backup with the backup job\'s error, without a restore point after it', async () => {
    const before = (await engine.clusters.restorePoints.list('prod')).length;
    const failed = await run('baseBackup', scheduledTaskHandlers(engine).baseBackup);
    expect(failed.state).toBe('failed');
    expect(failed.error?.code).toBe('connection_failed');
    const backupJob = engine.jobs.list().find((j) => j.kind === 'backup' && j.subject === 'prod');
    expect(backupJob).toMatchObject({ state: 'failed', error: { message: failed.error?.message } });
    expect(await engine.clusters.restorePoints.list('prod')).toHaveLength(before);
  });

  it('announces streams that cannot start instead of throwing, and tries again before each restore point', async () => {
    const streams = new WalStreams(engine);
    const failures: string[] = [];
    streams.on('startFailed', ({ clusterId, error }) => failures.push(`${clusterId}: ${error.code}`));
    await streams.ensure(cluster);
    await streams.ensure({ ...cluster, schedules: { ...cluster.schedules, walStreaming: { enabled: false } } });
    expect(failures).toEqual(['prod: connection_failed']);
    await run('restorePoint', scheduledTaskHandlers(engine, streams).restorePoint);
    expect(failures).toEqual(['prod: connection_failed', 'prod: connection_failed']);
    await streams.stopAll();
    await streams.ensure(cluster);
    expect(failures).toHaveLength(2);
  });
});

describe('agent settings', () => {
  const stored = {
    clusters: [
      { id: 'stored', name: 'Stored', coordinator: { host: 'db0', user: 'tidemark' }, repositoryId: 'vault', schedules: { restorePoints: { intervalMinutes: 2 } } },
      { id: 'prod', name: 'Old prod', coordinator: { host: 'old-db', user: 'tidemark' }, repositoryId: 'vault' },
    ],
    repositories: [{ id: 'vault', name: 'Vault', zones: [{ kind: 'folder', id: 'v', name: 'V', path: '/srv/vault' }] }],
  };

  async function settingsFile(): Promise<string> {
    const file = join(dir.path, `settings-${Math.random()}.json`);
    await writeFile(file, JSON.stringify(stored));
    return file;
  }

  it('lays declared clusters over the settings, resolves references, and never writes the config\'s entries to the file', async () => {
    const file = await settingsFile();
    const config = parseAgentConfig(
      {
        clusters: [
          { id: 'prod', name: 'Production', coordinator: { host: 'db1', user: 'tidemark' }, repositoryId: 'main' },
          { id: 'stored' },
        ],
        repositories: [{ id: 'main', name: 'Main', zones: [{ kind: 'folder', id: 'm', name: 'M', path: '/srv/main' }] }, { id: 'vault' }],
      },
      'agent.json',
    );
    expect(config.clusterReferences).toEqual([{ id: 'stored' }]);
    expect(config.repositoryReferences).toEqual([{ id: 'vault' }]);
    const resolved = await resolveAgentSettings(new JsonFileSettingsStore(file), config, file);
    expect(resolved.clusters.map((c) => `${c.id}@${c.coordinator.host}→${c.repositoryId}`)).toEqual(['prod@db1→main', 'stored@db0→vault']);
    expect(resolved.clusters[1]!.schedules.restorePoints.intervalMinutes).toBe(2);
    expect(resolved.repositories.map((r) => r.id)).toEqual(['main', 'vault']);
    const view = await resolved.settings.get();
    expect(view.clusters.map((c) => c.name)).toEqual(['Stored', 'Production']);
    expect(view.repositories.map((r) => r.id)).toEqual(['vault', 'main']);

    // A write (say, a log level) keeps the file's own entries for the overlaid ids.
    await resolved.settings.update({ logging: { level: 'debug' }, clusters: view.clusters, repositories: view.repositories });
    const written = JSON.parse(await readFile(file, 'utf8')) as { clusters: { name: string }[]; repositories: { id: string }[]; logging: { level: string } };
    expect(written.logging.level).toBe('debug');
    expect(written.clusters.map((c) => c.name)).toEqual(['Stored', 'Old prod']);
    expect(written.repositories.map((r) => r.id)).toEqual(['vault']);
  });

  it('replaces the stored schedules with those a reference gives', async () => {
    const file = await settingsFile();
    const config = parseAgentConfig({ clusters: [{ id: 'stored', schedules: { baseBackup: { cron: '0 1 * * *' } } }] }, 'agent.json');
    const [only] = (await resolveAgentSettings(new JsonFileSettingsStore(file), config, file)).clusters;
    expect(only!.schedules.baseBackup.cron).toBe('0 1 * * *');
    expect(only!.schedules.restorePoints.intervalMinutes).toBe(5);
  });

  it('names every reference the settings do not have, and what to do', async () => {
    const file = await settingsFile();
    const config = parseAgentConfig({ clusters: [{ id: 'ghost' }], repositories: [{ id: 'nowhere' }] }, 'agent.json');
    const err = await resolveAgentSettings(new JsonFileSettingsStore(file), config, file).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TidemarkError);
    expect((err as TidemarkError).message).toBe(
      'The agent config names what Tidemark does not know:\n' +
        `  - cluster "ghost": no cluster with this id has been added in ${file} (it has "stored", "prod"); add it with "tidemark cluster add" under the same user and TIDEMARK_HOME as the agent, or declare it in full in the agent config\n` +
        `  - repository "nowhere": no repository with this id has been added in ${file} (it has "vault"); create it with "tidemark repo init" (or "tidemark repo attach") under the same user and TIDEMARK_HOME as the agent, or declare it in full in the agent config`,
    );
  });

  it('tells a reference from a broken declaration, naming the exact field', () => {
    const err = (() => {
      try {
        parseAgentConfig({ clusters: [{ id: 'a', schedules: { restorePoints: { intervalMinutes: 0 } } }, { id: 'b', name: 'B', coordinator: { host: 'db', user: 'u', port: 'x' }, repositoryId: 'r' }], repositories: [{ id: 'r' }, { id: 'q', name: 'Q' }] }, 'agent.json');
      } catch (e) {
        return e as TidemarkError;
      }
      return null;
    })();
    expect(err?.details?.problems).toEqual([
      'clusters[0].schedules.restorePoints.intervalMinutes: at least 1 minute',
      'clusters[1].coordinator.port: Invalid input: expected number, received string',
      'repositories[1].zones: Invalid input: expected array, received undefined',
    ]);
  });

  it('serves the overlay\'s entries in place of stored ones with the same id', async () => {
    const base = new JsonFileSettingsStore(await settingsFile());
    const overlay = new OverlaySettingsStore(base, { clusters: [], repositories: [{ ...repository, id: 'vault', name: 'Vault (config)' }] });
    expect((await overlay.get()).repositories.map((r) => r.name)).toEqual(['Vault (config)']);
    expect((await base.get()).repositories.map((r) => r.name)).toEqual(['Vault']);
  });
});
