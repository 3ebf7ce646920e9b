import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDispatcher, type Caller } from '../../main/api/dispatcher.js';
import { createHandlers } from '../../main/api/handlers/index.js';
import { createEngine, type Engine } from '../../main/engine/engine.js';
import type { Job } from '../../main/engine/jobs/job-types.js';
import { MemoryJobStore } from '../../main/engine/jobs/job-store.js';
import { createLogger } from '../../main/engine/log/logger.js';
import { MemorySecretStore } from '../../main/engine/secrets/secret-store.js';
import { JsonFileSettingsStore } from '../../main/engine/settings/settings-store.js';
import { tempDir } from '../support/temp-dir.js';

const bridge: Caller = { transport: 'bridge' };
const passphrase = 'api passphrase words';

describe('repositories.* through the dispatcher', () => {
  let root: { path: string; cleanup: () => Promise<void> };
  let engine: Engine;
  let call: (method: string, input: unknown) => Promise<unknown>;
  const events: Job[] = [];

  beforeAll(async () => {
    root = await tempDir('tidemark-repo-api-');
    await mkdir(join(root.path, 'zone'));
    engine = await createEngine({
      paths: {
        config: join(root.path, 'config'),
        data: join(root.path, 'data'),
        logs: join(root.path, 'logs'),
      },
      settings: new JsonFileSettingsStore(join(root.path, 'config', 'settings.json')),
      secrets: new MemorySecretStore(),
      logger: createLogger(),
      shell: 'web',
      version: '0.0.0-test',
      jobStore: new MemoryJobStore(),
    });
    engine.jobs.on('changed', (job) => events.push(job));
    const dispatch = createDispatcher({ handlers: createHandlers(engine), trustedOrigins: [] });
    call = async (method, input) => {
      const answer = await dispatch(bridge, method, input);
      if (!answer.ok) throw Object.assign(new Error(answer.error.message), answer.error);
      return answer.value;
    };
  });
  afterAll(async () => {
    await engine?.close();
    await root?.cleanup();
  });

  it('creates, lists, locks, plans retention, verifies as a job, and never returns the passphrase', async () => {
    const config = {
      id: 'api',
      name: 'API',
      zones: [{ kind: 'folder', id: 'disk', name: 'Disk', path: join(root.path, 'zone') }],
    };
    const created = await call('repositories.create', { config, passphrase });
    expect(created).toMatchObject({ id: 'api', retentionDays: 35, key: { source: 'passphrase' } });
    await expect(call('repositories.create', { config, passphrase })).rejects.toMatchObject({
      code: 'conflict',
    });

    const list = (await call('repositories.list', {})) as {
      state: string;
      lock: { locked: boolean };
      zones: { id: string; reachable: boolean }[];
    }[];
    expect(list).toHaveLength(1);
    expect(list[0]).toMatchObject({
      state: 'ok',
      lock: { locked: false },
      zones: [{ id: 'disk', reachable: true }],
    });

    expect(await call('repositories.lock', { id: 'api', reason: 'quarter close' })).toMatchObject({
      locked: true,
      reason: 'quarter close',
    });
    const dry = (await call('repositories.prune', { id: 'api', dryRun: true })) as {
      run: { locked: boolean; plan: { deletions: unknown[] } };
      job: null;
    };
    expect(dry).toMatchObject({ run: { locked: true, plan: { deletions: [] } }, job: null });
    await expect(call('repositories.prune', { id: 'api', dryRun: false })).rejects.toMatchObject({
      code: 'locked',
    });
    await expect(call('repositories.setRetention', { id: 'api', days: 7 })).rejects.toMatchObject({
      code: 'locked',
    });
    await expect(call('repositories.destroy', { id: 'api', confirm: 'api' })).rejects.toMatchObject(
      { code: 'locked' },
    );
    await call('repositories.unlock', { id: 'api' });

    const job = (await call('repositories.verify', { id: 'api' })) as Job;
    expect(job).toMatchObject({ kind: 'repositories.verify', subject: 'api' });
    const done = await engine.jobs.wait(job.id);
    expect(done.state).toBe('succeeded');
    expect(done.result).toMatchObject({
      report: { ok: true, repositoryId: 'api' },
      summary: expect.stringContaining('Result: OK.'),
    });
    expect(events.some((e) => e.id === job.id && e.parts.objects?.progress?.unit === 'items')).toBe(
      true,
    );

    const status = (await call('repositories.status', { id: 'api' })) as {
      zones: unknown[];
      counts: { backups: number };
    };
    expect(status.counts.backups).toBe(0);
    const kit = (await call('repositories.exportKit', { id: 'api' })) as { kit: string };
    expect(kit.kit).toContain('Tidemark recovery kit');

    // the passphrase is in no answer, in no event, and not in the settings file
    const everything = JSON.stringify([created, list, dry, done, status, kit, events]);
    expect(everything).not.toContain(passphrase);
    expect(await readFile(join(root.path, 'config', 'settings.json'), 'utf8')).not.toContain(
      passphrase,
    );

    const rekey = await call('repositories.rekey', {
      id: 'api',
      oldPassphrase: passphrase,
      newPassphrase: 'the next passphrase',
    });
    expect(rekey).toEqual({ warnings: [] });
    expect(await engine.secrets.get('repository/api/passphrase')).toBe('the next passphrase');

    await expect(call('repositories.destroy', { id: 'api', confirm: 'API' })).rejects.toMatchObject(
      { code: 'invalid_input' },
    );
    expect(await call('repositories.forget', { id: 'api' })).toEqual({ forgotten: true });
    expect(await call('repositories.list', {})).toEqual([]);
  });
});
