import { execFile, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { repoRoot, startAgentProcess, type AgentProcess } from '../support/agent-process.js';
import { tempDir } from '../support/temp-dir.js';

const bin = join(repoRoot, 'bin', 'tidemark.cjs');
const childScript = join(repoRoot, 'test', 'support', 'agent-child.ts');

function startAgent(args: string[], env: NodeJS.ProcessEnv = {}): AgentProcess {
  return startAgentProcess(args, env, running);
}

const running: ChildProcess[] = [];
let dir: { path: string; cleanup: () => Promise<void> };

beforeAll(async () => {
  await promisify(execFile)(process.execPath, ['scripts/build-node.mjs'], { cwd: repoRoot });
});
beforeEach(async () => {
  dir = await tempDir('tidemark-agent-');
});
afterEach(async () => {
  for (const child of running.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await dir.cleanup();
});
afterAll(() => undefined);

async function writeConfig(config: object, mode = 0o600): Promise<string> {
  const path = join(dir.path, 'agent.json');
  await writeFile(path, `${JSON.stringify(config, null, 2)}\n`);
  await chmod(path, mode);
  return path;
}

const oneCluster = (schedules: object) => ({
  dataDir: 'data',
  logDir: 'logs',
  secretsDir: 'secrets',
  clusters: [
    {
      id: 'prod',
      name: 'Production',
      coordinator: { host: '127.0.0.1', port: 5432, user: 'tidemark' },
      repositoryId: 'main',
      schedules,
    },
  ],
  repositories: [{ id: 'main', name: 'Main', zones: [{ kind: 'folder', id: 'local', name: 'Local', path: 'repo' }] }],
});

const secretsEnv = { TIDEMARK_SECRET_CLUSTER_PROD_PASSWORD: 'pw-from-env', TIDEMARK_SECRET_REPOSITORY_MAIN_PASSPHRASE: 'passphrase-from-env' };

describe('tidemark agent', () => {
  it('logs JSON to stdout and its log file, refuses a second agent, and stops on SIGTERM with exit 0', async () => {
    const config = await writeConfig({ dataDir: 'data', logDir: 'logs', clusters: [], repositories: [] });
    const agent = startAgent([bin, 'agent', '--config', config]);
    await agent.waitForLog('agent started');
    const started = agent.logs().find((l) => l.msg === 'agent started')!;
    expect(started).toMatchObject({ level: 30, component: 'agent', pid: agent.child.pid, config, dataDir: join(dir.path, 'data'), clusters: [] });
    const lock = JSON.parse(await readFile(join(dir.path, 'data', 'agent.lock'), 'utf8'));
    expect(lock).toMatchObject({ pid: agent.child.pid, purpose: `agent with config ${config}` });

    const second = startAgent([bin, 'agent', '--config', config]);
    expect(await second.exited).toBe(1);
    expect(second.stderr().trim()).toBe(
      `error: Another Tidemark agent is already running with the data folder ${join(dir.path, 'data')}: agent with config ${config}, started at ${lock.startedAt} by process ${agent.child.pid} on ${lock.hostname}. Stop it first (e.g. "systemctl stop tidemark-agent"), or give this agent its own dataDir.`,
    );
    expect(second.stdout()).toBe('');

    agent.child.kill('SIGTERM');
    expect(await agent.exited).toBe(0);
    expect(agent.logs().map((l) => l.msg).slice(-2)).toEqual(['agent stopping', 'agent stopped']);
    expect(existsSync(join(dir.path, 'data', 'agent.lock'))).toBe(false);
    const logFiles = await readdir(join(dir.path, 'logs'));
    const fileLog = (await Promise.all(logFiles.map((f) => readFile(join(dir.path, 'logs', f), 'utf8')))).join('');
    expect(fileLog).toContain('"msg":"agent started"');
    expect(fileLog).toContain('"msg":"agent stopped"');
  });

  it('runs a cluster schedule as jobs, one task of the cluster at a time, and stops gracefully', async () => {
    const config = await writeConfig(
      oneCluster({
        restorePoints: { intervalMinutes: 1 },
        baseBackup: { cron: '*/2 * * * * *' },
        retention: { enabled: false },
      }),
    );
    const agent = startAgent(['--import', 'tsx', childScript, config, 'baseBackup,restorePoint'], {
      ...secretsEnv,
      TIDEMARK_SCHEDULER_MINUTE_MS: '700',
      TASK_MS: '150',
    });
    await agent.waitForLog('agent started');
    const started = agent.logs().find((l) => l.msg === 'agent started')!;
    expect(started.clusters).toEqual(['prod']);
    // Verify has no task in this build: said so, and not scheduled.
    expect(agent.logs().some((l) => l.level === 40 && /no task is available for repository verify/.test(l.msg))).toBe(true);
    expect(agent.logs().some((l) => /^no .* is set/.test(l.msg))).toBe(false);

    const runsFile = join(dir.path, 'data', 'task-runs.jsonl');
    const runs = async () =>
      existsSync(runsFile)
        ? (await readFile(runsFile, 'utf8'))
            // only complete lines: the agent may be appending one right now
            .split('\n')
            .slice(0, -1)
            .map((l) => JSON.parse(l) as { kind: string; catchUp: boolean; startedAt: string; endedAt: string; scheduledFor: string; jobId: string; outcome: string })
        : [];
    const until = Date.now() + 20_000;
    while ((await runs()).filter((r) => r.kind === 'restorePoint').length < 3 || (await runs()).filter((r) => r.kind === 'baseBackup').length < 2) {
      if (Date.now() > until) throw new Error(`the schedule did not run:\n${agent.stdout()}\n${agent.stderr()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    agent.child.kill('SIGTERM');
    expect(await agent.exited).toBe(0);

    const all = await runs();
    const points = all.filter((r) => r.kind === 'restorePoint');
    // The first restore point runs at start; the later ones are regular slots 700 ms apart.
    expect(points[0]!.catchUp).toBe(true);
    expect(points.slice(1).every((p) => !p.catchUp)).toBe(true);
    expect(all.filter((r) => r.kind === 'baseBackup').every((r) => !r.catchUp && new Date(r.scheduledFor).getUTCSeconds() % 2 === 0)).toBe(true);
    // One task of the cluster at a time.
    const sorted = [...all].sort((a, b) => a.startedAt.localeCompare(b.startedAt));
    for (let i = 1; i < sorted.length; i++) expect(sorted[i]!.startedAt >= sorted[i - 1]!.endedAt).toBe(true);

    // Every run is a job in the history and the scheduler remembers each task's last run.
    const jobs = JSON.parse(await readFile(join(dir.path, 'data', 'jobs.json'), 'utf8')) as { id: string; kind: string; state: string; subject: string }[];
    for (const run of all.filter((r) => r.outcome === 'done')) {
      expect(jobs.find((j) => j.id === run.jobId)).toMatchObject({ kind: `schedule.${run.kind}`, state: 'succeeded', subject: 'prod' });
    }
    const state = JSON.parse(await readFile(join(dir.path, 'data', 'schedule-state.json'), 'utf8'));
    expect(Object.keys(state.clusters.prod).sort()).toEqual(['baseBackup', 'restorePoint']);
    expect(state.clusters.prod.restorePoint.lastOutcome).toMatch(/^(succeeded|cancelled)$/);
    expect(state.clusters.prod.restorePoint.running).toBeUndefined();

    const msgs = agent.logs().map((l) => l.msg);
    // A task running at SIGTERM may still finish; nothing new starts after it.
    expect(msgs.at(-1)).toBe('agent stopped');
    expect(msgs.slice(msgs.indexOf('agent stopping')).filter((m) => / started$/.test(m))).toEqual([]);
    expect(msgs).toContain('scheduled restore point started');
    expect(msgs).toContain('scheduled base backup succeeded');
    // Locks released: no agent lock, no cluster run lock.
    expect(existsSync(join(dir.path, 'data', 'agent.lock'))).toBe(false);
    expect(await readdir(join(dir.path, 'data', 'locks'))).toEqual([]);
    // The password came from the environment and never reached a log.
    expect(agent.stdout()).not.toContain('pw-from-env');
  });

  it('cancels a long task on SIGTERM once the grace time is over, and catches its slot up at the next start', async () => {
    const config = await writeConfig({
      ...oneCluster({ restorePoints: { intervalMinutes: 60 }, baseBackup: { enabled: false }, retention: { enabled: false }, verify: { enabled: false } }),
      stopGraceSeconds: 1,
    });
    const env = { ...secretsEnv, TASK_MS: '600000' };
    const agent = startAgent(['--import', 'tsx', childScript, config, 'restorePoint'], env);
    await agent.waitForLog('scheduled restore point started');
    agent.child.kill('SIGTERM');
    // The task is cancelled after the 1 s grace time and honours the cancellation.
    const t0 = Date.now();
    expect(await agent.exited).toBe(0);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(900);
    const logs = agent.logs();
    expect(logs.some((l) => /cancelling the restore point of prod: Tidemark is stopping/.test(l.msg))).toBe(true);
    expect(logs.map((l) => l.msg)).toContain('scheduled restore point cancelled');
    expect(await readdir(join(dir.path, 'data', 'locks'))).toEqual([]);

    const again = startAgent(['--import', 'tsx', childScript, config, 'restorePoint'], { ...env, TASK_MS: '10' });
    await again.waitForLog('scheduled restore point succeeded');
    const catchUp = again.logs().find((l) => l.msg === 'catching up a missed restore point');
    expect(catchUp).toBeDefined();
    again.child.kill('SIGTERM');
    expect(await again.exited).toBe(0);
  });

  it('refuses an invalid config, naming each field and what it expects', async () => {
    const config = await writeConfig({
      logLevel: 'loud',
      clusters: [{ id: 'prod', name: 'P', coordinator: { host: 'db1', port: '5432', user: 'u' }, repositoryId: 'nope', schedules: { baseBackup: { cron: '0 25 * * *' } } }],
    });
    const agent = startAgent([bin, 'agent', '--config', config]);
    expect(await agent.exited).toBe(1);
    expect(agent.stderr()).toContain(`error: The agent config ${config} is invalid:`);
    expect(agent.stderr()).toContain('  - logLevel: Invalid option: expected one of "fatal"|"error"|"warn"|"info"|"debug"|"trace"');
    expect(agent.stderr()).toContain('  - clusters[0].coordinator.port: Invalid input: expected number, received string');
    expect(agent.stderr()).toContain(`  - clusters[0].schedules.baseBackup.cron: '0 25 * * *' is not a valid cron expression: Invalid value for hour: 25`);
    expect(agent.stderr()).toContain('  - clusters[0].repositoryId: no repository "nope" in "repositories"; the "repositories" list is empty');
    expect(agent.stderr()).toContain('Fix them and start the agent again.');
  });
});
