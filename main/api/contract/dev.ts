import { z } from 'zod';
import { jobSchema } from '../../engine/jobs/job-types.js';
import { method } from './define.js';

/**
 * Development-only methods: they prove the job plumbing (progress events, cancel) end to end
 * without a fake feature in the UI. The engine refuses them unless started with dev methods on.
 */
export const devMethods = {
  'dev.sleep': method(
    z
      .object({
        seconds: z.number().positive().max(600),
        /** how many progress reports to make; one per second by default */
        steps: z.number().int().min(1).max(600).optional(),
      })
      .strict(),
    jobSchema,
    'Development only: a job that waits, reporting progress, until done or cancelled.',
  ),
};
