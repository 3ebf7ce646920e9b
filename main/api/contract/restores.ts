import { z } from 'zod';
import { jobSchema } from '../../engine/jobs/job-types.js';
import { restoreRecordSchema } from '../../engine/restore/restore-record-schema.js';
import { method } from './define.js';

const clusterId = z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/);

export const restoreTargetSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('latest') }).strict(),
  z.object({ kind: z.literal('earliest') }).strict(),
  z.object({ kind: z.literal('time'), at: z.iso.datetime({ offset: true }) }).strict(),
  z.object({ kind: z.literal('point'), name: z.string().min(1).max(63) }).strict(),
]);

const nodePlanSchema = z.object({
  nodeId: z.string(),
  role: z.enum(['coordinator', 'worker']),
  sourceName: z.string(),
  sourcePort: z.number(),
  backupId: z.string(),
  backupStartedAt: z.string(),
  targetLsn: z.string(),
  timeline: z.number(),
  walFiles: z.number().int(),
  backupBytes: z.number(),
  walBytes: z.number(),
});

export const restorePlanSchema = z.object({
  clusterId: z.string(),
  repositoryId: z.string(),
  point: z.object({ name: z.string(), label: z.string().nullable(), createdAt: z.string(), coordinatorLsn: z.string().nullable() }),
  distanceSeconds: z.number(),
  nodes: z.array(nodePlanSchema),
  totalBytes: z.number(),
  estimatedSeconds: z.number(),
  warnings: z.array(z.string()),
  plannedAt: z.string(),
});

const sshHost = z
  .object({
    host: z.string().min(1),
    port: z.number().int().min(1).max(65535).default(22),
    user: z.string().min(1),
    privateKeyPath: z.string().min(1).optional(),
    agent: z.boolean().optional(),
    hostKeySha256: z.string().min(1),
    binDir: z.string().optional(),
    baseDir: z.string().min(1),
    nodes: z.array(z.string().min(1)).min(1),
  })
  .strict();

export const provisionerChoiceSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('local'), dir: z.string().min(1), binDir: z.string().min(1).optional() }).strict(),
  z.object({ kind: z.literal('ssh'), hosts: z.array(sshHost).min(1) }).strict(),
]);

export const restoreMethods = {
  'restores.plan': method(
    z.object({ clusterId, target: restoreTargetSchema }).strict(),
    restorePlanSchema,
    'What a restore to a target would do: the point, per node the backup and WAL, warnings; or the reason it cannot.',
  ),
  'restores.start': method(
    z
      .object({
        clusterId,
        target: restoreTargetSchema,
        provisioner: provisionerChoiceSchema,
        clientCidrs: z.array(z.string().regex(/^[0-9a-fA-F:.]+\/\d{1,3}$/)).max(50).optional(),
        fullVerify: z.boolean().optional(),
        keepFailedNodes: z.boolean().optional(),
        register: z.object({ name: z.string().min(1).max(200), repositoryId: clusterId }).strict().optional(),
      })
      .strict(),
    z.object({ job: jobSchema, plan: restorePlanSchema }),
    'Starts a restore into a new cluster; answers the job.',
  ),
  'restores.list': method(z.object({}).strict(), z.array(restoreRecordSchema), 'Past and running restores with their checklists.'),
  'restores.setChecklistItem': method(
    z.object({ restoreId: z.string().min(1), itemId: z.string().min(1), done: z.boolean() }).strict(),
    restoreRecordSchema,
    'Ticks a post-restore checklist item.',
  ),
};
