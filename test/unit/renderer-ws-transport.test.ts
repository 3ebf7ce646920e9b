import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import type { Envelope } from '../../main/api/contract/index.js';
import type { ConnectionStatus } from '../../renderer/src/api/connection.js';
import {
  createWsTransport,
  type OpenSocket,
  type WsTransport,
} from '../../renderer/src/api/ws-transport.js';
import { freePort } from '../support/free-port.js';

/** The `ws` client behind the transport's socket interface, as the browser adapter does. */
const openNodeSocket: OpenSocket = (url, handlers) => {
  const socket = new WebSocket(url);
  socket.on('open', () => handlers.onOpen());
  socket.on('message', (data, isBinary) => {
    if (!isBinary) handlers.onMessage(data.toString());
  });
  socket.on('close', (code, reason) => handlers.onClose(code, reason.toString()));
  socket.on('error', () => {});
  return { send: (data) => socket.send(data), close: () => socket.close() };
};

interface Request {
  id: string;
  method: string;
  input: unknown;
}

/** A stand-in for the web bridge on loopback: answers every call with an echo envelope. */
async function startServer(port: number, options: { answer?: boolean } = {}) {
  const server = new WebSocketServer({ host: '127.0.0.1', port });
  await new Promise<void>((resolve) => server.once('listening', () => resolve()));
  const requests: Request[] = [];
  server.on('connection', (socket) => {
    socket.on('message', (data) => {
      const request = JSON.parse(data.toString()) as Request;
      requests.push(request);
      if (options.answer === false) return;
      const result: Envelope<unknown> =
        request.method === 'jobs.get'
          ? {
              ok: false,
              error: { code: 'not_found', message: 'No job with id x.', retryable: false },
            }
          : { ok: true, value: { method: request.method, input: request.input } };
      socket.send(JSON.stringify({ id: request.id, result }));
    });
  });
  return {
    requests,
    broadcast(message: unknown) {
      for (const client of server.clients) client.send(JSON.stringify(message));
    },
    async stop() {
      for (const client of server.clients) client.terminate();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function waitForStatus(transport: WsTransport, wanted: ConnectionStatus): Promise<void> {
  return new Promise((resolve) => {
    if (transport.connection.status() === wanted) return resolve();
    const stop = transport.connection.onChange((status) => {
      if (status === wanted) {
        stop();
        resolve();
      }
    });
  });
}

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setup(options: { answer?: boolean; connectWaitMs?: number } = {}) {
  const port = await freePort();
  const server = await startServer(port, options);
  cleanups.push(() => server.stop());
  const transport = createWsTransport({
    url: `ws://127.0.0.1:${port}/api?token=t`,
    openSocket: openNodeSocket,
    retry: { initialMs: 20, maxMs: 100 },
    ...(options.connectWaitMs === undefined ? {} : { connectWaitMs: options.connectWaitMs }),
  });
  cleanups.push(() => transport.close());
  return { port, server, transport };
}

describe('WebSocket transport', () => {
  it('queues calls made before the socket opens and answers each with its envelope', async () => {
    const { server, transport } = await setup();
    expect(transport.connection.status()).toBe('connecting');
    const [info, job] = await Promise.all([
      transport.bridge['app.info']({}),
      transport.bridge['jobs.get']({ id: 'x' }),
    ]);
    expect(info).toEqual({ ok: true, value: { method: 'app.info', input: {} } });
    expect(job).toEqual({
      ok: false,
      error: { code: 'not_found', message: 'No job with id x.', retryable: false },
    });
    expect(transport.connection.status()).toBe('open');
    const ids = server.requests.map((r) => r.id);
    expect(new Set(ids).size).toBe(2);
  });

  it('delivers pushed events to the listeners of that event until they unsubscribe', async () => {
    const { server, transport } = await setup();
    await waitForStatus(transport, 'open');
    const seen: unknown[] = [];
    const unsubscribe = transport.bridge.on('job.updated', (job) => seen.push(job.seq));
    server.broadcast({ event: 'job.updated', payload: { seq: 1 } });
    server.broadcast({ event: 'something.else', payload: { seq: 99 } });
    server.broadcast({ event: 'job.updated', payload: { seq: 2 } });
    // A call round trip after the events proves they were all processed.
    await transport.bridge['app.info']({});
    expect(seen).toEqual([1, 2]);
    unsubscribe();
    server.broadcast({ event: 'job.updated', payload: { seq: 3 } });
    await transport.bridge['app.info']({});
    expect(seen).toEqual([1, 2]);
  });

  it('fails calls in flight when the socket drops, then reconnects with backoff', async () => {
    const { port, server, transport } = await setup({ answer: false });
    await waitForStatus(transport, 'open');
    const statuses: ConnectionStatus[] = [];
    transport.connection.onChange((status) => statuses.push(status));

    const unanswered = transport.bridge['jobs.list']({});
    await expect.poll(() => server.requests.length).toBe(1);
    await server.stop();
    const result = await unanswered;
    expect(result.ok).toBe(false);
    expect(!result.ok && result.error.code).toBe('connection_failed');
    expect(!result.ok && result.error.retryable).toBe(true);
    await waitForStatus(transport, 'reconnecting');

    // A call made while disconnected waits for the comeback instead of failing at once.
    const later = transport.bridge['settings.get']({});
    const restarted = await startServer(port);
    cleanups.push(() => restarted.stop());
    await waitForStatus(transport, 'open');
    expect(await later).toEqual({ ok: true, value: { method: 'settings.get', input: {} } });
    expect(statuses).toEqual(['reconnecting', 'open']);
  });

  it('fails a call that waits longer than connectWaitMs for a connection', async () => {
    const port = await freePort();
    const transport = createWsTransport({
      url: `ws://127.0.0.1:${port}/api?token=t`,
      openSocket: openNodeSocket,
      retry: { initialMs: 20, maxMs: 50 },
      connectWaitMs: 150,
    });
    cleanups.push(() => transport.close());
    const result = await transport.bridge['app.info']({});
    expect(result.ok).toBe(false);
    expect(!result.ok && result.error.code).toBe('connection_failed');
    expect(!result.ok && result.error.message).toContain('tidemark web');
    expect(transport.connection.status()).toBe('reconnecting');
  });

  it('answers an unreadable reply with an internal error instead of passing it on', async () => {
    const port = await freePort();
    const server = new WebSocketServer({ host: '127.0.0.1', port });
    await new Promise<void>((resolve) => server.once('listening', () => resolve()));
    server.on('connection', (socket) =>
      socket.on('message', (data) => {
        const request = JSON.parse(data.toString()) as Request;
        socket.send('not json');
        socket.send(JSON.stringify({ id: request.id, result: { value: 'no ok flag' } }));
      }),
    );
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const transport = createWsTransport({
      url: `ws://127.0.0.1:${port}/api`,
      openSocket: openNodeSocket,
    });
    cleanups.push(() => {
      transport.close();
      for (const client of server.clients) client.terminate();
    });
    const result = await transport.bridge['app.info']({});
    expect(!result.ok && result.error.code).toBe('internal');
  });
});

describe('WebSocket transport with a refused token', () => {
  it('stops retrying and fails waiting calls when the bridge refuses the page token', async () => {
    const port = await freePort();
    let probes = 0;
    const transport = createWsTransport({
      url: `ws://127.0.0.1:${port}/api?token=stale`,
      openSocket: openNodeSocket,
      retry: { initialMs: 20, maxMs: 50 },
      isTokenRefused: async () => ++probes >= 2,
    });
    cleanups.push(() => transport.close());
    const result = await transport.bridge['app.info']({});
    expect(!result.ok && result.error.code).toBe('unauthorized');
    expect(transport.connection.status()).toBe('rejected');
    expect(probes).toBe(2);
    const later = await transport.bridge['settings.get']({});
    expect(!later.ok && later.error.code).toBe('unauthorized');
  });
});
