import { z } from 'zod';
import { clusterConfigSchema } from '../../engine/cluster/cluster-config.js';
import { lsnText, restorePointRecordSchema } from '../../engine/catalog/records.js';
import { backupSummarySchema } from './backups.js';
import { method } from './define.js';

const clusterId = clusterConfigSchema.shape.id;
const isoDate = z.iso.datetime({ offset: true });

export const timelinePointSchema = z.object({
  name: z.string(),
  label: z.string().nullable(),
  createdAt: z.string(),
  status: restorePointRecordSchema.shape.status,
  error: z.string().nullable(),
});

const walSpanSchema = z.object({
  fromLsn: lsnText,
  toLsn: lsnText,
  /** estimated wall-clock times; null when the node has nothing to estimate them from */
  from: z.string().nullable(),
  to: z.string().nullable(),
});

export const timelineViewSchema = z.object({
  clusterId: z.string(),
  generatedAt: z.string(),
  window: z.object({ retentionDays: z.number().int(), from: z.string(), to: z.string() }),
  range: z.object({ from: z.string(), to: z.string() }),
  extent: z.object({ from: z.string(), to: z.string() }).nullable(),
  nodes: z.array(
    z.object({
      nodeId: z.string(),
      role: z.enum(['coordinator', 'worker']),
      name: z.string(),
      port: z.number().int(),
      removedAt: z.string().nullable(),
      backupCount: z.number().int(),
      backups: z.array(backupSummarySchema),
      wal: z.object({
        segments: z.number().int(),
        firstLsn: lsnText.nullable(),
        lastLsn: lsnText.nullable(),
        coverage: z.array(walSpanSchema),
        gaps: z.array(
          walSpanSchema.extend({
            timeline: z.number().int(),
            source: z.enum(['recorded', 'detected']),
            reason: z.string(),
            affectsRestore: z.boolean(),
          }),
        ),
        missingHistories: z.array(z.number().int()),
      }),
    }),
  ),
  restorePoints: z.object({
    total: z.number().int(),
    restorable: z.number().int(),
    created: z.number().int(),
    failed: z.number().int(),
    buckets: z.array(
      z.object({
        from: z.string(),
        to: z.string(),
        restorable: z.number().int(),
        created: z.number().int(),
        failed: z.number().int(),
      }),
    ),
    /** every point of the range, or null when there are too many to send */
    points: z.array(timelinePointSchema).nullable(),
  }),
  failedPoints: z.array(timelinePointSchema),
  earliestRestorable: timelinePointSchema.nullable(),
  latestRestorable: timelinePointSchema.nullable(),
  timesEstimated: z.literal(true),
});

export const timelineMethods = {
  'timeline.get': method(
    z
      .object({
        clusterId,
        from: isoDate.optional(),
        to: isoDate.optional(),
        buckets: z.number().int().min(1).max(1000).optional(),
      })
      .strict(),
    timelineViewSchema,
    'The timeline of a cluster over a range (default: the retention window): backups and WAL per node, restore points as counts per bucket (and one by one when few), failed points, gaps.',
  ),
  'timeline.nearestPoint': method(
    z.object({ clusterId, at: isoDate }).strict(),
    z.object({
      at: z.string(),
      point: timelinePointSchema.nullable(),
      distanceSeconds: z.number().nullable(),
      earliest: timelinePointSchema.nullable(),
    }),
    'The latest restorable point at or before a time (what a restore to that time would use), and how far before it is.',
  ),
};
