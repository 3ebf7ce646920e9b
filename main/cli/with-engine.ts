import type { Engine } from '../engine/engine.js';
import { createHeadlessEngine } from './headless-engine.js';

/** Runs one CLI command on a headless engine and closes it afterwards, also on failure. */
export async function withEngine(run: (engine: Engine) => Promise<void>): Promise<void> {
  const engine = await createHeadlessEngine();
  try {
    await run(engine);
  } finally {
    await engine.close();
  }
}
