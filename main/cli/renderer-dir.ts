import { join } from 'node:path';

/**
 * The built renderer. The CLI bundle lives in out/cli, so the renderer is ../renderer;
 * `TIDEMARK_RENDERER_DIR` overrides it (tests, unusual installs).
 */
export function rendererDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.TIDEMARK_RENDERER_DIR) return env.TIDEMARK_RENDERER_DIR;
  const here = typeof __dirname === 'string' ? __dirname : join(process.cwd(), 'out', 'cli');
  return join(here, '..', 'renderer');
}
