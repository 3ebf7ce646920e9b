import { request, type IncomingHttpHeaders } from 'node:http';
import { connect } from 'node:net';
import { networkInterfaces } from 'node:os';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import type { Job } from '../../main/engine/jobs/job-types.js';
import { createDispatcher } from '../../main/api/dispatcher.js';
import { createHandlers } from '../../main/api/handlers/index.js';
import { engineEventSource } from '../../main/bridge/engine-events.js';
import { startWebBridge, type WebBridge } from '../../main/bridge/web-bridge.js';
import { createEngine, type Engine } from '../../main/engine/engine.js';
import { createLogger } from '../../main/engine/log/logger.js';
import { MemorySecretStore } from '../../main/engine/secrets/secret-store.js';
import { JsonFileSettingsStore } from '../../main/engine/settings/settings-store.js';
import { tempDir } from '../support/temp-dir.js';

interface HttpResult {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** A raw GET, so the test controls the path bytes and the Host header. */
function get(port: number, path: string, host = `127.0.0.1:${port}`): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers: { host } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Opens a socket; resolves with it when open, or with the HTTP status that refused it. */
function openSocket(
  url: string,
  options: { origin?: string; protocols?: string[]; host?: string } = {},
): Promise<{ ws?: WebSocket; refused?: number }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, options.protocols ?? [], {
      ...(options.origin ? { origin: options.origin } : {}),
      ...(options.host ? { headers: { host: options.host } } : {}),
    });
    ws.once('open', () => resolve({ ws }));
    ws.once('unexpected-response', (_req, res) => {
      resolve({ refused: res.statusCode ?? 0 });
      ws.terminate();
    });
    ws.once('error', (err) => reject(err));
  });
}

/** A connected client that matches answers to calls and collects events. */
class Client {
  private next = 1;
  private readonly waiting = new Map<string, (result: unknown) => void>();
  readonly events: { event: string; payload: Job }[] = [];
  private readonly eventWaiters: (() => void)[] = [];

  constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const message = JSON.parse(data.toString()) as {
        id?: string | number | null;
        result?: unknown;
        event?: string;
        payload?: Job;
      };
      if (message.event && message.payload) {
        this.events.push({ event: message.event, payload: message.payload });
        this.eventWaiters.splice(0).forEach((wake) => wake());
      } else {
        this.waiting.get(String(message.id))?.(message);
      }
    });
  }

  call(
    method: string,
    input: unknown,
  ): Promise<{
    id: string;
    result: { ok: boolean; value?: unknown; error?: { code: string; message: string } };
  }> {
    const id = `c${this.next++}`;
    return this.raw(id, JSON.stringify({ id, method, input })) as never;
  }

  raw(id: string, text: string): Promise<unknown> {
    return new Promise((resolve) => {
      this.waiting.set(id, resolve);
      this.ws.send(text);
    });
  }

  /** Waits until an event satisfies `done`, or fails after `ms`. */
  async until(
    done: (events: { event: string; payload: Job }[]) => boolean,
    ms = 10_000,
  ): Promise<void> {
    const deadline = Date.now() + ms;
    while (!done(this.events)) {
      if (Date.now() > deadline)
        throw new Error(
          `timed out; events so far: ${JSON.stringify(this.events.map((e) => [e.payload.state, e.payload.seq]))}`,
        );
      await new Promise<void>((wake) => {
        this.eventWaiters.push(wake);
        setTimeout(wake, 200);
      });
    }
  }
}

