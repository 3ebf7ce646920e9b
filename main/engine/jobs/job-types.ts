import { z } from 'zod';

export const jobStates = ['queued', 'running', 'cancelling', 'succeeded', 'failed', 'cancelled', 'interrupted'] as const;
export type JobState = (typeof jobStates)[number];

/** Legal transitions. `interrupted` is what a job still running when the process died becomes. */
export const jobTransitions: Record<JobState, readonly JobState[]> = {
  queued: ['running', 'cancelled', 'interrupted'],
  running: ['cancelling', 'succeeded', 'failed', 'interrupted'],
  cancelling: ['cancelled', 'succeeded', 'failed', 'interrupted'],
  succeeded: [],
  failed: [],
  cancelled: [],
  interrupted: [],
};

export const terminalJobStates: readonly JobState[] = ['succeeded', 'failed', 'cancelled', 'interrupted'];

export const progressSchema = z.object({
  done: z.number(),
  total: z.number().nullable(),
  unit: z.enum(['bytes', 'items', 'seconds']),
  /** units per second, smoothed */
  rate: z.number().nullable(),
  /** seconds remaining, when total and rate are known */
  eta: z.number().nullable(),
});
export type Progress = z.infer<typeof progressSchema>;

export const jobPartSchema = z.object({
  phase: z.string(),
  progress: progressSchema.nullable(),
  state: z.enum(['pending', 'running', 'done', 'failed']),
  message: z.string().optional(),
});
export type JobPart = z.infer<typeof jobPartSchema>;

export const jobSchema = z.object({
  id: z.string(),
  kind: z.string(),
  title: z.string(),
  subject: z.string().optional(),
  state: z.enum(jobStates),
  phase: z.string(),
  progress: progressSchema.nullable(),
  /** per-node (or per-zone) progress of a job that works on several at once */
  parts: z.record(z.string(), jobPartSchema),
  createdAt: z.string(),
  startedAt: z.string().nullable(),
  endedAt: z.string().nullable(),
  error: z
    .object({ code: z.string(), message: z.string(), retryable: z.boolean() })
    .nullable(),
  result: z.unknown().optional(),
  /** increases with every change; a reconnecting UI ignores anything older than it has */
  seq: z.number().int(),
});
export type Job = z.infer<typeof jobSchema>;
