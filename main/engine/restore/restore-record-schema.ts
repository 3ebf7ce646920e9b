import { z } from 'zod';

/** What Tidemark keeps of each restore: the plan's summary, the outcome and the checklist. */
export const restoreRecordSchema = z.object({
  id: z.string(),
  clusterId: z.string(),
  repositoryId: z.string(),
  point: z.object({ name: z.string(), createdAt: z.string(), label: z.string().nullable() }),
  provisioner: z.enum(['local', 'ssh']),
  jobId: z.string(),
  /** `interrupted`: the process running it stopped before it ended (nodes it created may remain) */
  state: z.enum(['running', 'succeeded', 'failed', 'cancelled', 'interrupted']),
  startedAt: z.string(),
  endedAt: z.string().nullable(),
  error: z.string().nullable(),
  connectionString: z.string().nullable(),
  nodes: z.array(z.object({ nodeId: z.string(), role: z.enum(['coordinator', 'worker']), host: z.string(), port: z.number(), dataDir: z.string() })),
  /** where each node is being created (a folder, or user@host:folder), known from the start */
  targets: z.array(z.object({ nodeId: z.string(), location: z.string() })).default([]),
  registeredClusterId: z.string().nullable(),
  checklist: z.array(z.object({ id: z.string(), title: z.string(), detail: z.string(), done: z.boolean() })),
});
export type RestoreRecord = z.infer<typeof restoreRecordSchema>;
