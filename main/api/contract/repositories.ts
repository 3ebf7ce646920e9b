import { z } from 'zod';
import { lockRecordSchema } from '../../engine/catalog/records.js';
import { jobSchema } from '../../engine/jobs/job-types.js';
import { repositoryConfigSchema } from '../../engine/repository/repository-config.js';
import { method } from './define.js';
import { errorInfoSchema } from './envelope.js';

const repositoryId = repositoryConfigSchema.shape.id;
const byId = z.object({ id: repositoryId }).strict();
const zoneKind = z.enum(['folder', 's3', 'azure']);

/** Zone credentials go to the secret store; they are never part of a configuration or an answer. */
const zoneSecrets = z
  .record(
    z.string(),
    z
      .object({
        secretAccessKey: z.string().min(1).optional(),
        accountKey: z.string().min(1).optional(),
        sasToken: z.string().min(1).optional(),
      })
      .strict(),
  )
  .optional();

const passphrase = z.string().min(8).max(1024);

const zoneHealthSchema = z.object({
  id: z.string(),
  name: z.string(),
  kind: zoneKind,
  reachable: z.boolean(),
  latencyMs: z.number().nullable(),
  error: z.string().optional(),
  degraded: z.boolean(),
  missedWrites: z.number().int(),
});

export const repositorySummarySchema = z.object({
  config: repositoryConfigSchema,
  /** needs-secret: no passphrase stored here; error: it could not be opened (see problem) */
  state: z.enum(['ok', 'degraded', 'unavailable', 'needs-secret', 'error']),
  lock: lockRecordSchema.nullable(),
  zones: z.array(zoneHealthSchema),
  problem: errorInfoSchema.nullable(),
});

export const repositoryStatusSchema = z.object({
  id: z.string(),
  name: z.string(),
  retentionDays: z.number().int(),
  minZones: z.number().int(),
  keySource: z.enum(['passphrase', 'keyfile']),
  lock: lockRecordSchema,
  zones: z.array(zoneHealthSchema),
  missedWrites: z.record(z.string(), z.number().int()),
  counts: z.object({
    clusters: z.number().int(),
    nodes: z.number().int(),
    backups: z.number().int(),
    walSegments: z.number().int(),
    restorePoints: z.number().int(),
  }),
  sizes: z.object({ backupBytes: z.number(), walBytes: z.number() }),
  oldestBackupAt: z.string().nullable(),
  newestBackupAt: z.string().nullable(),
});

export const retentionRunSchema = z.object({
  plan: z.object({
    now: z.string(),
    retentionDays: z.number().int(),
    windowStart: z.string(),
    deletions: z.array(
      z.object({
        key: z.string(),
        bytes: z.number(),
        kind: z.enum([
          'restore-point',
          'backup-record',
          'backup-part',
          'orphan-backup-part',
          'wal-segment',
          'wal-partial',
          'wal-history',
          'wal-gap',
        ]),
        clusterId: z.string(),
        nodeId: z.string().optional(),
        backupId: z.string().optional(),
        name: z.string().optional(),
      }),
    ),
    nodes: z.array(
      z.object({
        clusterId: z.string(),
        nodeId: z.string(),
        keptBackups: z.array(z.string()),
        deletedBackups: z.array(z.string()),
        walCutoff: z
          .object({ timeline: z.number().int(), lsn: z.string(), segment: z.string() })
          .nullable(),
      }),
    ),
    totals: z.object({ objects: z.number().int(), bytes: z.number() }),
  }),
  locked: z.boolean(),
  unreachableZones: z.array(z.string()),
});

export const repositoryMethods = {
  'repositories.list': method(
    z.object({}).strict(),
    z.array(repositorySummarySchema),
    'The configured repositories with their lock and zone health (no secrets).',
  ),
  'repositories.create': method(
    z
      .object({ config: repositoryConfigSchema, passphrase: passphrase.optional(), zoneSecrets })
      .strict(),
    repositoryConfigSchema,
    'Creates a repository in empty zones; the passphrase and zone credentials go to the secret store and are never returned.',
  ),
  'repositories.attach': method(
    z
      .object({
        config: repositoryConfigSchema,
        passphrase: passphrase.optional(),
        zoneSecrets,
        kit: z.string().max(8192).optional(),
      })
      .strict(),
    repositoryConfigSchema,
    'Adds an existing repository (a new machine); with a recovery kit, restores a lost or damaged keyring in the zones.',
  ),
  'repositories.status': method(
    byId,
    repositoryStatusSchema,
    'Zone health, missed writes, counts and sizes of one repository.',
  ),
  'repositories.verify': method(
    z.object({ id: repositoryId, sample: z.number().gt(0).max(1).optional() }).strict(),
    jobSchema,
    'Starts a verification job: every object (or a sample) authenticated per zone, WAL continuity, backups against their manifests.',
  ),
  'repositories.repair': method(
    byId,
    jobSchema,
    'Starts a job copying missing or damaged objects into each zone from a good one.',
  ),
  'repositories.prune': method(
    z.object({ id: repositoryId, dryRun: z.boolean() }).strict(),
    z.object({ run: retentionRunSchema.nullable(), job: jobSchema.nullable() }),
    'Applies the retention window: a dry run returns what would be deleted; otherwise starts the deletion job.',
  ),
  'repositories.setRetention': method(
    z.object({ id: repositoryId, days: z.number().int().min(1).max(3650) }).strict(),
    repositoryConfigSchema,
    'Changes the retention window; a locked repository refuses a shorter one.',
  ),
  'repositories.lock': method(
    z.object({ id: repositoryId, reason: z.string().max(500).default('') }).strict(),
    lockRecordSchema,
    'Locks the repository: no deletion and no shorter retention until unlocked.',
  ),
  'repositories.unlock': method(
    z.object({ id: repositoryId, reason: z.string().max(500).default('') }).strict(),
    lockRecordSchema,
    'Lifts the lock.',
  ),
  'repositories.rekey': method(
    z
      .object({
        id: repositoryId,
        oldPassphrase: z.string().min(1).max(1024),
        newPassphrase: passphrase,
      })
      .strict(),
    z.object({
      warnings: z.array(
        z.object({ kind: z.enum(['zones-missed', 'environment-overrides']), message: z.string() }),
      ),
    }),
    'Changes the passphrase (the master key is re-wrapped; no data is rewritten).',
  ),
  'repositories.exportKit': method(
    byId,
    z.object({ kit: z.string() }),
    'The recovery kit: no secret, but with the passphrase it opens the repository anywhere.',
  ),
  'repositories.forget': method(
    byId,
    z.object({ forgotten: z.literal(true) }),
    'Removes the repository from this app; its data stays in its zones.',
  ),
  'repositories.destroy': method(
    z.object({ id: repositoryId, confirm: z.string() }).strict(),
    jobSchema,
    'Starts deleting every object of an unlocked repository; the confirmation must be its id.',
  ),
};
