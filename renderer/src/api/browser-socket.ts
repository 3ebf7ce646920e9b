import type { OpenSocket } from './ws-transport.js';

/** The sub-protocol the web bridge speaks. */
const bridgeProtocol = 'tidemark';

/** The browser's WebSocket behind the transport's small socket interface. */
export const openBrowserSocket: OpenSocket = (url, handlers) => {
  const socket = new WebSocket(url, [bridgeProtocol]);
  socket.onopen = () => handlers.onOpen();
  socket.onmessage = (event) => {
    if (typeof event.data === 'string') handlers.onMessage(event.data);
  };
  // A failed connection fires `error` and then `close`: `close` alone covers both.
  socket.onclose = (event) => handlers.onClose(event.code, event.reason);
  return {
    send: (data) => socket.send(data),
    close: () => socket.close(),
  };
};

/**
 * The browser cannot see why a WebSocket upgrade failed, so ask the page itself: the bridge
 * refuses (401/403) a page whose token is not the current one.
 */
export async function isPageTokenRefused(pageUrl: string): Promise<boolean> {
  const response = await fetch(pageUrl, { method: 'HEAD', cache: 'no-store', credentials: 'omit' });
  return response.status === 401 || response.status === 403;
}
