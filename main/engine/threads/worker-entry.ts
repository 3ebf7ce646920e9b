import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker, type WorkerOptions } from 'node:worker_threads';

/**
 * Starts a worker thread on the module `name` that sits beside `callerUrl` (the caller's
 * `import.meta.url`). In a build, every bundle gets its worker entries emitted beside it with
 * its own extension (scripts/build-node.mjs) and `import.meta.url` names the bundle; from the
 * sources (tsx, tests) the `.ts` module beside the caller is loaded through tsx's API, since a
 * worker does not inherit the loader hooks of its parent.
 * Returns null when the entry is missing, so a caller can fall back to its own thread.
 */
export function startWorker(name: string, callerUrl: string, options: Pick<WorkerOptions, 'workerData'> = {}): Worker | null {
  const extension = extname(fileURLToPath(callerUrl));
  const entry = new URL(`./${name}${extension}`, callerUrl);
  if (!existsSync(fileURLToPath(entry))) return null;
  if (extension !== '.ts') return new Worker(entry, options);
  const source = `import(${JSON.stringify(tsxEsmApi(callerUrl))}).then(({ tsImport }) => tsImport(${JSON.stringify(entry.href)}, ${JSON.stringify(callerUrl)}))`;
  return new Worker(source, { ...options, eval: true });
}

/** tsx's ESM API, resolved through its package exports (from a worker's eval code a bare specifier would resolve against the working directory). */
function tsxEsmApi(callerUrl: string): string {
  const manifestPath = createRequire(callerUrl).resolve('tsx/package.json');
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as { exports: Record<string, { import: { default: string } }> };
  return pathToFileURL(join(dirname(manifestPath), manifest.exports['./esm/api']!.import.default)).href;
}
