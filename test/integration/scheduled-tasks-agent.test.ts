import { execFile, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listNodeBackups } from '../../main/engine/backup/backup-service.js';
import { createEngine, type Engine } from '../../main/engine/engine.js';
import { MemoryJobStore } from '../../main/engine/jobs/job-store.js';
import { parseLsn } from '../../main/engine/replication/lsn.js';
import { createLogger } from '../../main/engine/log/logger.js';
import { defaultPaths } from '../../main/engine/paths.js';
import { afterBackupLabel } from '../../main/engine/schedule/scheduled-tasks.js';
import { ManualClock } from '../../main/engine/schedule/clock.js';
import { startSettingsSchedules } from '../../main/engine/agent/settings-schedules.js';
import type { Notification } from '../../main/engine/notify/notifier.js';
import { secretEnvName } from '../../main/engine/secrets/env-file-secret-store.js';
import { MemorySecretStore } from '../../main/engine/secrets/secret-store.js';
import { JsonFileSettingsStore } from '../../main/engine/settings/settings-store.js';
import { CitusTestCluster } from '../support/citus-cluster.js';
import { testPassword } from '../support/postgres.js';
import { repoRoot, startAgentProcess, type AgentProcess } from '../support/agent-process.js';
import { tempDir } from '../support/temp-dir.js';

const bin = join(repoRoot, 'bin', 'tidemark.cjs');
const passphrase = 'correct horse battery staple';

const running: ChildProcess[] = [];

/** `tidemark agent --config <file>` as built, with its JSON log lines parsed. */
function startAgent(config: string, env: NodeJS.ProcessEnv): AgentProcess {
  return startAgentProcess([bin, 'agent', '--config', config], env, running);
}

/** An engine on the agent's folders, as `tidemark` commands on the same TIDEMARK_HOME would see them. */
async function engineOn(home: string): Promise<Engine> {
  const paths = defaultPaths({ TIDEMARK_HOME: home });
  const secrets = new MemorySecretStore();
  await secrets.set('repository/r1/passphrase', passphrase);
  await secrets.set('cluster/prod/password', testPassword);
  return createEngine({
    paths,
    settings: new JsonFileSettingsStore(join(paths.config, 'settings.json')),
    secrets,
    logger: createLogger(),
    shell: 'web',
    version: 'test',
    jobStore: new MemoryJobStore(),
  });
}

