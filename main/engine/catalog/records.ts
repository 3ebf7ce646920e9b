import { z } from 'zod';

/** An LSN as PostgreSQL prints it, e.g. `16/B374D848`. */
export const lsnText = z.string().regex(/^[0-9A-F]{1,8}\/[0-9A-F]{1,8}$/i, 'an LSN such as 16/B374D848');
const isoTime = z.iso.datetime();

export const repositoryMarkerSchema = z.object({
  format: z.literal('tidemark-repository'),
  version: z.literal(1),
  repositoryId: z.string(),
  createdAt: isoTime,
});
export type RepositoryMarker = z.infer<typeof repositoryMarkerSchema>;

export const lockRecordSchema = z.object({
  locked: z.boolean(),
  changedAt: isoTime,
  changedBy: z.string(),
  reason: z.string().default(''),
});
export type LockRecord = z.infer<typeof lockRecordSchema>;

export const clusterRecordSchema = z.object({
  clusterId: z.string(),
  name: z.string(),
  createdAt: isoTime,
  coordinator: z.object({ host: z.string(), port: z.number().int(), database: z.string() }),
  citusVersion: z.string().nullable(),
});
export type ClusterRecord = z.infer<typeof clusterRecordSchema>;

export const nodeRecordSchema = z.object({
  clusterId: z.string(),
  /** Tidemark's stable id for the node (derived from pg_dist_node's nodeid) */
  nodeId: z.string(),
  distNodeId: z.number().int().nullable(),
  groupId: z.number().int(),
  role: z.enum(['coordinator', 'worker']),
  name: z.string(),
  port: z.number().int(),
  systemIdentifier: z.string(),
  serverVersionNum: z.number().int(),
  walSegmentSize: z.number().int(),
  firstSeenAt: isoTime,
  removedAt: isoTime.nullable().default(null),
});
export type NodeRecord = z.infer<typeof nodeRecordSchema>;

/**
 * Recovery refuses to start when these are lower than on the primary, whatever set them
 * (Citus raises max_prepared_transactions with source `override`): captured always, restored
 * at no less than the source's values.
 */
export const hotStandbyCriticalParameters = [
  'max_connections',
  'max_prepared_transactions',
  'max_worker_processes',
  'max_wal_senders',
  'max_locks_per_transaction',
] as const;

export const serverParameterSchema = z.object({ value: z.string(), source: z.string() });

/** What restore needs and a physical backup lacks. */
export const serverConfigSchema = z.object({
  serverVersion: z.string(),
  serverVersionNum: z.number().int(),
  systemIdentifier: z.string(),
  /** every parameter whose source is not `default`, plus the hot-standby-critical ones */
  parameters: z.record(z.string(), serverParameterSchema),
  extensions: z.array(z.object({ database: z.string(), name: z.string(), version: z.string() })),
  sharedPreloadLibraries: z.array(z.string()),
  dataChecksums: z.boolean(),
  /** the role with oid 10: restore connects as it over a local socket (peer auth) */
  bootstrapSuperuser: z.string(),
});
export type ServerConfig = z.infer<typeof serverConfigSchema>;

export const backupArchiveSchema = z.object({
  /** as PostgreSQL names it: `base.tar.lz4`, `16385.tar` … */
  name: z.string(),
  /** null for the main data directory */
  tablespaceOid: z.number().int().nullable(),
  tablespacePath: z.string().nullable(),
  /** bytes as received (compressed, before encryption) */
  bytes: z.number().int(),
});

export const baseBackupRecordSchema = z.object({
  backupId: z.string(),
  clusterId: z.string(),
  nodeId: z.string(),
  label: z.string(),
  startLsn: lsnText,
  endLsn: lsnText,
  timeline: z.number().int(),
  endTimeline: z.number().int(),
  startedAt: isoTime,
  endedAt: isoTime,
  compression: z.enum(['none', 'lz4', 'zstd', 'gzip']),
  archives: z.array(backupArchiveSchema),
  manifestBytes: z.number().int(),
  /** uncompressed size as reported by the server's progress */
  dataBytes: z.number().int(),
  serverConfig: serverConfigSchema,
  /** zones that did not receive every object of this backup when it was taken */
  degradedZones: z.array(z.string()).default([]),
});
export type BaseBackupRecord = z.infer<typeof baseBackupRecordSchema>;

export const walGapRecordSchema = z.object({
  clusterId: z.string(),
  nodeId: z.string(),
  timeline: z.number().int(),
  fromLsn: lsnText,
  toLsn: lsnText,
  detectedAt: isoTime,
  reason: z.string(),
});
export type WalGapRecord = z.infer<typeof walGapRecordSchema>;

/** A gap record's identity within its node: timeline and starting LSN. */
export function gapKey(gap: Pick<WalGapRecord, 'timeline' | 'fromLsn'>): string {
  return `${gap.timeline}:${gap.fromLsn}`;
}

export const restorePointRecordSchema = z.object({
  clusterId: z.string(),
  name: z.string().max(63),
  label: z.string().nullable(),
  createdAt: isoTime,
  status: z.enum(['created', 'restorable', 'failed']),
  /** what citus_create_restore_point returned */
  coordinatorLsn: lsnText.nullable(),
  /** per node: an LSN at or after the point (pg_current_wal_lsn() right after the call) */
  nodeLsns: z.record(z.string(), lsnText),
  /** per node: the timeline it was on */
  nodeTimelines: z.record(z.string(), z.number().int()).default({}),
  error: z.string().nullable().default(null),
});
export type RestorePointRecord = z.infer<typeof restorePointRecordSchema>;
