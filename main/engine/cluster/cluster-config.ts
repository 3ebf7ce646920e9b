import { z } from 'zod';
import { sslModes } from '../net/ssl-modes.js';
import { cronProblem, schedulesSchema } from '../schedule/schedule-config.js';

const id = z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'lower-case letters, digits and dashes');
const host = z
  .string()
  .min(1)
  .max(255)
  .regex(/^[^\s/]+$/, 'a host name or IP address');
const port = z.number().int().min(1).max(65535);

/** `nodename:nodeport` as pg_dist_node spells the node (IPv6 names keep their colons). */
export const nodeKeyPattern = /^.+:\d{1,5}$/;

export function nodeKey(nodeName: string, nodePort: number): string {
  return `${nodeName}:${nodePort}`;
}

export const nodeAddressSchema = z.object({ host, port }).strict();
export type NodeAddress = z.infer<typeof nodeAddressSchema>;

export const coordinatorConnectionSchema = z
  .object({
    host,
    port: port.default(5432),
    database: z.string().min(1).max(63).default('postgres'),
    user: z.string().min(1).max(63),
    sslmode: z.enum(sslModes).default('prefer'),
    caFile: z.string().min(1).optional(),
    certFile: z.string().min(1).optional(),
    keyFile: z.string().min(1).optional(),
  })
  .strict()
  .refine((c) => (c.certFile === undefined) === (c.keyFile === undefined), {
    message: 'a client certificate needs its key, and a key its certificate',
    path: ['keyFile'],
  });
export type CoordinatorConnection = z.infer<typeof coordinatorConnectionSchema>;

/**
 * The first settings files held a placeholder `{baseBackupCron, restorePointMinutes}`; it is
 * read as the real schedules. The placeholder wrote its own defaults (03:00, 15 minutes)
 * into every cluster, so those values were never chosen by anyone and become today's
 * defaults; other values are kept. A cron croner cannot read falls back to the default.
 */
export function migrateLegacySchedules(value: unknown): unknown {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return value;
  const keys = Object.keys(value);
  if (!keys.some((k) => k === 'baseBackupCron' || k === 'restorePointMinutes')) return value;
  if (!keys.every((k) => k === 'baseBackupCron' || k === 'restorePointMinutes')) return value;
  const { baseBackupCron, restorePointMinutes } = value as { baseBackupCron?: unknown; restorePointMinutes?: unknown };
  const migrated: { baseBackup?: { cron: string }; restorePoints?: { intervalMinutes: unknown } } = {};
  if (typeof baseBackupCron === 'string' && baseBackupCron.trim() !== legacyPlaceholder.baseBackupCron && cronProblem(baseBackupCron.trim()) === null) {
    migrated.baseBackup = { cron: baseBackupCron.trim() };
  }
  if (restorePointMinutes !== undefined && restorePointMinutes !== legacyPlaceholder.restorePointMinutes) {
    migrated.restorePoints = { intervalMinutes: restorePointMinutes };
  }
  return migrated;
}

const legacyPlaceholder = { baseBackupCron: '0 3 * * *', restorePointMinutes: 15 };

/** A cluster's schedules (`schedule-config.ts`), reading the placeholder of old settings files too. */
export const clusterSchedulesSchema = z.preprocess(migrateLegacySchedules, schedulesSchema);

/**
 * A Citus cluster Tidemark backs up. The password (and a client key's passphrase) are not
 * here: they live in the secret store under `clusterSecretName(id, ...)`. Every node is
 * reached with the coordinator's user, database and TLS settings; `nodeOverrides` maps a
 * node as pg_dist_node names it (`nodename:nodeport`) to the address this workstation
 * must use instead.
 */
export const clusterConfigSchema = z
  .object({
    id,
    name: z.string().min(1).max(200),
    coordinator: coordinatorConnectionSchema,
    nodeOverrides: z
      .record(
        z.string().regex(nodeKeyPattern, 'nodename:nodeport as in pg_dist_node'),
        nodeAddressSchema,
      )
      .default({}),
    repositoryId: id,
    schedules: clusterSchedulesSchema,
  })
  .strict();
export type ClusterConfig = z.infer<typeof clusterConfigSchema>;

export type ClusterSecret = 'password' | 'key-passphrase';

export function clusterSecretName(clusterId: string, secret: ClusterSecret): string {
  return `cluster/${clusterId}/${secret}`;
}
