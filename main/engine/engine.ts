import { join } from 'node:path';
import { BackupService } from './backup/backup-service.js';
import { ClusterManager } from './cluster/cluster-manager.js';
import { FileJobStore, type JobStore } from './jobs/job-store.js';
import { JobManager } from './jobs/job-manager.js';
import type { Logger } from './log/logger.js';
import { RepositoryManager } from './repository/repository-manager.js';
import { RestoreService } from './restore/restore-service.js';
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
  readonly repositories: RepositoryManager;
  readonly clusters: ClusterManager;
  /** base backups and the WAL streams of every node */
  readonly backups: BackupService;
  readonly restores: RestoreService;
  readonly devMethods: boolean;
  close(): Promise<void>;
}

export async function createEngine(ports: EnginePorts): Promise<Engine> {
  const jobs = new JobManager({ store: ports.jobStore ?? new FileJobStore(join(ports.paths.data, 'jobs.json')) });
  await jobs.init();
  const repositories = new RepositoryManager({ settings: ports.settings, secrets: ports.secrets, dataDir: ports.paths.data, logger: ports.logger });
  const clusters = new ClusterManager({ settings: ports.settings, secrets: ports.secrets, logger: ports.logger, repositories });
  const backups = new BackupService({ settings: ports.settings, secrets: ports.secrets, repositories, jobs, logger: ports.logger, restorability: clusters.restorePoints });
  backups.followClusters(clusters);
  const restores = new RestoreService({ jobs, repositories, clusters, secrets: ports.secrets, dataDir: ports.paths.data, logger: ports.logger });
  return {
    version: ports.version,
    shell: ports.shell,
    paths: ports.paths,
    settings: ports.settings,
    secrets: ports.secrets,
    logger: ports.logger,
    jobs,
    repositories,
    clusters,
    backups,
    restores,
    devMethods: ports.devMethods ?? false,
    async close() {
      await jobs.close();
      // streams store their partial segment and report it flushed before the repositories close
      await backups.close();
      await repositories.close();
    },
  };
}
