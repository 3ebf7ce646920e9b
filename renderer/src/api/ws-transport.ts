import {
  methodNames,
  type Envelope,
  type ErrorInfo,
  type EventName,
  type EventPayload,
  type TidemarkApi,
  type TidemarkBridge,
} from '../../../main/api/contract/index.js';
import type { Connection, ConnectionStatus } from './connection.js';

/** What the transport needs from a socket; `openBrowserSocket` adapts the browser's WebSocket. */
export interface SocketHandlers {
  onOpen(): void;
  onMessage(data: string): void;
  /** also called when the connection could not be opened at all */
  onClose(code: number, reason: string): void;
}

export interface SocketLike {
  send(data: string): void;
  close(): void;
}

export type OpenSocket = (url: string, handlers: SocketHandlers) => SocketLike;

export interface WsTransportOptions {
  /** ws://host:port/api?token=… */
  url: string;
  openSocket: OpenSocket;
  /** how long a call made while disconnected waits for the connection before it fails */
  connectWaitMs?: number;
  /** reconnect delays double from `initialMs` up to `maxMs`, with jitter */
  retry?: { initialMs: number; maxMs: number };
  random?: () => number;
  /**
   * Asked after a connection attempt fails before opening: resolves true when the bridge is
   * up but refuses this page's token, so the user must open the new URL instead of waiting.
   */
  isTokenRefused?: () => Promise<boolean>;
}

export interface WsTransport {
  bridge: TidemarkBridge;
  connection: Connection;
  /** closes the socket for good and fails every call still waiting */
  close(): void;
}

interface PendingCall {
  method: string;
  frame: string;
  resolve: (envelope: Envelope<unknown>) => void;
  timer?: ReturnType<typeof setTimeout>;
}

const tokenRefusedMessage =
  'This page’s access token is no longer accepted (tidemark web was restarted). Open the URL it printed when it last started.';

function failure(code: ErrorInfo['code'], message: string, retryable: boolean): Envelope<never> {
  return { ok: false, error: { code, message, retryable } };
}

function isEnvelope(value: unknown): value is Envelope<unknown> {
  if (typeof value !== 'object' || value === null || !('ok' in value)) return false;
  if (value.ok === true) return 'value' in value;
  return (
    value.ok === false &&
    'error' in value &&
    typeof value.error === 'object' &&
    value.error !== null
  );
}

/**
 * The API over the web bridge's WebSocket: client → server `{id, method, input}`, server →
 * client `{id, result}` (an envelope) or `{event, payload}`. Like the preload, every method
 * answers an envelope and never throws. Reconnects with backoff when the socket drops.
 */
