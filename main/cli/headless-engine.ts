import { join } from 'node:path';
import { createEngine, type Engine } from '../engine/engine.js';
import { createLogger } from '../engine/log/logger.js';
import { defaultPaths } from '../engine/paths.js';
import { EnvFileSecretStore } from '../engine/secrets/env-file-secret-store.js';
import { JsonFileSettingsStore } from '../engine/settings/settings-store.js';
import { appVersion } from './app-version.js';

export interface HeadlessEngineOptions {
  env?: NodeJS.ProcessEnv;
  /** also write the JSON log to stdout (the agent) */
  logToStdout?: boolean;
}

/**
 * The engine for the CLI, the web UI and the agent: settings as JSON and secrets as 0600
 * files under the config folder (`TIDEMARK_HOME` moves everything), logs in the logs folder.
 */
export async function createHeadlessEngine(options: HeadlessEngineOptions = {}): Promise<Engine> {
  const env = options.env ?? process.env;
  const paths = defaultPaths(env);
  const settings = new JsonFileSettingsStore(join(paths.config, 'settings.json'));
  const { logging } = await settings.get();
  return createEngine({
    paths,
    settings,
    secrets: new EnvFileSecretStore(join(paths.config, 'secrets'), env),
    logger: createLogger({
      dir: paths.logs,
      level: logging.level,
      stdout: options.logToStdout ?? false,
    }),
    shell: 'web',
    version: appVersion,
    devMethods: env.TIDEMARK_DEV_METHODS === '1',
  });
}
