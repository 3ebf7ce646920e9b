import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseAgentConfig } from '../../main/engine/agent/agent-config.js';
import { acquireAgentLock, runAgent, type AgentEngineOptions } from '../../main/engine/agent/agent-runtime.js';
import { createEngine } from '../../main/engine/engine.js';
import { TidemarkError } from '../../main/engine/errors.js';
import { ManualClock } from '../../main/engine/schedule/clock.js';
import { MemorySecretStore } from '../../main/engine/secrets/secret-store.js';
import { JsonFileSettingsStore } from '../../main/engine/settings/settings-store.js';
import { tempDir } from '../support/temp-dir.js';

let dir: { path: string; cleanup: () => Promise<void> };
beforeEach(async () => {
  dir = await tempDir('tidemark-agent-runtime-');
});
afterEach(async () => {
  await dir.cleanup();
});

/** A real engine whose JSON log lines are kept in memory. */
function engineFactoryWithLog(lines: { msg: string; level: number; [k: string]: unknown }[]) {
  return async (options: AgentEngineOptions) => {
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const line of chunk.toString().split('\n')) if (line.trim()) lines.push(JSON.parse(line));
        done();
      },
    });
    const secrets = new MemorySecretStore();
    await secrets.set('cluster/prod/password', 'pw');
    await secrets.set('repository/main/passphrase', 'correct horse battery staple');
    return createEngine({
      paths: options.paths,
      settings: new JsonFileSettingsStore(join(options.paths.config, 'settings.json')),
      secrets,
      logger: pino({ level: options.logLevel }, sink),
      shell: 'web',
      version: 'test',
    });
  };
}

function config(dataDir: string) {
  return {
    path: join(dataDir, 'agent.json'),
    config: parseAgentConfig(
      {
        dataDir,
        logDir: join(dataDir, 'logs'),
        clusters: [{ id: 'prod', name: 'Production', coordinator: { host: '127.0.0.1', user: 'tidemark' }, repositoryId: 'main', schedules: { restorePoints: { intervalMinutes: 5 } } }],
        repositories: [{ id: 'main', name: 'Main', zones: [{ kind: 'folder', id: 'local', name: 'Local', path: join(dataDir, 'repo') }] }],
      },
      'test',
    ),
  };
}

describe('runAgent', () => {
  it('runs registered tasks on the injected clock, then stops: tasks first, shutdown hooks in reverse order with a time limit, locks last', async () => {
    const logs: { msg: string; level: number; [k: string]: unknown }[] = [];
    const clock = new ManualClock('2024-06-01T12:00:00Z');
    const controller = new AbortController();
    const events: string[] = [];
    let lockDuringHook: boolean | null = null;
    const summary = runAgent({
      config: config(dir.path),
      engineFactory: engineFactoryWithLog(logs),
      signal: controller.signal,
      clock,
      env: { TIDEMARK_HOME: join(dir.path, 'home') },
      stop: { graceMs: 1_000, timeoutMs: 2_000, hookTimeoutMs: 200 },
      plugins: [
        (agent) => {
          agent.registerTask('restorePoint', async (task, job) => {
            job.setPhase('creating');
            events.push(`restorePoint@${task.scheduledFor.toISOString()}${task.catchUp ? ' (catch-up)' : ''}`);
          });
          agent.onShutdown('wal streams', async () => {
            lockDuringHook = existsSync(join(dir.path, 'agent.lock'));
            events.push('flush wal streams');
          });
          agent.onShutdown('slow hook', async () => {
            events.push('slow hook begins');
            await new Promise(() => undefined);
          });
        },
      ],
    });
    const until = Date.now() + 5_000;
    while (!logs.some((l) => l.msg === 'scheduled restore point succeeded')) {
      if (Date.now() > until) throw new Error(`no restore point ran: ${JSON.stringify(logs)}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    // One slot at a time: due slots of one kind that are still queued merge into one run.
    await clock.advanceTo('2024-06-01T12:05:00Z');
    while (events.length < 2 && Date.now() < until + 5_000) await new Promise((r) => setTimeout(r, 10));
    await clock.advanceTo('2024-06-01T12:10:00Z');
    while (events.length < 3 && Date.now() < until + 10_000) await new Promise((r) => setTimeout(r, 10));
    expect(events).toEqual(['restorePoint@2024-06-01T12:00:00.000Z (catch-up)', 'restorePoint@2024-06-01T12:05:00.000Z', 'restorePoint@2024-06-01T12:10:00.000Z']);

    // A second agent on the same data folder is refused while this one runs.
    const second = await acquireAgentLock(dir.path, '/etc/tidemark/other.json').catch((e: unknown) => e);
    expect(second).toBeInstanceOf(TidemarkError);
    expect((second as TidemarkError).message).toMatch(/^Another Tidemark agent is already running with the data folder /);

    controller.abort('SIGTERM');
    expect(await summary).toEqual({ reason: 'SIGTERM', abandoned: [] });
    expect(events.slice(3)).toEqual(['slow hook begins', 'flush wal streams']);
    expect(lockDuringHook).toBe(true);
    expect(existsSync(join(dir.path, 'agent.lock'))).toBe(false);
    expect(logs.find((l) => l.msg === 'shutdown step "slow hook" did not finish in time')).toMatchObject({ level: 40 });
    expect(logs.at(-1)).toMatchObject({ msg: 'agent stopped', reason: 'SIGTERM' });
    // Kinds nobody registered are named, not silently skipped.
    expect(logs.find((l) => /^no task is available for base backup, retention, repository verify in this build/.test(l.msg))).toBeDefined();
    // Each run is a job with history.
    const jobs = JSON.parse(await readFile(join(dir.path, 'jobs.json'), 'utf8')) as { kind: string; state: string; title: string }[];
    expect(jobs.filter((j) => j.kind === 'schedule.restorePoint' && j.state === 'succeeded')).toHaveLength(3);
    expect(jobs.map((j) => j.title)).toContain('Scheduled restore point of Production (catch-up)');
  });

  it('refuses a bad test knob value instead of ignoring it', async () => {
    const err = await runAgent({
      config: config(dir.path),
      engineFactory: engineFactoryWithLog([]),
      signal: AbortSignal.abort(),
      env: { TIDEMARK_SCHEDULER_MINUTE_MS: '5' },
    }).catch((e: unknown) => e);
    expect((err as TidemarkError).message).toBe('TIDEMARK_SCHEDULER_MINUTE_MS=5 is not valid: use a whole number of milliseconds from 100 to 60000, or unset it (it is for tests only).');
  });
});