export function createWsTransport(options: WsTransportOptions): WsTransport {
  const connectWaitMs = options.connectWaitMs ?? 15_000;
  const retry = options.retry ?? { initialMs: 500, maxMs: 10_000 };
  const random = options.random ?? Math.random;

  let status: ConnectionStatus = 'connecting';
  const statusListeners = new Set<(status: ConnectionStatus) => void>();
  const eventListeners = new Map<string, Set<(payload: unknown) => void>>();
  const inFlight = new Map<string, PendingCall>();
  const waiting = new Map<string, PendingCall>();
  let socket: SocketLike | null = null;
  let isOpen = false;
  let failedAttempts = 0;
  let retryTimer: ReturnType<typeof setTimeout> | null = null;
  let closedForGood = false;
  let nextId = 1;

  function setStatus(next: ConnectionStatus): void {
    if (next === status) return;
    status = next;
    for (const listener of statusListeners) listener(next);
  }

  function connect(): void {
    retryTimer = null;
    let current: SocketLike | null = null;
    try {
      current = options.openSocket(options.url, {
        onOpen: () => {
          if (socket !== current) return;
          isOpen = true;
          failedAttempts = 0;
          setStatus('open');
          for (const [id, call] of waiting) {
            waiting.delete(id);
            clearTimeout(call.timer);
            send(id, call);
          }
        },
        onMessage: (data) => {
          if (socket === current) receive(data);
        },
        onClose: () => {
          if (socket !== current) return;
          const hadOpened = isOpen;
          socket = null;
          isOpen = false;
          failInFlight();
          if (closedForGood) return;
          if (hadOpened || !options.isTokenRefused) scheduleReconnect();
          else void checkTokenThenReconnect(options.isTokenRefused);
        },
      });
      socket = current;
    } catch {
      // The browser throws synchronously only for a malformed URL; retrying keeps one code path.
      scheduleReconnect();
    }
  }

  async function checkTokenThenReconnect(isTokenRefused: () => Promise<boolean>): Promise<void> {
    let refused = false;
    try {
      refused = await isTokenRefused();
    } catch {
      // Cannot tell (the bridge is down, most likely): keep trying.
    }
    if (closedForGood) return;
    if (!refused) {
      scheduleReconnect();
      return;
    }
    setStatus('rejected');
    failWaiting(tokenRefusedMessage);
  }

  function failWaiting(message: string): void {
    for (const [id, pending] of waiting) {
      waiting.delete(id);
      clearTimeout(pending.timer);
      pending.resolve(failure('unauthorized', message, false));
    }
  }

  function scheduleReconnect(): void {
    setStatus('reconnecting');
    const base = Math.min(retry.maxMs, retry.initialMs * 2 ** failedAttempts);
    failedAttempts++;
    // Jitter keeps several open tabs from knocking on the bridge in lockstep.
    retryTimer = setTimeout(connect, base * (0.5 + random() / 2));
  }

  function send(id: string, call: PendingCall): void {
    inFlight.set(id, call);
    try {
      socket?.send(call.frame);
    } catch {
      inFlight.delete(id);
      call.resolve(
        failure(
          'connection_failed',
          `Could not send ${call.method} to the Tidemark engine. Try again once the connection is back.`,
          true,
        ),
      );
    }
  }

  function failInFlight(): void {
    for (const [id, call] of inFlight) {
      inFlight.delete(id);
      call.resolve(
        failure(
          'connection_failed',
          `The connection to the Tidemark engine dropped before ${call.method} answered, so it may or may not have run. Check its result once reconnected before trying again.`,
          true,
        ),
      );
    }
  }

  function receive(data: string): void {
    let message: unknown;
    try {
      message = JSON.parse(data);
    } catch {
      return;
    }
    if (typeof message !== 'object' || message === null) return;
    if ('id' in message && 'result' in message) {
      const id = String(message.id);
      const call = inFlight.get(id);
      if (!call) return;
      inFlight.delete(id);
      call.resolve(
        isEnvelope(message.result)
          ? message.result
          : failure(
              'internal',
              `The Tidemark engine answered ${call.method} with something this window cannot read. Reload the page; if it persists, update Tidemark.`,
              false,
            ),
      );
      return;
    }
    if ('event' in message && typeof message.event === 'string' && 'payload' in message) {
      const listeners = eventListeners.get(message.event);
      if (!listeners) return;
      for (const listener of listeners) {
        // One broken listener must not starve the others of the event.
        try {
          listener(message.payload);
        } catch (err) {
          console.error(`Listener of ${message.event} failed`, err);
        }
      }
    }
  }

  function call(method: string, input: unknown): Promise<Envelope<unknown>> {
    return new Promise((resolve) => {
      if (closedForGood) {
        resolve(
          failure(
            'connection_failed',
            'This window is no longer connected to the Tidemark engine. Reload the page.',
            false,
          ),
        );
        return;
      }
      if (status === 'rejected') {
        resolve(failure('unauthorized', tokenRefusedMessage, false));
        return;
      }
      const id = String(nextId++);
      let frame: string;
      try {
        frame = JSON.stringify({ id, method, input });
      } catch {
        resolve(
          failure('invalid_input', `The input of ${method} cannot be sent to the engine.`, false),
        );
        return;
      }
      const pending: PendingCall = { method, frame, resolve };
      if (isOpen && socket) {
        send(id, pending);
        return;
      }
      pending.timer = setTimeout(() => {
        waiting.delete(id);
        resolve(
          failure(
            'connection_failed',
            `Could not reach the Tidemark engine within ${Math.round(connectWaitMs / 1000)} s to run ${method}. Check that \`tidemark web\` is still running, then try again.`,
            true,
          ),
        );
      }, connectWaitMs);
      waiting.set(id, pending);
    });
  }

  const api = Object.fromEntries(
    methodNames.map((method) => [method, (input: unknown) => call(method, input)]),
  ) as unknown as TidemarkApi;

  const bridge: TidemarkBridge = {
    ...api,
    on<E extends EventName>(event: E, listener: (payload: EventPayload<E>) => void): () => void {
      const untyped = listener as (payload: unknown) => void;
      let listeners = eventListeners.get(event);
      if (!listeners) {
        listeners = new Set();
        eventListeners.set(event, listeners);
      }
      listeners.add(untyped);
      return () => {
        listeners.delete(untyped);
      };
    },
  };

  const connection: Connection = {
    status: () => status,
    onChange(listener) {
      statusListeners.add(listener);
      return () => {
        statusListeners.delete(listener);
      };
    },
  };

  connect();

  return {
    bridge,
    connection,
    close() {
      closedForGood = true;
      if (retryTimer !== null) clearTimeout(retryTimer);
      const current = socket;
      socket = null;
      isOpen = false;
      current?.close();
      failInFlight();
      for (const [id, pending] of waiting) {
        waiting.delete(id);
        clearTimeout(pending.timer);
        pending.resolve(
          failure(
            'connection_failed',
            `This window closed its connection before ${pending.method} could run.`,
            false,
          ),
        );
      }
    },
  };
}
