import { z } from 'zod';
import { clusterConfigSchema } from '../../engine/cluster/cluster-config.js';
import { lsnText, walGapRecordSchema } from '../../engine/catalog/records.js';
import { jobSchema } from '../../engine/jobs/job-types.js';
import { backupCompressions } from '../../engine/replication/base-backup-command.js';
import { method } from './define.js';
import { errorInfoSchema } from './envelope.js';

const clusterId = clusterConfigSchema.shape.id;
const byCluster = z.object({ clusterId }).strict();

/** One node's WAL stream (see WalStatus in engine/backup/wal-archiver.ts). */
export const walStatusSchema = z.object({
  clusterId: z.string(),
  nodeId: z.string(),
  node: z.string(),
  slot: z.string(),
  state: z.enum(['starting', 'streaming', 'reconnecting', 'stopped', 'failed']),
  timeline: z.number().int().nullable(),
  receivedLsn: lsnText.nullable(),
  /** reported to the server as flushed: everything before it is in the repository */
  storedLsn: lsnText.nullable(),
  /** received but not yet stored */
  lagBytes: z.number(),
  lastStoredAt: z.string().nullable(),
  /** WAL the server keeps for the slot, at the last check */
  backlogBytes: z.number().nullable(),
  lastError: errorInfoSchema.nullable(),
});

/** One node's WAL archiving seen from its server, the repository and this process (WalNodeOverview). */
export const walNodeOverviewSchema = z.object({
  clusterId: z.string(),
  nodeId: z.string(),
  node: z.string(),
  slot: z.string(),
  /** this process's stream of the node, if it runs one */
  stream: walStatusSchema.nullable(),
  /** the slot as the server sees it, whichever process streams from it */
  slotOnServer: z
    .object({
      exists: z.boolean(),
      active: z.boolean(),
      holder: z
        .object({
          pid: z.number().int(),
          clientAddress: z.string().nullable(),
          applicationName: z.string().nullable(),
        })
        .nullable(),
      restartLsn: lsnText.nullable(),
      backlogBytes: z.number().nullable(),
      walStatus: z.string().nullable(),
    })
    .nullable(),
  serverLsn: lsnText.nullable(),
  /** the end of the WAL stored in the repository */
  archived: z.object({ timeline: z.number().int(), storedEnd: lsnText }).nullable(),
  /** the node could not be asked */
  error: errorInfoSchema.nullable(),
});

export const backupSummarySchema = z.object({
  backupId: z.string(),
  startedAt: z.string(),
  endedAt: z.string(),
  startLsn: lsnText,
  endLsn: lsnText,
  timeline: z.number().int(),
  compression: z.enum(backupCompressions),
  storedBytes: z.number(),
  dataBytes: z.number(),
  serverVersion: z.string(),
  degradedZones: z.array(z.string()),
});

export const nodeBackupsSchema = z.object({
  nodeId: z.string(),
  role: z.enum(['coordinator', 'worker']),
  name: z.string(),
  port: z.number().int(),
  removedAt: z.string().nullable(),
  backups: z.array(backupSummarySchema),
});

export const backupMethods = {
  'backups.start': method(
    z
      .object({
        clusterId,
        compression: z.enum(backupCompressions).optional(),
        maxRateKbPerSec: z.number().int().min(32).max(1_048_576).optional(),
      })
      .strict(),
    jobSchema,
    'Backs up every active node of the cluster in one job (a part per node); starts their WAL streams.',
  ),
  'backups.list': method(byCluster, z.array(nodeBackupsSchema), "Every node's completed base backups, oldest first."),
  'wal.status': method(byCluster, z.array(walStatusSchema), "The cluster's WAL streams in this process."),
  'wal.overview': method(
    byCluster,
    z.array(walNodeOverviewSchema),
    "Each node's WAL archiving as its server sees it (the slot, whoever streams from it), with where the repository's WAL ends: right even when another process (the agent) streams.",
  ),
  'wal.start': method(byCluster, z.array(walStatusSchema), 'Starts streaming the WAL of every node of the cluster.'),
  'wal.stop': method(byCluster, z.array(walStatusSchema), "Stops the cluster's WAL streams gracefully (the slots keep the WAL)."),
};

export const backupEvents = {
  /** WAL the server removed before it was archived: a hole restores cannot cross */
  'wal.gap': z.object({ clusterId: z.string(), nodeId: z.string(), gap: walGapRecordSchema, message: z.string() }),
  /** a slot retains more WAL than the threshold: pg_wal may fill */
  'wal.backlog': z.object({
    clusterId: z.string(),
    nodeId: z.string(),
    slot: z.string(),
    backlogBytes: z.number(),
    thresholdBytes: z.number(),
    message: z.string(),
  }),
  /** a node's stream changed state */
  'wal.status': walStatusSchema,
  'backup.completed': z.object({
    clusterId: z.string(),
    nodeId: z.string(),
    backupId: z.string(),
    endLsn: lsnText,
    degradedZones: z.array(z.string()),
  }),
};