describe('the agent runs the schedules of a real cluster', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  let cluster: CitusTestCluster;
  let home: string;

  beforeAll(async () => {
    dir = await tempDir('tidemark-scheduled-agent-');
    home = join(dir.path, 'home');
    const build = promisify(execFile)(process.execPath, ['scripts/build-node.mjs'], { cwd: repoRoot });
    cluster = await CitusTestCluster.create({ dir: join(dir.path, 'cluster') });
    await build;
    // The repository is created once by hand (as with "tidemark repo init"); the agent config refers to it.
    await mkdir(join(dir.path, 'zone-a'));
    const setup = await engineOn(home);
    try {
      await setup.repositories.create(
        { id: 'r1', name: 'Folder repository', zones: [{ kind: 'folder', id: 'zone-a', name: 'Zone A', path: join(dir.path, 'zone-a') }] },
        { passphrase, storePassphrase: false },
      );
    } finally {
      await setup.close();
    }
  });

  afterAll(async () => {
    for (const child of running.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await cluster?.stop();
    await dir?.cleanup();
  });

  it('streams WAL, backs up, creates restore points that become restorable, refuses a second agent, and stops cleanly', async () => {
    const config = join(dir.path, 'agent.json');
    await writeFile(
      config,
      JSON.stringify({
        stopGraceSeconds: 2,
        clusters: [
          {
            id: 'prod',
            name: 'Production',
            coordinator: { host: cluster.coordinator.host, port: cluster.coordinator.port, user: 'postgres', sslmode: 'disable' },
            repositoryId: 'r1',
            schedules: {
              baseBackup: { cron: '*/15 * * * * *', timezone: 'UTC' },
              restorePoints: { intervalMinutes: 1 },
              retention: { cron: '*/15 * * * * *', timezone: 'UTC' },
              verify: { enabled: false },
            },
          },
        ],
        repositories: [{ id: 'r1' }],
      }),
    );
    await chmod(config, 0o600);
    const env = {
      TIDEMARK_HOME: home,
      // one "minute" of the restore-point interval lasts 4 s
      TIDEMARK_SCHEDULER_MINUTE_MS: '4000',
      [secretEnvName('cluster/prod/password')]: testPassword,
      [secretEnvName('repository/r1/passphrase')]: passphrase,
    };
    const agent = startAgent(config, env);
    const msgs = () => agent.logs().map((l) => l.msg);
    await agent.waitFor('start', (logs) => logs.some((l) => l.msg === 'agent started'));
    expect(msgs()).toContain('preflight of prod passed');
    expect(msgs()).toContain('WAL streams of prod started');

    // A base backup, then restore points after it: the one right after the backup and a regular one.
    await agent.waitFor('base backup', (logs) => logs.some((l) => l.msg === 'scheduled base backup succeeded'));
    const backupDone = agent.logs().find((l) => l.msg === 'scheduled base backup succeeded')!.time;
    await agent.waitFor('restore point after the backup', (logs) => logs.some((l) => l.msg === 'scheduled restore point succeeded' && l.time > backupDone));
    await agent.waitFor('retention run', (logs) => logs.some((l) => l.msg === 'scheduled retention succeeded'));

    // A second agent on the same data folder refuses to start and names the first.
    const second = startAgent(config, env);
    expect(await second.exited).toBe(1);
    expect(second.stderr()).toMatch(new RegExp(`^error: Another Tidemark agent is already running with the data folder ${join(home, 'data')}: agent with config ${config}, started at .* by process ${agent.child.pid} on `));
    expect(second.logs()).toEqual([]);

    // Stop right after a restore point: its WAL is stored by the flush at shutdown, if not before.
    const points = agent.logs().filter((l) => l.msg === 'scheduled restore point succeeded').length;
    await agent.waitFor('another restore point', (logs) => logs.filter((l) => l.msg === 'scheduled restore point succeeded').length > points);
    await new Promise((r) => setTimeout(r, 1000));
    agent.child.kill('SIGTERM');
    expect(await agent.exited).toBe(0);

    const logs = agent.logs();
    expect(logs.filter((l) => l.level >= 50)).toEqual([]);
    const stopping = logs.findIndex((l) => l.msg === 'agent stopping');
    const afterStop = logs.slice(stopping).map((l) => l.msg);
    expect(afterStop).toContain('WAL streams of prod stopped and flushed');
    expect(afterStop).toContain('shutdown step "WAL streams" done');
    expect(afterStop.at(-1)).toBe('agent stopped');
    expect(afterStop.filter((m) => / started$/.test(m))).toEqual([]);
    const flushed = logs.find((l) => l.msg === 'WAL streams of prod stopped and flushed')!.nodes as { nodeId: string; storedLsn: string | null; state: string }[];
    expect(flushed.map((n) => n.state)).toEqual(['stopped', 'stopped', 'stopped']);
    // Locks released: no agent lock, no cluster run lock.
    expect(existsSync(join(home, 'data', 'agent.lock'))).toBe(false);
    expect(await readdir(join(home, 'data', 'locks'))).toEqual([]);
    // Secrets came from the environment and never reached a log.
    expect(JSON.stringify(logs)).not.toContain(passphrase);

    // A fresh engine reads what the agent left in the repository's catalog (the cluster is the
    // agent config's, not in the settings: read the catalog itself).
    const engine = await engineOn(home);
    try {
      const { catalog } = await engine.repositories.open('r1');
      expect(catalog.cluster('prod')?.record).toMatchObject({ name: 'Production' });
      const nodes = listNodeBackups(catalog, 'prod');
      expect(nodes.map((n) => n.role).sort()).toEqual(['coordinator', 'worker', 'worker']);
      for (const node of nodes) expect(node.backups.length).toBeGreaterThanOrEqual(1);
      const firstBackupEnd = Math.max(...nodes.map((n) => Date.parse(n.backups[0]!.endedAt)));

      const all = catalog.restorePoints('prod');
      expect(all.filter((p) => p.status === 'failed')).toEqual([]);
      const afterBackup = all.find((p) => p.label === afterBackupLabel)!;
      expect(afterBackup.status).toBe('restorable');
      expect(Date.parse(afterBackup.createdAt)).toBeGreaterThanOrEqual(firstBackupEnd);
      // Every point made after a complete backup is restorable, the last one (made 1 s before
      // SIGTERM) too; a point older than every backup never can be.
      const later = all.filter((p) => Date.parse(p.createdAt) >= firstBackupEnd);
      expect(later.length).toBeGreaterThanOrEqual(3);
      expect(later.map((p) => `${p.name}: ${p.status}`)).toEqual(later.map((p) => `${p.name}: restorable`));
      // The flush at shutdown stored every node's WAL past the last point.
      const last = later.at(-1)!;
      for (const node of flushed) expect(parseLsn(node.storedLsn!) >= parseLsn(last.nodeLsns[node.nodeId]!), `${node.nodeId} stored up to ${node.storedLsn}`).toBe(true);
      const first = all[0]!;
      expect(Date.parse(first.createdAt)).toBeLessThan(firstBackupEnd);
      expect(first.status).toBe('created');

      // Each run is a job in the agent's history.
      const jobs = JSON.parse(await readFile(join(home, 'data', 'jobs.json'), 'utf8')) as { kind: string; state: string; subject?: string; result?: { restorePoint?: { name: string } } }[];
      const backupRun = jobs.find((j) => j.kind === 'schedule.baseBackup' && j.state === 'succeeded')!;
      expect(backupRun.subject).toBe('prod');
      expect(backupRun.result?.restorePoint?.name).toBe(all.find((p) => p.label === afterBackupLabel)!.name);
      expect(jobs.some((j) => j.kind === 'backup' && j.state === 'succeeded')).toBe(true);
      expect(jobs.some((j) => j.kind === 'schedule.retention' && j.state === 'succeeded')).toBe(true);
      expect(jobs.filter((j) => j.kind === 'schedule.restorePoint' && j.state === 'succeeded').length).toBeGreaterThanOrEqual(3);
    } finally {
      await engine.close();
    }
  });

  it('runs the same tasks for the desktop app: follows clusters as they are added and removed, and announces failures once', async () => {
    const deskHome = join(dir.path, 'desk-home');
    await mkdir(join(dir.path, 'zone-b'));
    const engine = await engineOn(deskHome);
    const shown: Notification[] = [];
    const clock = new ManualClock(new Date());
    const schedules = await startSettingsSchedules({ engine, notifier: { notify: (n) => void shown.push(n) }, clock });
    try {
      await engine.repositories.create(
        { id: 'r2', name: 'Desk repository', zones: [{ kind: 'folder', id: 'zone-b', name: 'Zone B', path: join(dir.path, 'zone-b') }] },
        { passphrase },
      );
      // A backup role without superuser: WAL streams, but restore points are refused.
      await cluster.createRole('desk_backup', 'desk-password', { replication: true, superuser: false });
      const added = await engine.clusters.add({
        id: 'desk',
        name: 'Desk',
        coordinator: { host: cluster.coordinator.host, port: cluster.coordinator.port, user: 'desk_backup', sslmode: 'disable' },
        password: 'desk-password',
        repositoryId: 'r2',
        force: true,
      });
      expect(added.checks.filter((c) => c.status === 'fail').map((c) => c.id)).toContain('superuser');

      // Added while the app runs: scheduled (its first restore point at once) and streamed.
      const until = Date.now() + 20_000;
      while (!schedules.scheduler.status().some((s) => s.clusterId === 'desk' && s.kind === 'restorePoint' && s.last?.lastOutcome)) {
        if (Date.now() > until) throw new Error(`no restore point run: ${JSON.stringify(schedules.scheduler.status())}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      await schedules.scheduler.idle();
      expect(schedules.scheduler.status().find((s) => s.kind === 'restorePoint')?.last).toMatchObject({ lastOutcome: 'failed', lastError: { code: 'permission_denied' } });
      while (engine.backups.walStatus('desk').filter((s) => s.state === 'streaming').length < 3) {
        if (Date.now() > until) throw new Error(`streams not running: ${JSON.stringify(engine.backups.walStatus('desk'))}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      // The failure is announced once, though the point and its scheduled run both failed …
      expect(shown.map((n) => `${n.severity}: ${n.title}`)).toEqual(['error: Restore point of cluster desk failed']);
      expect(shown[0]!.body).toMatch(/superuser/i);
      // … and not again at the next interval.
      await clock.advanceBy(5 * 60_000, { settle: () => schedules.scheduler.idle() });
      expect((await engine.clusters.restorePoints.list('desk')).filter((p) => p.status === 'failed')).toHaveLength(2);
      expect(shown).toHaveLength(1);

      // Removed: no longer scheduled, its streams stop.
      await engine.clusters.remove('desk');
      expect(schedules.scheduler.status().filter((s) => s.clusterId === 'desk')).toEqual([]);
      while (engine.backups.walStatus('desk').some((s) => s.state !== 'stopped')) {
        if (Date.now() > until) throw new Error(`streams still running: ${JSON.stringify(engine.backups.walStatus('desk'))}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    } finally {
      await schedules.stop({ graceMs: 1000, timeoutMs: 5000 });
      await engine.close();
    }
  });
});

