import { z } from 'zod';

const id = z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'lower-case letters, digits and dashes');
const prefix = z
  .string()
  .regex(/^([A-Za-z0-9._-]+\/)*$/, 'empty, or path segments each ending in "/"')
  .default('');

/**
 * A zone is one place every object is written to. Secrets (S3 secret key, Azure account key
 * or SAS) are not here: they live in the secret store under `zone/<repository>/<zone>/...`.
 */
export const zoneConfigSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('folder'), id, name: z.string().min(1), path: z.string().min(1) }),
  z.object({
    kind: z.literal('s3'),
    id,
    name: z.string().min(1),
    /** omitted for AWS; set for MinIO, Ceph, s3rver… */
    endpoint: z.url().optional(),
    region: z.string().default('us-east-1'),
    bucket: z.string().min(3),
    prefix,
    forcePathStyle: z.boolean().default(false),
    accessKeyId: z.string().min(1),
  }),
  z.object({
    kind: z.literal('azure'),
    id,
    name: z.string().min(1),
    /** e.g. https://account.blob.core.windows.net or an Azurite URL with the account in the path */
    accountUrl: z.url(),
    accountName: z.string().min(1),
    container: z.string().min(3),
    prefix,
  }),
]);
export type ZoneConfig = z.infer<typeof zoneConfigSchema>;

export const repositoryConfigSchema = z.object({
  id,
  name: z.string().min(1),
  zones: z.array(zoneConfigSchema).min(1),
  /** an object counts as stored once this many zones have it */
  minZones: z.number().int().min(1).default(1),
  /** zone ids in the order reads try them; the rest follow in config order */
  readOrder: z.array(id).default([]),
  /** where the master key comes from: a passphrase (secret store) or a key file */
  key: z.discriminatedUnion('source', [
    z.object({ source: z.literal('passphrase') }),
    z.object({ source: z.literal('keyfile'), path: z.string().min(1) }),
  ]).default({ source: 'passphrase' }),
  retentionDays: z.number().int().min(1).max(3650).default(35),
});
export type RepositoryConfig = z.infer<typeof repositoryConfigSchema>;
