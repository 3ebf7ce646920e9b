import { randomBytes } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { ClusterManager } from '../cluster/cluster-manager.js';
import { TidemarkError, toErrorInfo } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { AppPaths } from '../paths.js';
import { LocalProvisioner } from '../restore/local-provisioner.js';
import type { LocalNode } from '../restore/local-node.js';
import type { NodeSpec } from '../restore/provisioner.js';
import { resolveServerUser } from '../restore/server-user.js';
import type { RepositoryManager } from '../repository/repository-manager.js';
import {
  initSandboxNode,
  onSandboxNode,
  sandboxLocalNode,
  sandboxSuperuser,
} from './sandbox-node.js';
import { findSandboxInstall } from './sandbox-requirements.js';
import {
  readSandboxState,
  removeSandboxState,
  sandboxDir,
  writeSandboxState,
  type SandboxNode,
  type SandboxState,
} from './sandbox-state.js';
import {
  isWriterProcess,
  sandboxSchemaSql,
  startWriterProcess,
  stopWriterProcess,
  type WriterCommand,
} from './sandbox-writer.js';

export const sandboxClusterId = 'sandbox';
export const sandboxRepositoryId = 'sandbox';
const workerCount = 2;
/** disk a fresh node needs, with room for some WAL */
const bytesPerNode = 256 * 1024 * 1024;

export interface SandboxDeps {
  paths: AppPaths;
  clusters: ClusterManager;
  repositories: RepositoryManager;
  logger: Logger;
}

export interface SandboxUpOptions {
  /** where its backups go; default: a `sandbox` repository in a folder next to the nodes */
  repositoryId?: string;
  /** a PostgreSQL bin folder chosen by the user */
  binDir?: string;
  env?: NodeJS.ProcessEnv;
  /** how to start the light writer as its own process; none: no writer */
  writer?: WriterCommand;
  onProgress?: (line: string) => void;
}

export interface SandboxNodeStatus extends SandboxNode {
  running: boolean;
}

export interface SandboxStatus {
  exists: boolean;
  clusterId: string | null;
  repositoryId: string | null;
  postgres: SandboxState['postgres'] | null;
  nodes: SandboxNodeStatus[];
  writerRunning: boolean;
  /** whether the cluster is registered in Tidemark */
  registered: boolean;
}

/**
 * A local Citus cluster to try Tidemark on: a coordinator and two workers on loopback ports,
 * under the app's data folder, with sample tables and a light writer, registered as cluster
 * `sandbox`. It runs only on a real PostgreSQL with the Citus extension; without them it
 * says what is missing and creates nothing.
 */
export class Sandbox {
  constructor(private readonly deps: SandboxDeps) {}

  private get dataDir(): string {
    return this.deps.paths.data;
  }

  async status(): Promise<SandboxStatus> {
    const state = await readSandboxState(this.dataDir);
    if (!state) {
      return {
        exists: false,
        clusterId: null,
        repositoryId: null,
        postgres: null,
        nodes: [],
        writerRunning: false,
        registered: false,
      };
    }
    const user = await resolveServerUser();
    const nodes = await Promise.all(
      state.nodes.map(async (node) => ({
        ...node,
        running: await sandboxLocalNode(node, state.postgres, user).isRunning(),
      })),
    );
    const registered = (await this.deps.clusters.list()).some(
      (c) => c.config.id === state.clusterId,
    );
    return {
      exists: true,
      clusterId: state.clusterId,
      repositoryId: state.repositoryId,
      postgres: state.postgres,
      nodes,
      writerRunning: state.writerPid !== null && (await isWriterProcess(state.writerPid)),
      registered,
    };
  }

