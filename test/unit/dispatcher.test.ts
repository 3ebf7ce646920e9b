import { describe, expect, it } from 'vitest';
import { methodNames, methods } from '../../main/api/contract/index.js';
import { createDispatcher, type Caller } from '../../main/api/dispatcher.js';
import { createHandlers } from '../../main/api/handlers/index.js';
import { createEngine } from '../../main/engine/engine.js';
import { MemoryJobStore } from '../../main/engine/jobs/job-store.js';
import { createLogger } from '../../main/engine/log/logger.js';
import { MemorySecretStore } from '../../main/engine/secrets/secret-store.js';
import { applySettingsPatch } from '../../main/engine/settings/settings-store.js';
import { defaultSettings, type Settings, type SettingsPatch } from '../../main/engine/settings/settings-schema.js';

async function setup() {
  let settings: Settings = defaultSettings();
  const secrets = new MemorySecretStore();
  const engine = await createEngine({
    paths: { config: '/nonexistent', data: '/nonexistent', logs: '/nonexistent' },
    settings: { get: async () => settings, update: async (p: SettingsPatch) => (settings = applySettingsPatch(settings, p)) },
    secrets,
    logger: createLogger(),
    shell: 'web',
    version: '0.0.0-test',
    jobStore: new MemoryJobStore(),
    devMethods: false,
  });
  const dispatch = createDispatcher({ handlers: createHandlers(engine), trustedOrigins: ['app://tidemark'] });
  return { dispatch, engine, secrets };
}

const window: Caller = { transport: 'ipc', frameUrl: 'app://tidemark/index.html', isMainFrame: true };

describe('dispatcher', () => {
  it('answers a valid call with an ok envelope', async () => {
    const { dispatch } = await setup();
    const res = await dispatch(window, 'app.info', {});
    expect(res).toMatchObject({ ok: true, value: { version: '0.0.0-test', shell: 'web' } });
  });

  it.each([
    ['a foreign origin', { transport: 'ipc', frameUrl: 'https://evil.example/', isMainFrame: true }],
    ['a sub-frame of the app', { transport: 'ipc', frameUrl: 'app://tidemark/index.html', isMainFrame: false }],
    ['an unparsable URL', { transport: 'ipc', frameUrl: 'not a url', isMainFrame: true }],
  ] as [string, Caller][])('rejects %s', async (_, caller) => {
    const res = await dispatch0(caller);
    expect(res).toMatchObject({ ok: false, error: { code: 'forbidden_sender' } });
  });

  async function dispatch0(caller: Caller) {
    const { dispatch } = await setup();
    return dispatch(caller, 'settings.get', {});
  }

  it('rejects unknown methods and invalid input without calling the engine', async () => {
    const { dispatch, secrets } = await setup();
    expect(await dispatch(window, 'engine.deleteEverything', {})).toMatchObject({ ok: false, error: { code: 'invalid_input' } });
    expect(await dispatch(window, '__proto__', {})).toMatchObject({ ok: false, error: { code: 'invalid_input' } });
    const bad = await dispatch(window, 'secrets.set', { name: '../../etc/passwd', value: 'x' });
    expect(bad).toMatchObject({ ok: false, error: { code: 'invalid_input' } });
    expect(await secrets.has('../../etc/passwd')).toBe(false);
    const extra = await dispatch(window, 'jobs.get', { id: 'x', unexpected: true });
    expect(extra).toMatchObject({ ok: false, error: { code: 'invalid_input' } });
  });

  it('turns engine errors into error envelopes with their code', async () => {
    const { dispatch } = await setup();
    expect(await dispatch(window, 'jobs.get', { id: 'missing' })).toMatchObject({ ok: false, error: { code: 'not_found', retryable: false } });
  });

  it('never returns a secret value, only whether it is set', async () => {
    const { dispatch } = await setup();
    await dispatch(window, 'secrets.set', { name: 'cluster/c1/password', value: 'hunter2' });
    const res = await dispatch(window, 'secrets.status', { names: ['cluster/c1/password', 'cluster/c2/password'] });
    expect(res).toEqual({ ok: true, value: { 'cluster/c1/password': true, 'cluster/c2/password': false } });
    expect(JSON.stringify(res)).not.toContain('hunter2');
  });

  it('validates and merges settings updates', async () => {
    const { dispatch } = await setup();
    const res = await dispatch(window, 'settings.update', { desktop: { startAtLogin: true } });
    expect(res).toMatchObject({ ok: true, value: { desktop: { startAtLogin: true, runInBackground: true } } });
    expect(await dispatch(window, 'settings.update', { web: { port: 70000 } })).toMatchObject({ ok: false, error: { code: 'invalid_input' } });
  });
});

describe('contract', () => {
  it('names every method noun.verb and gives it schemas and a summary', () => {
    for (const name of methodNames) {
      expect(name).toMatch(/^[a-z][a-zA-Z]*(\.[a-z][a-zA-Z]*)+$/);
      const spec = methods[name];
      expect(spec.summary.length).toBeGreaterThan(5);
      expect(typeof spec.input.safeParse).toBe('function');
    }
  });

  it('has a handler for every method', async () => {
    const { engine } = await setup();
    const handlers = createHandlers(engine);
    expect(Object.keys(handlers).sort()).toEqual([...methodNames].sort());
  });
});
