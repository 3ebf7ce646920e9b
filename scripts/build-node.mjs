// Builds the Node side (CLI, web bridge, desktop main process, preload) into out/.
// Dependencies stay external: they are installed beside the app, never bundled.
import { build } from 'esbuild';
import { workerEntries } from './worker-entries.mjs';

const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  sourcemap: true,
  packages: 'external',
  logLevel: 'warning',
  // CommonJS has no import.meta: the engine's modules get the bundle's own URL instead, which
  // is where the worker entries below are emitted (main/engine/threads/worker-entry.ts).
  banner: { js: "const __bundleUrl = require('node:url').pathToFileURL(__filename).href;" },
  define: { 'import.meta.url': '__bundleUrl' },
};

await Promise.all([
  build({ ...common, entryPoints: { cli: 'main/cli/index.ts', ...workerEntries }, outdir: 'out/cli', outExtension: { '.js': '.cjs' } }),
  build({ ...common, entryPoints: { main: 'main/desktop/main.ts', ...workerEntries }, outdir: 'out/desktop', outExtension: { '.js': '.cjs' }, external: ['electron'] }),
  // The sandboxed preload may require only 'electron': bundle everything else into it.
  build({ ...common, packages: undefined, minify: true, entryPoints: { preload: 'preload/index.ts' }, outdir: 'out/preload', outExtension: { '.js': '.cjs' }, external: ['electron'] }),
]);
