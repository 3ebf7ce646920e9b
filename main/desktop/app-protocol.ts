import { protocol } from 'electron';
import { appFileResponse } from './app-files.js';
import { appScheme } from './security.js';

/**
 * Must run before `app.ready`: makes `app://` a standard, secure origin like https. Module
 * scripts are always fetched in CORS mode, hence corsEnabled; responses carry no
 * Access-Control-Allow-Origin, so other origins still cannot read them.
 */
export function registerAppScheme(): void {
  protocol.registerSchemesAsPrivileged([
    {
      scheme: appScheme,
      privileges: {
        standard: true,
        secure: true,
        supportFetchAPI: true,
        corsEnabled: true,
        codeCache: true,
      },
    },
  ]);
}

/** Serves the built renderer under `app://tidemark/`. */
export function serveAppProtocol(rendererDir: string): void {
  protocol.handle(appScheme, async (request) => {
    const response = await appFileResponse(rendererDir, request.url, request.method);
    return new Response(new Uint8Array(Buffer.from(response.body)), {
      status: response.status,
      headers: response.headers,
    });
  });
}
