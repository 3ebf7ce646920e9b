import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import {
  createServer,
  STATUS_CODES,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { Duplex } from 'node:stream';
import { join } from 'node:path';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Dispatch } from '../api/dispatcher.js';
import { TidemarkError } from '../engine/errors.js';
import type { Logger } from '../engine/log/logger.js';
import type { EngineEventSource } from './engine-events.js';
import {
  bridgeProtocol,
  createToken,
  isAllowedHost,
  ownOrigins,
  tokenFromRequest,
  tokensEqual,
} from './request-guards.js';
import { serveSocket } from './socket-session.js';
import {
  contentSecurityPolicy,
  contentTypeFor,
  resolveStaticPath,
  securityHeaders,
} from './static-files.js';

/** The bridge listens on loopback only: it is a local UI, never a network service. */
export const bridgeHost = '127.0.0.1';
export const apiPath = '/api';

export interface WebBridgeOptions {
  dispatch: Dispatch;
  events: EngineEventSource;
  /** the built renderer (out/renderer) */
  staticDir: string;
  /** 0 picks a free port */
  port?: number;
  logger?: Logger;
  /** largest WebSocket message accepted, in bytes */
  maxMessageBytes?: number;
}

export interface WebBridge {
  /** the page to open, with the token */
  readonly url: string;
  readonly token: string;
  readonly port: number;
  readonly server: Server;
  close(): Promise<void>;
}

const defaultMaxMessageBytes = 1024 * 1024;
/** a client this far behind on events is dropped; it reconnects and re-reads the jobs */
const maxBufferedBytes = 8 * 1024 * 1024;

/**
 * Serves the renderer and the API over HTTP + WebSocket on 127.0.0.1, so the same UI runs
 * in a plain browser. A per-run token guards the page and the socket; Host and Origin
 * checks keep other web pages (DNS rebinding, cross-site WebSockets) out.
 */
export async function startWebBridge(options: WebBridgeOptions): Promise<WebBridge> {
  if (!existsSync(join(options.staticDir, 'index.html'))) {
    throw new TidemarkError(
      'not_found',
      `The web UI is not built (${join(options.staticDir, 'index.html')} is missing); run "npm run build" first.`,
    );
  }
  const token = createToken();
  const server = createServer();
  const port = await listen(server, options.port ?? 0);
  const origins = ownOrigins(port);
  // 'self' lets a page whose token went stale ask its own URL why the socket was refused.
  const csp = contentSecurityPolicy(["'self'", ...origins.map((o) => o.replace(/^http:/, 'ws:'))]);
  const clients = new Set<WebSocket>();
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: options.maxMessageBytes ?? defaultMaxMessageBytes,
    handleProtocols: (offered) => (offered.has(bridgeProtocol) ? bridgeProtocol : false),
  });

  server.on('request', (req, res) => {
    serveStatic(req, res, { staticDir: options.staticDir, port, token, csp }).catch(
      (err: unknown) => {
        options.logger?.error({ err }, 'web bridge request failed');
        if (!res.headersSent)
          sendText(res, 500, 'Tidemark could not serve this file; the log has the details.', csp);
        else res.destroy();
      },
    );
  });

  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    const refusal = checkUpgrade(req, port, token, origins);
    if (refusal) {
      options.logger?.warn(
        { status: refusal.status, reason: refusal.reason },
        'web bridge refused a WebSocket',
      );
      refuseUpgrade(socket, refusal.status, refusal.reason);
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      clients.add(ws);
      ws.on('close', () => clients.delete(ws));
      serveSocket(ws, options.dispatch, options.logger);
    });
  });

  const unsubscribe = options.events.subscribe((event) => {
    const frame = JSON.stringify(event);
    for (const ws of clients) {
      if (ws.readyState !== ws.OPEN) continue;
      if (ws.bufferedAmount > maxBufferedBytes)
        ws.close(1013, 'Too far behind on events; reconnect.');
      else ws.send(frame);
    }
  });

  let closing: Promise<void> | null = null;
  return {
    url: `http://${bridgeHost}:${port}/?token=${token}`,
    token,
    port,
    server,
    close() {
      closing ??= (async () => {
        unsubscribe();
        for (const ws of clients) ws.close(1001, 'Tidemark is shutting down.');
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        wss.close();
        server.closeAllConnections();
        // Sockets that do not finish the closing handshake promptly are cut.
        setTimeout(() => clients.forEach((ws) => ws.terminate()), 1000).unref();
        await closed;
      })();
      return closing;
    },
  };
}

