import type { IncomingMessage } from 'node:http';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseBridgeRequest } from '../../main/bridge/bridge-protocol.js';
import {
  createToken,
  isAllowedHost,
  tokenFromRequest,
  tokensEqual,
} from '../../main/bridge/request-guards.js';
import {
  contentSecurityPolicy,
  contentTypeFor,
  resolveStaticPath,
} from '../../main/bridge/static-files.js';

const root = resolve('/srv/tidemark/renderer');

describe('resolveStaticPath', () => {
  it('maps URL paths to files under the root, / to index.html', () => {
    expect(resolveStaticPath(root, '/')).toBe(join(root, 'index.html'));
    expect(resolveStaticPath(root, '/index.html')).toBe(join(root, 'index.html'));
    expect(resolveStaticPath(root, '/assets/app-1a2b.js')).toBe(
      join(root, 'assets', 'app-1a2b.js'),
    );
    expect(resolveStaticPath(root, '/assets/a%20b.css')).toBe(join(root, 'assets', 'a b.css'));
  });

  it.each([
    ['/../secrets', 'a parent segment'],
    ['/assets/../../etc/passwd', 'a parent segment after a folder'],
    ['/%2e%2e/%2e%2e/etc/passwd', 'encoded dots'],
    ['/%2E%2E%2Fetc%2Fpasswd', 'encoded dots and slashes'],
    ['/..%5c..%5cwindows', 'encoded backslashes'],
    ['/assets\\..\\..\\x', 'raw backslashes'],
    ['/index.html%00.png', 'a NUL byte'],
    ['/%E0%A4%A', 'malformed percent-encoding'],
  ])('refuses %s (%s)', (path) => {
    expect(resolveStaticPath(root, path)).toBeNull();
  });

  it('never returns a path outside the root', () => {
    const tricky = ['//etc/passwd', '/./../x', '/assets/./../../x', '/....//x', '/.%2e/x'];
    for (const path of tricky) {
      const result = resolveStaticPath(root, path);
      if (result !== null) expect(result.startsWith(root + '/')).toBe(true);
    }
  });
});

describe('contentTypeFor and the CSP', () => {
  it('names the types the renderer ships, and never lets the browser sniff unknown ones', () => {
    expect(contentTypeFor('/x/index.html')).toBe('text/html; charset=utf-8');
    expect(contentTypeFor('/x/app.JS')).toBe('text/javascript; charset=utf-8');
    expect(contentTypeFor('/x/app.css')).toBe('text/css; charset=utf-8');
    expect(contentTypeFor('/x/logo.svg')).toBe('image/svg+xml');
    expect(contentTypeFor('/x/font.woff2')).toBe('font/woff2');
    expect(contentTypeFor('/x/archive.tar')).toBe('application/octet-stream');
  });

  it('allows only the listed sockets, and none when the list is empty', () => {
    const csp = contentSecurityPolicy(['ws://127.0.0.1:4000']);
    expect(csp).toContain('connect-src ws://127.0.0.1:4000');
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    expect(contentSecurityPolicy([])).toContain("connect-src 'none'");
  });
});

describe('request guards', () => {
  it('creates 32-byte base64url tokens that differ every time', () => {
    const a = createToken();
    expect(a).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(a, 'base64url')).toHaveLength(32);
    expect(createToken()).not.toBe(a);
  });

  it('compares tokens exactly', () => {
    const token = createToken();
    expect(tokensEqual(token, token)).toBe(true);
    expect(tokensEqual(`${token}x`, token)).toBe(false);
    expect(tokensEqual(token.slice(1), token)).toBe(false);
    expect(tokensEqual('', token)).toBe(false);
    expect(tokensEqual(null, token)).toBe(false);
  });

  it('accepts only its own Host (DNS-rebinding guard)', () => {
    expect(isAllowedHost('127.0.0.1:4000', 4000)).toBe(true);
    expect(isAllowedHost('localhost:4000', 4000)).toBe(true);
    expect(isAllowedHost('127.0.0.1:4001', 4000)).toBe(false);
    expect(isAllowedHost('evil.example:4000', 4000)).toBe(false);
    expect(isAllowedHost('127.0.0.1', 4000)).toBe(false);
    expect(isAllowedHost(undefined, 4000)).toBe(false);
  });

  it('finds the token in the query or in a sub-protocol', () => {
    const req = (url: string, protocol?: string) =>
      ({ url, headers: protocol ? { 'sec-websocket-protocol': protocol } : {} }) as IncomingMessage;
    expect(tokenFromRequest(req('/api?token=abc'))).toBe('abc');
    expect(tokenFromRequest(req('/api', 'tidemark, tidemark-token.xyz'))).toBe('xyz');
    expect(tokenFromRequest(req('/api', 'tidemark'))).toBeNull();
    expect(tokenFromRequest(req('/api'))).toBeNull();
  });
});

describe('parseBridgeRequest', () => {
  it('accepts {id, method, input}', () => {
    expect(parseBridgeRequest('{"id":"7","method":"jobs.list","input":{}}')).toEqual({
      ok: true,
      request: { id: '7', method: 'jobs.list', input: {} },
    });
    expect(parseBridgeRequest('{"id":3,"method":"jobs.list"}')).toMatchObject({
      ok: true,
      request: { id: 3 },
    });
  });

  it.each([
    ['not json', null],
    ['[1,2]', null],
    ['{"method":"jobs.list"}', null],
    ['{"id":{"x":1},"method":"jobs.list"}', null],
    ['{"id":5}', 5],
    ['{"id":"a","method":"jobs.list","extra":1}', 'a'],
  ])('answers %s with an invalid_input envelope (id %s)', (text, id) => {
    const parsed = parseBridgeRequest(text);
    expect(parsed).toMatchObject({
      ok: false,
      response: { id, result: { ok: false, error: { code: 'invalid_input' } } },
    });
  });
});
