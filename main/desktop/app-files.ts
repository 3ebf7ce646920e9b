import { readFile } from 'node:fs/promises';
import { contentTypeFor, resolveStaticPath, securityHeaders } from '../bridge/static-files.js';
import { appHost, appScheme, desktopCsp } from './security.js';

export interface AppFileResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer | string;
}

/**
 * What `app://tidemark/<path>` answers: a file of the built renderer with a strict CSP, or
 * 403/404. Kept free of Electron so the guard is tested in plain Node.
 */
export async function appFileResponse(
  rendererDir: string,
  requestUrl: string,
  method = 'GET',
): Promise<AppFileResponse> {
  const text = (status: number, body: string): AppFileResponse => ({
    status,
    headers: { ...securityHeaders(desktopCsp), 'Content-Type': 'text/plain; charset=utf-8' },
    body,
  });
  let url: URL;
  try {
    url = new URL(requestUrl);
  } catch {
    return text(400, 'Bad request.');
  }
  if (url.protocol !== `${appScheme}:` || url.host !== appHost || method !== 'GET')
    return text(403, 'Forbidden.');
  const file = resolveStaticPath(rendererDir, url.pathname);
  if (!file) return text(404, 'Not found.');
  try {
    const body = await readFile(file);
    return {
      status: 200,
      headers: { ...securityHeaders(desktopCsp), 'Content-Type': contentTypeFor(file) },
      body,
    };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'EISDIR' || code === 'ENOTDIR')
      return text(404, 'Not found.');
    throw err;
  }
}
