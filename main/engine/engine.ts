import { join } from 'node:path';
import { FileJobStore, type JobStore } from './jobs/job-store.js';
import { JobManager } from './jobs/job-manager.js';
import type { Logger } from './log/logger.js';
import type { AppPaths } from './paths.js';
import type { SecretStore } from './secrets/secret-store.js';
import type { SettingsStore } from './settings/settings-store.js';

/** What the shell around the engine (Electron, CLI, agent, tests) must provide. */
export interface EnginePorts {
  paths: AppPaths;
  settings: SettingsStore;
  secrets: SecretStore;
  logger: Logger;
  shell: 'desktop' | 'web';
  version: string;
  jobStore?: JobStore;
  /** enables development-only API methods (`dev.*`); never on in a packaged app */
  devMethods?: boolean;
}

/** The engine's services, wired once and shared by every transport. */
export interface Engine {
  readonly version: string;
  readonly shell: 'desktop' | 'web';
  readonly paths: AppPaths;
  readonly settings: SettingsStore;
  readonly secrets: SecretStore;
  readonly logger: Logger;
  readonly jobs: JobManager;
  readonly devMethods: boolean;
  close(): Promise<void>;
}

export async function createEngine(ports: EnginePorts): Promise<Engine> {
  const jobs = new JobManager({ store: ports.jobStore ?? new FileJobStore(join(ports.paths.data, 'jobs.json')) });
  await jobs.init();
  return {
    version: ports.version,
    shell: ports.shell,
    paths: ports.paths,
    settings: ports.settings,
    secrets: ports.secrets,
    logger: ports.logger,
    jobs,
    devMethods: ports.devMethods ?? false,
    async close() {
      await jobs.close();
    },
  };
}
