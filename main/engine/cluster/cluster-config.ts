import { z } from 'zod';
import { sslModes } from '../net/ssl-modes.js';

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

const defaultSchedules = { baseBackupCron: '0 3 * * *', restorePointMinutes: 15 };

/** Placeholder for the scheduler: when base backups and restore points are taken. */
export const clusterSchedulesSchema = z
  .object({
    /** cron expression (workstation time zone) for the daily base backups */
    baseBackupCron: z.string().min(1).default(defaultSchedules.baseBackupCron),
    /** minutes between scheduled `citus_create_restore_point` calls */
    restorePointMinutes: z
      .number()
      .int()
      .min(1)
      .max(1440)
      .default(defaultSchedules.restorePointMinutes),
  })
  .strict()
  .default(defaultSchedules);

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