describe('web bridge', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  let engine: Engine;
  let bridge: WebBridge;
  let origin: string;
  let apiUrl: string;

  beforeAll(async () => {
    dir = await tempDir();
    const staticDir = join(dir.path, 'renderer');
    await mkdir(join(staticDir, 'assets'), { recursive: true });
    await writeFile(
      join(staticDir, 'index.html'),
      '<!doctype html><title>Tidemark</title><script type="module" src="./assets/app.js"></script>',
    );
    await writeFile(join(staticDir, 'assets', 'app.js'), 'export {};');
    await writeFile(join(dir.path, 'private.txt'), 'do not serve');
    const paths = {
      config: join(dir.path, 'config'),
      data: join(dir.path, 'data'),
      logs: join(dir.path, 'logs'),
    };
    engine = await createEngine({
      paths,
      settings: new JsonFileSettingsStore(join(paths.config, 'settings.json')),
      secrets: new MemorySecretStore(),
      logger: createLogger(),
      shell: 'web',
      version: '0.0.0-test',
      devMethods: true,
    });
    const dispatch = createDispatcher({ handlers: createHandlers(engine), trustedOrigins: [] });
    bridge = await startWebBridge({
      dispatch,
      events: engineEventSource(engine),
      staticDir,
      port: 0,
      maxMessageBytes: 64 * 1024,
    });
    origin = `http://127.0.0.1:${bridge.port}`;
    apiUrl = `ws://127.0.0.1:${bridge.port}/api`;
  });

  afterAll(async () => {
    await bridge?.close();
    await engine?.close();
    await dir?.cleanup();
  });

  it('listens on 127.0.0.1 only', async () => {
    expect(bridge.server.address()).toMatchObject({
      address: '127.0.0.1',
      family: 'IPv4',
      port: bridge.port,
    });
    expect(bridge.url).toBe(`http://127.0.0.1:${bridge.port}/?token=${bridge.token}`);
    const others = Object.values(networkInterfaces())
      .flat()
      .filter((a) => a !== undefined && a.address !== '127.0.0.1' && !a.address.startsWith('fe80'))
      .map((a) => a!.address);
    console.log(`other local addresses tried: ${others.join(', ') || '(none)'}`);
    for (const address of others) {
      const outcome = await new Promise<string>((resolve) => {
        const socket = connect({ host: address, port: bridge.port, timeout: 2000 });
        socket.once('connect', () => {
          socket.destroy();
          resolve('connected');
        });
        socket.once('timeout', () => {
          socket.destroy();
          resolve('timeout');
        });
        socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
      });
      expect(outcome, address).not.toBe('connected');
    }
  });

  it('serves the page only with the token, and assets with the right types and headers', async () => {
    const noToken = await get(bridge.port, '/');
    expect(noToken.status).toBe(403);
    expect(noToken.body.trim().split('\n')).toHaveLength(1);
    expect(noToken.body).toMatch(/token/);
    expect((await get(bridge.port, '/?token=wrong')).status).toBe(403);
    expect((await get(bridge.port, `/index.html?token=${bridge.token.slice(0, -1)}`)).status).toBe(
      403,
    );

    const page = await get(bridge.port, `/?token=${bridge.token}`);
    expect(page.status).toBe(200);
    expect(page.body).toContain('<title>Tidemark</title>');
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(page.headers['content-security-policy']).toContain(
      `connect-src 'self' ws://127.0.0.1:${bridge.port} ws://localhost:${bridge.port}`,
    );
    expect(page.headers['x-content-type-options']).toBe('nosniff');
    expect(page.headers['referrer-policy']).toBe('no-referrer');
    expect(page.headers['x-frame-options']).toBe('DENY');
    expect(page.headers['cache-control']).toBe('no-store');

    const script = await get(bridge.port, '/assets/app.js');
    expect(script.status).toBe(200);
    expect(script.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect((await get(bridge.port, '/assets/missing.js')).status).toBe(404);
  });

  it('refuses a foreign Host header (DNS rebinding)', async () => {
    const res = await get(bridge.port, `/?token=${bridge.token}`, `evil.example:${bridge.port}`);
    expect(res.status).toBe(403);
    expect(res.body).not.toContain('<title>');
    expect((await get(bridge.port, '/assets/app.js', 'evil.example')).status).toBe(403);
    expect(
      (await get(bridge.port, `/?token=${bridge.token}`, `localhost:${bridge.port}`)).status,
    ).toBe(200);
  });

  it('never serves a file outside the renderer', async () => {
    for (const path of [
      '/../private.txt',
      '/%2e%2e/private.txt',
      '/assets/..%2f..%2fprivate.txt',
      '/..%5cprivate.txt',
    ]) {
      const res = await get(bridge.port, path);
      expect(res.status, path).toBe(404);
      expect(res.body).not.toContain('do not serve');
    }
  });

  it('refuses a WebSocket without the token (401), from a foreign Origin or none (403), or to a foreign Host (403)', async () => {
    expect(await openSocket(apiUrl, { origin })).toEqual({ refused: 401 });
    expect(await openSocket(`${apiUrl}?token=wrong`, { origin })).toEqual({ refused: 401 });
    expect(
      await openSocket(`${apiUrl}?token=${bridge.token}`, { origin: 'https://evil.example' }),
    ).toEqual({ refused: 403 });
    expect(
      await openSocket(`${apiUrl}?token=${bridge.token}`, {
        origin: `http://127.0.0.1:${bridge.port + 1}`,
      }),
    ).toEqual({ refused: 403 });
    expect(await openSocket(`${apiUrl}?token=${bridge.token}`)).toEqual({ refused: 403 });
    expect(
      await openSocket(`${apiUrl}?token=${bridge.token}`, {
        origin,
        host: `evil.example:${bridge.port}`,
      }),
    ).toEqual({ refused: 403 });
    expect(
      await openSocket(`ws://127.0.0.1:${bridge.port}/other?token=${bridge.token}`, { origin }),
    ).toEqual({ refused: 404 });
  });

  it('accepts the token as a sub-protocol too', async () => {
    const { ws } = await openSocket(apiUrl, {
      origin,
      protocols: ['tidemark', `tidemark-token.${bridge.token}`],
    });
    expect(ws?.protocol).toBe('tidemark');
    const client = new Client(ws!);
    expect(await client.call('app.info', {})).toMatchObject({
      result: { ok: true, value: { shell: 'web', version: '0.0.0-test' } },
    });
    ws!.close();
  });

  it('answers invalid input and malformed messages with envelopes, and keeps serving', async () => {
    const { ws } = await openSocket(`${apiUrl}?token=${bridge.token}`, { origin });
    const client = new Client(ws!);
    expect(await client.call('dev.sleep', { seconds: 601 })).toMatchObject({
      result: { ok: false, error: { code: 'invalid_input' } },
    });
    expect(await client.call('jobs.get', {})).toMatchObject({
      result: {
        ok: false,
        error: { code: 'invalid_input', message: expect.stringContaining('id') },
      },
    });
    expect(await client.call('no.such', {})).toMatchObject({
      result: { ok: false, error: { code: 'invalid_input' } },
    });
    expect(await client.raw('null', '{not json')).toMatchObject({
      id: null,
      result: { ok: false, error: { code: 'invalid_input' } },
    });
    expect(await client.raw('7', '{"id":7,"input":{}}')).toMatchObject({
      id: 7,
      result: { ok: false, error: { code: 'invalid_input' } },
    });
    expect(await client.call('jobs.list', {})).toMatchObject({ result: { ok: true } });
    ws!.close();
  });

  it('closes a socket that sends a message over the size limit, and stays up for others', async () => {
    const { ws } = await openSocket(`${apiUrl}?token=${bridge.token}`, { origin });
    const closed = new Promise<number>((resolve) => ws!.once('close', (code) => resolve(code)));
    ws!.send(
      JSON.stringify({ id: 1, method: 'jobs.list', input: { pad: 'x'.repeat(100 * 1024) } }),
    );
    expect(await closed).toBe(1009);
    const again = await openSocket(`${apiUrl}?token=${bridge.token}`, { origin });
    expect(await new Client(again.ws!).call('jobs.list', {})).toMatchObject({
      result: { ok: true },
    });
    again.ws!.close();
  });

  it('pushes job.updated events with increasing seq, and cancel ends the job as cancelled', async () => {
    const { ws } = await openSocket(`${apiUrl}?token=${bridge.token}`, { origin });
    const client = new Client(ws!);
    const started = await client.call('dev.sleep', { seconds: 30, steps: 100 });
    expect(started).toMatchObject({ result: { ok: true, value: { kind: 'dev.sleep' } } });
    const job = started.result.value as Job;
    const ofJob = () =>
      client.events
        .filter((e) => e.event === 'job.updated' && e.payload.id === job.id)
        .map((e) => e.payload);

    await client.until(() =>
      ofJob().some((j) => j.state === 'running' && (j.progress?.done ?? 0) > 0.6),
    );
    const cancel = await client.call('jobs.cancel', { id: job.id });
    expect(cancel).toMatchObject({ result: { ok: true } });
    await client.until(() => ofJob().some((j) => j.state === 'cancelled'));

    const updates = ofJob();
    const seqs = updates.map((j) => j.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(new Set(seqs).size).toBe(seqs.length);
    const done = updates.map((j) => j.progress?.done ?? 0);
    expect(done.filter((d, i) => i > 0 && d < done[i - 1]!)).toEqual([]);
    expect(updates.at(-1)).toMatchObject({ state: 'cancelled', error: { code: 'cancelled' } });
    expect(await client.call('jobs.get', { id: job.id })).toMatchObject({
      result: { ok: true, value: { state: 'cancelled' } },
    });
    ws!.close();
  });

  it('refuses dev.sleep with "unsupported" when dev methods are off', async () => {
    const off = await createEngine({
      paths: {
        config: join(dir.path, 'off'),
        data: join(dir.path, 'off'),
        logs: join(dir.path, 'off'),
      },
      settings: new JsonFileSettingsStore(join(dir.path, 'off', 'settings.json')),
      secrets: new MemorySecretStore(),
      logger: createLogger(),
      shell: 'web',
      version: '0.0.0-test',
    });
    const dispatch = createDispatcher({ handlers: createHandlers(off), trustedOrigins: [] });
    expect(await dispatch({ transport: 'bridge' }, 'dev.sleep', { seconds: 1 })).toMatchObject({
      ok: false,
      error: { code: 'unsupported', message: expect.stringContaining('TIDEMARK_DEV_METHODS=1') },
    });
    expect(off.jobs.list()).toEqual([]);
    await off.close();
  });

  it('close() ends client sockets and stops listening', async () => {
    const { ws } = await openSocket(`${apiUrl}?token=${bridge.token}`, { origin });
    const closed = new Promise<number>((resolve) => ws!.once('close', (code) => resolve(code)));
    await bridge.close();
    expect(await closed).toBe(1001);
    await expect(get(bridge.port, '/')).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });
});
