import type { TidemarkBridge } from '../../../main/api/contract/index.js';
import { isPageTokenRefused, openBrowserSocket } from './browser-socket.js';
import { alwaysOpen, type Connection } from './connection.js';
import { createWsTransport } from './ws-transport.js';

declare global {
  interface Window {
    /** set by the Electron preload; absent in a plain browser */
    tidemark?: TidemarkBridge;
  }
}

export interface Transport {
  kind: 'ipc' | 'websocket';
  bridge: TidemarkBridge;
  connection: Connection;
}

export type TransportChoice =
  { ok: true; transport: Transport } | { ok: false; reason: 'missing-token' };

/** The WebSocket URL of the web bridge that served this page, or null without a token. */
export function bridgeSocketUrl(
  location: Pick<Location, 'protocol' | 'host' | 'search'>,
): string | null {
  const token = new URLSearchParams(location.search).get('token');
  if (!token) return null;
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}/api?token=${encodeURIComponent(token)}`;
}

/**
 * Decided once at start: the preload's IPC bridge inside Electron, otherwise the WebSocket
 * of the web bridge that served the page (which needs the token from the printed URL).
 */
export function pickTransport(win: Window = window): TransportChoice {
  if (win.tidemark)
    return { ok: true, transport: { kind: 'ipc', bridge: win.tidemark, connection: alwaysOpen } };
  const url = bridgeSocketUrl(win.location);
  if (url === null) return { ok: false, reason: 'missing-token' };
  const pageUrl = win.location.href;
  const { bridge, connection } = createWsTransport({
    url,
    openSocket: openBrowserSocket,
    isTokenRefused: () => isPageTokenRefused(pageUrl),
  });
  return { ok: true, transport: { kind: 'websocket', bridge, connection } };
}
