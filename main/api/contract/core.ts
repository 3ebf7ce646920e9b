import { z } from 'zod';
import { jobSchema } from '../../engine/jobs/job-types.js';
import { settingsSchema } from '../../engine/settings/settings-schema.js';
import { method } from './define.js';

export const appMethods = {
  'app.info': method(
    z.object({}).strict(),
    z.object({
      version: z.string(),
      /** 'desktop' inside Electron, 'web' through the local bridge */
      shell: z.enum(['desktop', 'web']),
      platform: z.string(),
      secrets: z.object({ backend: z.string(), writable: z.boolean(), problem: z.string().optional() }),
    }),
    'Version, shell and where secrets are kept.',
  ),
};

export const jobMethods = {
  'jobs.list': method(z.object({}).strict(), z.array(jobSchema), 'Running jobs and the history, newest first.'),
  'jobs.get': method(z.object({ id: z.string().min(1) }).strict(), jobSchema, 'One job.'),
  'jobs.cancel': method(z.object({ id: z.string().min(1) }).strict(), jobSchema, 'Asks a job to stop; it ends as cancelled.'),
};

export const settingsMethods = {
  'settings.get': method(z.object({}).strict(), settingsSchema, 'The current settings.'),
  'settings.update': method(
    z
      .object({
        desktop: settingsSchema.shape.desktop.unwrap().partial().optional(),
        web: settingsSchema.shape.web.unwrap().partial().optional(),
        logging: settingsSchema.shape.logging.unwrap().partial().optional(),
      })
      .strict(),
    settingsSchema,
    'Changes some settings and returns them all.',
  ),
};

const secretName = z.string().regex(/^[a-z0-9][a-z0-9._-]*(\/[a-z0-9._-]+)*$/i);

export const secretMethods = {
  /** the renderer may learn only whether a secret is set, never its value */
  'secrets.status': method(
    z.object({ names: z.array(secretName).max(100) }).strict(),
    z.record(z.string(), z.boolean()),
    'Which of the named secrets are set.',
  ),
  'secrets.set': method(
    z.object({ name: secretName, value: z.string().min(1).max(65536) }).strict(),
    z.object({ set: z.literal(true) }),
    'Stores a secret (write-only).',
  ),
  'secrets.delete': method(z.object({ name: secretName }).strict(), z.object({ deleted: z.literal(true) }), 'Forgets a secret.'),
};

export const jobEvents = {
  /** a job changed state, phase or progress; `seq` orders all events */
  'job.updated': jobSchema,
};
