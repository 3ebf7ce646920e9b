import { z } from 'zod';
import {
  clusterConfigSchema,
  coordinatorConnectionSchema,
  nodeAddressSchema,
  nodeKeyPattern,
} from '../../engine/cluster/cluster-config.js';
import { restorePointRecordSchema } from '../../engine/catalog/records.js';
import { method } from './define.js';

const clusterId = clusterConfigSchema.shape.id;
const repositoryId = clusterConfigSchema.shape.repositoryId;

export const preflightCheckSchema = z.object({
  id: z.string(),
  node: z.string(),
  status: z.enum(['ok', 'warn', 'fail']),
  message: z.string(),
  /** the exact SQL or configuration change that fixes it; empty when ok */
  fix: z.string(),
});

/** A cluster as the UI sees it: its settings (which hold no secret) and whether a password is stored. */
export const clusterSummarySchema = z.object({
  config: clusterConfigSchema,
  passwordSet: z.boolean(),
});

export const nodeSummarySchema = z.object({
  nodeId: z.string(),
  role: z.enum(['coordinator', 'worker']),
  name: z.string(),
  port: z.number().int(),
  groupId: z.number().int(),
});

export const topologyRefreshSchema = z.object({
  clusterId: z.string(),
  at: z.string(),
  added: z.array(nodeSummarySchema),
  removed: z.array(nodeSummarySchema),
  moved: z.array(
    z.object({
      nodeId: z.string(),
      fields: z.array(z.enum(['name', 'port', 'groupId'])),
      before: nodeSummarySchema,
      after: nodeSummarySchema,
    }),
  ),
  unreachable: z.array(z.object({ nodeId: z.string(), message: z.string() })),
  warnings: z.array(z.string()),
});

const isoDate = z.iso.datetime({ offset: true });

export const clusterMethods = {
  'clusters.list': method(
    z.object({}).strict(),
    z.array(clusterSummarySchema),
    'The clusters Tidemark backs up.',
  ),
  'clusters.add': method(
    z
      .object({
        id: clusterId.optional(),
        name: z.string().min(1).max(200),
        coordinator: coordinatorConnectionSchema,
        /** write-only: kept in the secret store, never returned */
        password: z.string().min(1).max(4096).optional(),
        /** write-only: passphrase of an encrypted client key */
        keyPassphrase: z.string().min(1).max(4096).optional(),
        nodeOverrides: z
          .record(
            z.string().regex(nodeKeyPattern, 'nodename:nodeport as in pg_dist_node'),
            nodeAddressSchema,
          )
          .optional(),
        repositoryId,
        /** add even though a check failed */
        force: z.boolean().optional(),
      })
      .strict(),
    z.object({
      cluster: clusterSummarySchema,
      nodes: z.array(nodeSummarySchema),
      checks: z.array(preflightCheckSchema),
      citusVersion: z.string(),
      serverVersion: z.string(),
    }),
    'Tests the connection, discovers the nodes, checks them and adds the cluster (refused with preflight_failed, details.checks, when a check fails).',
  ),
  'clusters.check': method(
    z.object({ id: clusterId }).strict(),
    z.object({
      clusterId: z.string(),
      checkedAt: z.string(),
      passed: z.boolean(),
      checks: z.array(preflightCheckSchema),
    }),
    'Runs every check on every node; each failure comes with its fix.',
  ),
  'clusters.remove': method(
    z.object({ id: clusterId }).strict(),
    z.object({
      clusterId: z.string(),
      repositoryId: z.string(),
      zones: z.array(z.string()),
      message: z.string(),
    }),
    'Forgets a cluster and its password; its backups stay in the repository.',
  ),
  'clusters.refresh': method(
    z.object({ id: clusterId }).strict(),
    topologyRefreshSchema,
    'Rediscovers the nodes: new ones are recorded (and backed up), removed ones marked removed.',
  ),
  'clusters.setNodeAddress': method(
    z
      .object({
        id: clusterId,
        /** the node as pg_dist_node names it */
        node: z
          .object({ name: z.string().min(1), port: z.number().int().min(1).max(65535) })
          .strict(),
        /** where this workstation reaches it; null removes the override */
        address: nodeAddressSchema.nullable(),
      })
      .strict(),
    clusterSummarySchema,
    'Sets or clears the address Tidemark uses for one node.',
  ),
  'restorePoints.create': method(
    z.object({ clusterId, label: z.string().trim().min(1).max(200).optional() }).strict(),
    restorePointRecordSchema,
    'Creates a consistent restore point on every node now (a failure is recorded as a failed point and returned as an error).',
  ),
  'restorePoints.list': method(
    z
      .object({
        clusterId,
        from: isoDate.optional(),
        to: isoDate.optional(),
        status: restorePointRecordSchema.shape.status.optional(),
        limit: z.number().int().min(1).max(100_000).optional(),
      })
      .strict(),
    z.object({
      /** in time order, `from`/`to` inclusive, at most `limit` */
      points: z.array(restorePointRecordSchema),
      /** every point in the range, whatever the status and limit */
      total: z.number().int(),
    }),
    'Restore points of a cluster in a time range.',
  ),
};

export const clusterEvents = {
  /** nodes were added, removed or moved in pg_dist_node */
  'cluster.topologyChanged': topologyRefreshSchema,
  /** a restore point attempt was recorded: status created, or failed with its error */
  'restorePoint.created': restorePointRecordSchema,
};
