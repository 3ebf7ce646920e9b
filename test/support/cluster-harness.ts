import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { ClusterManager } from '../../main/engine/cluster/cluster-manager.js';
import { createLogger } from '../../main/engine/log/logger.js';
import { RepositoryManager } from '../../main/engine/repository/repository-manager.js';
import { MemorySecretStore } from '../../main/engine/secrets/secret-store.js';
import { JsonFileSettingsStore } from '../../main/engine/settings/settings-store.js';
import type { CitusTestCluster } from './citus-cluster.js';
import { testPassword } from './postgres.js';

export interface ClusterHarness {
  manager: ClusterManager;
  repositories: RepositoryManager;
  settings: JsonFileSettingsStore;
  secrets: MemorySecretStore;
  /** the folder zone of repository `repo` */
  zonePath: string;
  close(): Promise<void>;
}

/**
 * A ClusterManager over real parts: settings in a JSON file, secrets in memory, and a
 * repository `repo` with one folder zone, created through the RepositoryManager.
 */
export async function createClusterHarness(dir: string): Promise<ClusterHarness> {
  const zonePath = join(dir, 'zone-a');
  await mkdir(zonePath, { recursive: true });
  const settings = new JsonFileSettingsStore(join(dir, 'config', 'settings.json'));
  const secrets = new MemorySecretStore();
  const logger = createLogger();
  const repositories = new RepositoryManager({
    settings,
    secrets,
    dataDir: join(dir, 'data'),
    logger,
    keyringOptions: { scrypt: { N: 2 ** 10, r: 8, p: 1 } },
  });
  await repositories.create(
    {
      id: 'repo',
      name: 'Test repository',
      zones: [{ kind: 'folder', id: 'zone-a', name: 'Zone A', path: zonePath }],
    },
    { passphrase: 'correct horse battery' },
  );
  // Loopback round trips are short; a loaded test machine can still be slow to answer.
  const manager = new ClusterManager({
    settings,
    secrets,
    logger,
    repositories,
    preflight: { maxClockSkewMs: 5000 },
    connectTimeoutMs: 5000,
  });
  return {
    manager,
    repositories,
    settings,
    secrets,
    zonePath,
    close: () => repositories.close(),
  };
}

/** `clusters.add` input for the fixture cluster, connecting as `user`. */
export function fixtureClusterInput(cluster: CitusTestCluster, name: string, user = 'postgres') {
  return {
    name,
    coordinator: {
      host: cluster.coordinator.host,
      port: cluster.coordinator.port,
      user,
      sslmode: 'disable' as const,
    },
    password: testPassword,
    repositoryId: 'repo',
  };
}
