// Runs the benchmarks: every bench/*.bench.ts, or the one named (`node scripts/bench.mjs repository [args…]`).
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

const [name, ...args] = process.argv.slice(2);
const all = readdirSync('bench')
  .filter((f) => f.endsWith('.bench.ts'))
  .sort();
const chosen = name ? all.filter((f) => f === `${name}.bench.ts`) : all;
if (chosen.length === 0) {
  console.error(
    `error: no benchmark ${name ? `"${name}" ` : ''}in bench/ (have: ${all.map((f) => f.replace('.bench.ts', '')).join(', ') || 'none'})`,
  );
  process.exit(1);
}
let failed = false;
for (const file of chosen) {
  console.log(`\n== ${file}`);
  const result = spawnSync(process.execPath, ['--import', 'tsx', join('bench', file), ...args], {
    stdio: 'inherit',
  });
  if (result.status !== 0) failed = true;
}
process.exit(failed ? 1 : 0);
