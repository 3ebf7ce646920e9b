import { z } from 'zod';
import { clusterConfigSchema } from '../cluster/cluster-config.js';
import { repositoryConfigSchema } from '../repository/repository-config.js';

/**
 * The persisted settings. Every field has a default so an old or empty file still parses;
 * domains (repositories, clusters) add their own sections here.
 */
export const settingsSchema = z.object({
  version: z.literal(1).default(1),
  desktop: z
    .object({
      /** keep schedules running in the tray when the window closes */
      runInBackground: z.boolean().default(true),
      startAtLogin: z.boolean().default(false),
      notifications: z.boolean().default(true),
    })
    .prefault({}),
  web: z
    .object({
      /** 0 picks a free port */
      port: z.number().int().min(0).max(65535).default(0),
    })
    .prefault({}),
  logging: z
    .object({
      level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).default('info'),
    })
    .prefault({}),
  repositories: z.array(repositoryConfigSchema).default([]),
  clusters: z.array(clusterConfigSchema).default([]),
});

export type Settings = z.infer<typeof settingsSchema>;
export type SettingsInput = z.input<typeof settingsSchema>;

/** A partial update, one level deep per section. */
export type SettingsPatch = { [K in keyof Settings]?: Settings[K] extends object ? Partial<Settings[K]> : Settings[K] };

export function defaultSettings(): Settings {
  return settingsSchema.parse({});
}
