import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { NodeEndpoint } from '../../main/engine/backup/node-endpoint.js';
import { Catalog } from '../../main/engine/catalog/catalog.js';
import { layout } from '../../main/engine/catalog/layout.js';
import { repositoryConfigSchema, type ZoneConfig } from '../../main/engine/repository/repository-config.js';
import { Repository } from '../../main/engine/repository/repository.js';
import type { Zone } from '../../main/engine/repository/zone.js';
import { FolderZone } from '../../main/engine/repository/zones/folder-zone.js';
import type { PgInstance } from './postgres.js';

export const testPassphrase = 'backup test passphrase';
const scrypt = { N: 2 ** 10, r: 8, p: 1 };

export interface TestRepository {
  repository: Repository;
  catalog: Catalog;
  /** folder of each folder zone, by zone id */
  folders: Record<string, string>;
  indexPath: string;
  close(): Promise<void>;
}

/**
 * A repository of `folderZones` folder zones (plus `extraZones`, e.g. an S3 zone) under `dir`,
 * with its catalog. `reopen` opens the same repository again (a restarted process).
 */
export async function createTestRepository(
  dir: string,
  options: { id?: string; folderZones?: number; extraZones?: { config: ZoneConfig; zone: () => Zone }[]; minZones?: number } = {},
): Promise<TestRepository & { reopen(): Promise<TestRepository> }> {
  const id = options.id ?? 'repo';
  const folders: Record<string, string> = {};
  const zoneConfigs: ZoneConfig[] = [];
  for (let i = 0; i < (options.folderZones ?? 1); i++) {
    const path = join(dir, `zone-${i}`);
    await mkdir(path, { recursive: true });
    folders[`z${i}`] = path;
    zoneConfigs.push({ kind: 'folder', id: `z${i}`, name: `zone ${i}`, path });
  }
  for (const extra of options.extraZones ?? []) zoneConfigs.push(extra.config);
  const config = repositoryConfigSchema.parse({ id, name: id, zones: zoneConfigs, minZones: options.minZones ?? 1 });
  const zones = (): Zone[] => [
    ...Object.entries(folders).map(([zoneId, path]) => new FolderZone({ id: zoneId, path })),
    ...(options.extraZones ?? []).map((e) => e.zone()),
  ];
  const indexPath = join(dir, 'index', `${id}.json`);
  const init = await Repository.init({ config, zones: zones(), secret: { passphrase: testPassphrase }, keyringOptions: { scrypt } });
  const open = async (repository: Repository): Promise<TestRepository> => {
    const catalog = await Catalog.open(repository, indexPath);
    return {
      repository,
      catalog,
      folders,
      indexPath,
      close: async () => {
        await catalog.close();
        await repository.close();
      },
    };
  };
  const first = await open(init);
  return {
    ...first,
    reopen: async () => open(await Repository.open({ config, zones: zones(), secret: { passphrase: testPassphrase } })),
  };
}

/**
 * Opens a repository `createTestRepository` made under `dir` (folder zones only), as another
 * process would: keyring from the zones, catalog index from disk.
 */
export async function openTestRepository(dir: string, options: { id?: string; folderZones?: number } = {}): Promise<TestRepository> {
  const id = options.id ?? 'repo';
  const folders: Record<string, string> = {};
  const zoneConfigs: ZoneConfig[] = [];
  for (let i = 0; i < (options.folderZones ?? 1); i++) {
    const path = join(dir, `zone-${i}`);
    folders[`z${i}`] = path;
    zoneConfigs.push({ kind: 'folder', id: `z${i}`, name: `zone ${i}`, path });
  }
  const config = repositoryConfigSchema.parse({ id, name: id, zones: zoneConfigs });
  const zones = Object.entries(folders).map(([zoneId, path]) => new FolderZone({ id: zoneId, path }));
  const repository = await Repository.open({ config, zones, secret: { passphrase: testPassphrase } });
  const indexPath = join(dir, 'index', `${id}.json`);
  const catalog = await Catalog.open(repository, indexPath);
  return {
    repository,
    catalog,
    folders,
    indexPath,
    close: async () => {
      await catalog.close();
      await repository.close();
    },
  };
}

/** The endpoint of a test server as node `nodeId` of cluster `clusterId`. */
export function endpointOf(
  pg: PgInstance,
  options: { clusterId?: string; nodeId?: string; role?: 'coordinator' | 'worker'; user?: string; password?: string; distNodeId?: number } = {},
): NodeEndpoint {
  const role = options.role ?? 'coordinator';
  return {
    clusterId: options.clusterId ?? 'c1',
    nodeId: options.nodeId ?? 'n1',
    role,
    distNodeId: options.distNodeId ?? 1,
    groupId: role === 'coordinator' ? 0 : (options.distNodeId ?? 1),
    name: pg.host,
    port: pg.port,
    address: { host: pg.host, port: pg.port },
    user: options.user ?? pg.user,
    password: options.password ?? pg.password,
    database: 'postgres',
    tls: { mode: 'disable' },
  };
}

export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Decrypts the node's stored complete WAL segments and history files into `dir`, named as in pg_wal. */
export async function exportWal(
  repository: Repository,
  catalog: Catalog,
  clusterId: string,
  nodeId: string,
  dir: string,
): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const node = catalog.node(clusterId, nodeId);
  if (!node) throw new Error(`no node ${nodeId} in the catalog`);
  const written: string[] = [];
  for (const name of node.walSegments) {
    await writeFile(join(dir, name), await repository.readObject(layout.walSegment(clusterId, nodeId, name)));
    written.push(name);
  }
  for (const timeline of node.histories) {
    const key = layout.walHistory(clusterId, nodeId, timeline);
    const name = key.slice(key.lastIndexOf('/') + 1);
    await writeFile(join(dir, name), await repository.readObject(key));
    written.push(name);
  }
  return written;
}
