import { join } from 'node:path';
import { createEngine, type Engine } from '../engine/engine.js';
import { createLogger } from '../engine/log/logger.js';
import { defaultPaths, type AppPaths } from '../engine/paths.js';
import { EnvFileSecretStore } from '../engine/secrets/env-file-secret-store.js';
import type { Settings } from '../engine/settings/settings-schema.js';
import { JsonFileSettingsStore, type SettingsStore } from '../engine/settings/settings-store.js';
import { appVersion } from './app-version.js';

export interface HeadlessEngineOptions {
  env?: NodeJS.ProcessEnv;
  /** also write the JSON log to stdout (the agent) */
  logToStdout?: boolean;
  /** the folders (default: from the environment, see `defaultPaths`) */
  paths?: AppPaths;
  /** the log level (default: the settings' `logging.level`) */
  logLevel?: Settings['logging']['level'];
  /** the folder of the 0600 secret files (default: `<config>/secrets`) */
  secretsDir?: string;
  /** the settings (default: `<config>/settings.json`) */
  settings?: SettingsStore;
}

/**
 * The engine for the CLI, the web UI and the agent: settings as JSON and secrets as 0600
 * files under the config folder (`TIDEMARK_HOME` moves everything), logs in the logs folder.
 */
export async function createHeadlessEngine(options: HeadlessEngineOptions = {}): Promise<Engine> {
  const env = options.env ?? process.env;
  const paths = options.paths ?? defaultPaths(env);
  const settings = options.settings ?? new JsonFileSettingsStore(join(paths.config, 'settings.json'));
  const level = options.logLevel ?? (await settings.get()).logging.level;
  return createEngine({
    paths,
    settings,
    secrets: new EnvFileSecretStore(options.secretsDir ?? join(paths.config, 'secrets'), env),
    logger: createLogger({
      dir: paths.logs,
      level,
      stdout: options.logToStdout ?? false,
    }),
    shell: 'web',
    version: appVersion,
    devMethods: env.TIDEMARK_DEV_METHODS === '1',
  });
}
