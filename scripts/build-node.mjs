// Builds the Node side (CLI, web bridge, desktop main process, preload) into out/.
// Dependencies stay external: they are installed beside the app, never bundled.
import { build } from 'esbuild';

const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  sourcemap: true,
  packages: 'external',
  logLevel: 'warning',
};

await Promise.all([
  build({ ...common, entryPoints: { cli: 'main/cli/index.ts' }, outdir: 'out/cli', outExtension: { '.js': '.cjs' } }),
  build({ ...common, entryPoints: { main: 'main/desktop/main.ts' }, outdir: 'out/desktop', outExtension: { '.js': '.cjs' }, external: ['electron'] }),
  // The sandboxed preload may require only 'electron': bundle everything else into it.
  build({ ...common, packages: undefined, minify: true, entryPoints: { preload: 'preload/index.ts' }, outdir: 'out/preload', outExtension: { '.js': '.cjs' }, external: ['electron'] }),
]);