  /** Creates and starts the sandbox, or starts it again if it exists but is stopped. */
  async up(options: SandboxUpOptions = {}): Promise<SandboxStatus> {
    const progress = options.onProgress ?? (() => undefined);
    const existing = await readSandboxState(this.dataDir);
    if (existing) return this.restart(existing, options);

    // Everything that can refuse does so before anything is created.
    const install = await findSandboxInstall({
      ...(options.binDir ? { binDir: options.binDir } : {}),
      ...(options.env ? { env: options.env } : {}),
    });
    if (options.repositoryId) await this.deps.repositories.get(options.repositoryId);
    const user = await resolveServerUser();
    const provisioner = new LocalProvisioner({
      binDir: install.binDir,
      ...(options.env ? { env: options.env } : {}),
    });
    const root = sandboxDir(this.dataDir);
    const specs: NodeSpec[] = [
      'coordinator',
      ...Array.from({ length: workerCount }, (_, i) => `worker-${i + 1}`),
    ].map((name) => ({
      nodeId: name,
      baseDir: join(root, name),
      port: 0,
      tablespaces: {},
    }));
    await mkdir(root, { recursive: true, mode: 0o755 });
    const problems = await provisioner.check({
      majorVersion: install.major,
      sharedPreloadLibraries: ['citus'],
      extensions: ['citus'],
      nodes: specs,
      bytesNeeded: Object.fromEntries(specs.map((s) => [s.nodeId, bytesPerNode])),
    });
    if (problems.length > 0) {
      throw new TidemarkError(
        'preflight_failed',
        `The sandbox cannot be created: ${problems.map((p) => p.message).join(' ')}`,
      );
    }

    const repositoryId = options.repositoryId ?? sandboxRepositoryId;
    await this.ensureRepository(repositoryId);
    const clusterId = await this.freeClusterId(repositoryId);

    const nodes: LocalNode[] = [];
    for (const spec of specs) nodes.push(await provisioner.createNode(spec));
    await provisioner.close();
    const state: SandboxState = {
      version: 1,
      clusterId,
      repositoryId,
      createdAt: new Date().toISOString(),
      postgres: { binDir: install.binDir, major: install.major, version: install.version },
      serverUser: user.name,
      nodes: nodes.map((node, i) => ({
        name: node.nodeId,
        role: i === 0 ? 'coordinator' : 'worker',
        baseDir: specs[i]!.baseDir,
        port: node.port,
      })),
      writerPid: null,
    };
    // Written first, so "sandbox down" can clean up whatever a failure below leaves.
    await writeSandboxState(this.dataDir, state);
    const password = randomBytes(18).toString('base64url');
    try {
      for (const node of nodes) {
        progress(`Creating ${node.nodeId} on port ${node.port} (PostgreSQL ${install.version})…`);
        await initSandboxNode(node, install, user, { preloadLibraries: ['citus'], password });
        await node.start();
      }
      progress('Forming the Citus cluster and loading sample data…');
      await this.formCluster(nodes, password);
      progress(
        `Registering it as cluster "${state.clusterId}" with repository "${state.repositoryId}"…`,
      );
      await this.deps.clusters.add({
        id: state.clusterId,
        name: 'Sandbox',
        coordinator: {
          host: '127.0.0.1',
          port: state.nodes[0]!.port,
          database: 'postgres',
          user: sandboxSuperuser,
          sslmode: 'prefer',
        },
        password,
        repositoryId: state.repositoryId,
      });
      if (options.writer) {
        state.writerPid = await startWriterProcess(options.writer, join(root, 'writer.log'));
        await writeSandboxState(this.dataDir, state);
      }
    } catch (err) {
      this.deps.logger.warn({ code: toErrorInfo(err).code }, 'sandbox creation failed');
      throw new TidemarkError(
        toErrorInfo(err).code,
        `The sandbox could not be set up: ${toErrorInfo(err).message} Run "tidemark sandbox down" to remove what was created.`,
        { cause: err },
      );
    }
    return this.status();
  }

  /**
   * Unregisters the cluster (its backups stay in the repository), stops the writer and the
   * servers, and deletes the sandbox nodes' files.
   */
  async down(): Promise<{ message: string }> {
    const state = await readSandboxState(this.dataDir);
    if (!state) return { message: 'There is no sandbox.' };
    let kept = '';
    if ((await this.deps.clusters.list()).some((c) => c.config.id === state.clusterId)) {
      const removed = await this.deps.clusters.remove(state.clusterId);
      kept = ` Its backups stay in repository "${removed.repositoryId}"${removed.zones.length > 0 ? ` (${removed.zones.join('; ')})` : ''}.`;
    }
    if (state.writerPid !== null) await stopWriterProcess(state.writerPid);
    const user = await resolveServerUser();
    for (const node of state.nodes) await sandboxLocalNode(node, state.postgres, user).destroy();
    await removeSandboxState(this.dataDir);
    await rm(join(sandboxDir(this.dataDir), 'writer.log'), { force: true });
    return { message: `The sandbox is stopped and its nodes are deleted.${kept}` };
  }