function listen(server: Server, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      reject(
        err.code === 'EADDRINUSE'
          ? new TidemarkError(
              'conflict',
              `Port ${port} on ${bridgeHost} is already in use; choose another with --port, or --port 0 for a free one.`,
            )
          : err.code === 'EACCES'
            ? new TidemarkError(
                'permission_denied',
                `Tidemark may not listen on port ${port}; choose a port above 1023 with --port.`,
              )
            : err,
      );
    };
    server.once('error', onError);
    server.listen(port, bridgeHost, () => {
      server.off('error', onError);
      const address = server.address();
      resolve(typeof address === 'object' && address ? address.port : port);
    });
  });
}

interface StaticContext {
  staticDir: string;
  port: number;
  token: string;
  csp: string;
}

async function serveStatic(
  req: IncomingMessage,
  res: ServerResponse,
  ctx: StaticContext,
): Promise<void> {
  if (!isAllowedHost(req.headers.host, ctx.port)) {
    sendText(
      res,
      403,
      `Tidemark answers only to http://${bridgeHost}:${ctx.port}; open the link that "tidemark web" printed.`,
      ctx.csp,
    );
    return;
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('Allow', 'GET, HEAD');
    sendText(res, 405, 'Only GET and HEAD are served here.', ctx.csp);
    return;
  }
  const url = new URL(req.url ?? '/', `http://${bridgeHost}:${ctx.port}`);
  const file = resolveStaticPath(ctx.staticDir, url.pathname);
  if (!file) {
    sendText(res, 404, 'Not found.', ctx.csp);
    return;
  }
  // The page needs the token; scripts, styles and images are public build output.
  const isPage = file === resolveStaticPath(ctx.staticDir, '/');
  if (isPage && !tokensEqual(url.searchParams.get('token'), ctx.token)) {
    sendText(
      res,
      403,
      'This page needs the access token: open the full link (with ?token=) that "tidemark web" printed.',
      ctx.csp,
    );
    return;
  }
  let body: Buffer;
  try {
    body = await readFile(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && url.pathname === '/favicon.ico') {
      // Browsers ask for it unprompted; "no icon" is an answer, not an error.
      res.writeHead(204, { ...securityHeaders(ctx.csp), 'Cache-Control': 'no-cache' });
      res.end();
      return;
    }
    if (code === 'ENOENT' || code === 'EISDIR' || code === 'ENOTDIR') {
      sendText(res, 404, 'Not found.', ctx.csp);
      return;
    }
    throw err;
  }
  res.writeHead(200, {
    ...securityHeaders(ctx.csp),
    'Content-Type': contentTypeFor(file),
    'Content-Length': body.length,
    'Cache-Control': isPage ? 'no-store' : 'no-cache',
  });
  res.end(req.method === 'HEAD' ? undefined : body);
}

function sendText(res: ServerResponse, status: number, message: string, csp: string): void {
  const body = `${message}\n`;
  res.writeHead(status, {
    ...securityHeaders(csp),
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
    'Cache-Control': 'no-store',
  });
  res.end(body);
}

function checkUpgrade(
  req: IncomingMessage,
  port: number,
  token: string,
  origins: string[],
): { status: number; reason: string } | null {
  const url = new URL(req.url ?? '/', `http://${bridgeHost}:${port}`);
  if (url.pathname !== apiPath) return { status: 404, reason: `The API is at ${apiPath}.` };
  if (!isAllowedHost(req.headers.host, port)) return { status: 403, reason: 'Wrong Host header.' };
  if (!tokensEqual(tokenFromRequest(req), token))
    return { status: 401, reason: 'Missing or wrong access token.' };
  if (!origins.includes(req.headers.origin ?? ''))
    return { status: 403, reason: 'Connections are accepted only from the Tidemark page itself.' };
  return null;
}

function refuseUpgrade(socket: Duplex, status: number, reason: string): void {
  const body = `${reason}\n`;
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}
