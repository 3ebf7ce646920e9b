import { setTimeout as sleep } from 'node:timers/promises';
import type { Engine } from '../../engine/engine.js';
import { TidemarkError } from '../../engine/errors.js';
import type { HandlerGroup } from './index.js';

export function devHandlers(engine: Engine): HandlerGroup<'dev.sleep'> {
  return {
    'dev.sleep': async ({ seconds, steps }) => {
      if (!engine.devMethods) {
        throw new TidemarkError(
          'unsupported',
          'dev.sleep is a development method; start Tidemark with TIDEMARK_DEV_METHODS=1 to use it.',
        );
      }
      const count = steps ?? Math.max(1, Math.ceil(seconds));
      const stepMs = (seconds * 1000) / count;
      return engine.jobs.start({ kind: 'dev.sleep', title: `Wait ${seconds} s` }, async (ctx) => {
        ctx.setPhase('waiting');
        ctx.progress(0, seconds, 'seconds');
        for (let step = 1; step <= count; step++) {
          // Rejects with an AbortError on cancel, which ends the job as cancelled.
          await sleep(stepMs, undefined, { signal: ctx.signal });
          ctx.progress((seconds * step) / count, seconds, 'seconds');
        }
      });
    },
  };
}