  private async restart(state: SandboxState, options: SandboxUpOptions): Promise<SandboxStatus> {
    const user = await resolveServerUser();
    for (const node of state.nodes) {
      const local = sandboxLocalNode(node, state.postgres, user);
      if (!(await local.isRunning())) {
        options.onProgress?.(`Starting ${node.name} on port ${node.port}…`);
        await local.start();
      }
    }
    if (options.writer && (state.writerPid === null || !(await isWriterProcess(state.writerPid)))) {
      state.writerPid = await startWriterProcess(
        options.writer,
        join(sandboxDir(this.dataDir), 'writer.log'),
      );
      await writeSandboxState(this.dataDir, state);
    }
    return this.status();
  }

  /** Citus on every node, the workers added to the coordinator, sample tables. */
  private async formCluster(nodes: LocalNode[], password: string): Promise<void> {
    const [coordinator, ...workers] = nodes as [LocalNode, ...LocalNode[]];
    const authinfo = `password=${password}`;
    for (const worker of workers)
      await onSandboxNode(worker, (c) => c.query('CREATE EXTENSION IF NOT EXISTS citus'));
    await onSandboxNode(coordinator, async (client) => {
      await client.query('CREATE EXTENSION IF NOT EXISTS citus');
      // Citus's own node-to-node connections authenticate with this (nodeid 0: every node).
      await client.query(
        `INSERT INTO pg_catalog.pg_dist_authinfo (nodeid, rolename, authinfo) VALUES (0, $1, $2)`,
        [sandboxSuperuser, authinfo],
      );
      await client.query('SELECT citus_set_coordinator_host($1, $2)', [
        '127.0.0.1',
        coordinator.port,
      ]);
      for (const worker of workers)
        await client.query('SELECT citus_add_node($1, $2)', ['127.0.0.1', worker.port]);
    });
    // Workers reach each other and the coordinator too (metadata sync may already have copied the row).
    for (const worker of workers) {
      await onSandboxNode(worker, (c) =>
        c.query(
          `INSERT INTO pg_catalog.pg_dist_authinfo (nodeid, rolename, authinfo) VALUES (0, $1, $2) ON CONFLICT DO NOTHING`,
          [sandboxSuperuser, authinfo],
        ),
      );
    }
    await onSandboxNode(coordinator, (c) => c.query(sandboxSchemaSql));
  }

  /**
   * `sandbox`, or `sandbox-2`… when that id is taken in the settings or, by an earlier
   * sandbox whose backups are kept, in the repository.
   */
  private async freeClusterId(repositoryId: string): Promise<string> {
    const configured = new Set((await this.deps.clusters.list()).map((c) => c.config.id));
    const { catalog } = await this.deps.repositories.open(repositoryId);
    for (let n = 1; ; n++) {
      const id = n === 1 ? sandboxClusterId : `${sandboxClusterId}-${n}`;
      if (!configured.has(id) && !catalog.cluster(id)) return id;
    }
  }

  private async ensureRepository(repositoryId: string): Promise<void> {
    if ((await this.deps.repositories.list()).some((r) => r.id === repositoryId)) return;
    if (repositoryId !== sandboxRepositoryId) await this.deps.repositories.get(repositoryId);
    const path = join(sandboxDir(this.dataDir), 'repository');
    await mkdir(path, { recursive: true, mode: 0o700 });
    await this.deps.repositories.create(
      {
        id: sandboxRepositoryId,
        name: 'Sandbox backups',
        zones: [{ kind: 'folder', id: 'local', name: 'Sandbox folder', path }],
      },
      { passphrase: randomBytes(24).toString('base64url') },
    );
  }
}
