import { execFile } from 'node:child_process';
import { chown, mkdir, readdir, stat, statfs } from 'node:fs/promises';
import { createServer } from 'node:net';
import { dirname, isAbsolute, join } from 'node:path';
import { promisify } from 'node:util';
import { TidemarkError } from '../errors.js';
import { LocalNode, localNodeLayout } from './local-node.js';
import { maxUnixSocketPathBytes, missingExtensionProblem, missingLibraryProblem, unixSocketPath } from './pg-install-checks.js';
import { findPostgresInstall, missingExtensions, missingLibraries, type PostgresInstall } from './postgres-install.js';
import type { NodeSpec, ProvisionProblem, ProvisionRequest, Provisioner } from './provisioner.js';
import { resolveServerUser, type ServerUser } from './server-user.js';

const exec = promisify(execFile);

export interface LocalProvisionerOptions {
  /** PostgreSQL bin folder chosen by the user; otherwise detected */
  binDir?: string;
  /** address the restored nodes are reached at by clients and each other (default 127.0.0.1) */
  host?: string;
  /** how long the restore_command waits for a WAL file Tidemark has not delivered yet */
  walWaitSeconds?: number;
  env?: NodeJS.ProcessEnv;
}

/** Ports handed to nodes of any restore in this process: restored servers do not listen on TCP until the end. */
const reservedPorts = new Set<number>();

/**
 * New nodes on this machine: data directories under folders the user chose, servers run from
 * PostgreSQL binaries of the backup's major version found here.
 */
export class LocalProvisioner implements Provisioner {
  readonly kind = 'local' as const;
  private install: PostgresInstall | null = null;
  private serverUser: ServerUser | null = null;
  private readonly ownPorts = new Set<number>();

  constructor(private readonly options: LocalProvisionerOptions = {}) {}

  async socketOsUsers(): Promise<string[]> {
    const user = await this.user();
    return [...new Set([user.tidemarkUser, user.name])];
  }

  async check(request: ProvisionRequest): Promise<ProvisionProblem[]> {
    const problems: ProvisionProblem[] = [];
    const add = (nodeId: string | null, message: string): void => void problems.push({ nodeId, message });

    let user: ServerUser | null = null;
    try {
      user = await this.user();
    } catch (err) {
      add(null, (err as Error).message);
    }

    const search = await findPostgresInstall(request.majorVersion, this.options.binDir, this.options.env);
    if (!search.install) {
      add(null, `No PostgreSQL ${request.majorVersion} server binaries were found on this machine (looked at: ${search.tried.join('; ')}). Install PostgreSQL ${request.majorVersion} (e.g. the postgresql-${request.majorVersion} package) or give its bin folder.`);
    } else {
      this.install = search.install;
      const where = 'this machine';
      for (const lib of await missingLibraries(search.install, request.sharedPreloadLibraries)) {
        add(null, missingLibraryProblem(where, lib, search.install.pkgLibDir, request.majorVersion));
      }
      for (const ext of await missingExtensions(search.install, request.extensions)) {
        add(null, missingExtensionProblem(where, ext, join(search.install.shareDir, 'extension'), request.majorVersion));
      }
    }

    const bytesByDevice = new Map<number, { bytes: number; path: string; nodes: string[] }>();
    const ports = new Set<number>();
    for (const node of request.nodes) {
      const layout = localNodeLayout(node.baseDir);
      const folders = [node.baseDir, ...Object.values(node.tablespaces)];
      for (const folder of folders) {
        if (!isAbsolute(folder)) {
          add(node.nodeId, `The folder "${folder}" for node ${node.nodeId} is not an absolute path; choose a full path.`);
          continue;
        }
        const state = await folderState(folder);
        if (state === 'nonempty' || state === 'notdir') {
          add(node.nodeId, `The folder ${folder} for node ${node.nodeId} ${state === 'notdir' ? 'is a file' : 'is not empty'}; a restore only writes into a new or empty folder. Choose another folder or empty it.`);
        }
        if (user?.owner && !(await serverUserCanEnter(user, await nearestExisting(dirname(folder))))) {
          add(node.nodeId, `The server runs as the OS user "${user.name}", which cannot enter ${dirname(folder)}; choose a folder that user can reach (e.g. under /var/lib/postgresql or /srv) or open its parent folders (chmod o+x).`);
        }
      }
      const socketPath = unixSocketPath(layout.socketDir, node.port === 0 ? 65535 : node.port);
      if (Buffer.byteLength(socketPath) > maxUnixSocketPathBytes) {
        add(node.nodeId, `The folder ${node.baseDir} for node ${node.nodeId} is too deep: the server's socket path ${socketPath} would exceed ${maxUnixSocketPathBytes} bytes. Choose a shorter folder.`);
      }
      if (node.port !== 0) {
        if (ports.has(node.port)) add(node.nodeId, `Port ${node.port} is given to more than one node; give each node its own port.`);
        ports.add(node.port);
        if (reservedPorts.has(node.port) || !(await portFree(node.port))) {
          add(node.nodeId, `Port ${node.port} for node ${node.nodeId} is in use on this machine; choose another port or leave it empty to pick a free one.`);
        }
      }
      const anchor = await nearestExisting(node.baseDir);
      const device = (await stat(anchor)).dev;
      const entry = bytesByDevice.get(device) ?? { bytes: 0, path: anchor, nodes: [] };
      entry.bytes += request.bytesNeeded[node.nodeId] ?? 0;
      entry.nodes.push(node.nodeId);
      bytesByDevice.set(device, entry);
    }
    for (const { bytes, path, nodes } of bytesByDevice.values()) {
      const fs = await statfs(path);
      const free = fs.bavail * fs.bsize;
      if (free < bytes) {
        add(nodes.length === 1 ? (nodes[0] ?? null) : null, `The disk holding ${path} has ${formatBytes(free)} free, but node${nodes.length > 1 ? 's' : ''} ${nodes.join(', ')} need${nodes.length > 1 ? '' : 's'} ${formatBytes(bytes)}. Free space or choose another folder.`);
      }
    }
    return problems;
  }

  location(spec: NodeSpec): string {
    return spec.baseDir;
  }

  async createNode(spec: NodeSpec): Promise<LocalNode> {
    const install = await this.requireInstall();
    const user = await this.user();
    const port = spec.port === 0 ? await this.pickPort() : this.reserve(spec.port);
    const layout = localNodeLayout(spec.baseDir);
    try {
      // Parents must stay enterable by the server's user; the node's own folders are private to it.
      for (const dir of [spec.baseDir, ...Object.values(spec.tablespaces)]) await mkdir(dirname(dir), { recursive: true, mode: 0o755 });
      for (const dir of [spec.baseDir, layout.dataDir, layout.walSpoolDir, layout.socketDir, ...Object.values(spec.tablespaces)]) {
        await mkdir(dir, { recursive: true, mode: 0o700 });
        if (user.owner) await chown(dir, user.owner.uid, user.owner.gid);
      }
    } catch (err) {
      this.release(port);
      throw new TidemarkError('preflight_failed', `Could not create the folders of node ${spec.nodeId} under ${spec.baseDir}: ${(err as Error).message}. Check the folder's permissions.`, { cause: err });
    }
    const nodeOptions = {
      spec,
      port,
      host: this.options.host ?? '127.0.0.1',
      binDir: install.binDir,
      serverUser: user,
      onDestroyed: () => this.release(port),
      ...(this.options.walWaitSeconds === undefined ? {} : { walWaitSeconds: this.options.walWaitSeconds }),
    };
    return new LocalNode(nodeOptions);
  }

  async close(): Promise<void> {
    // Nodes outlive the provisioner (the restored cluster keeps running); only forget their ports.
    for (const port of this.ownPorts) reservedPorts.delete(port);
    this.ownPorts.clear();
  }

  private async requireInstall(): Promise<PostgresInstall> {
    if (this.install) return this.install;
    throw new TidemarkError('internal', 'The local provisioner was asked to create a node before its check ran.');
  }

  private async user(): Promise<ServerUser> {
    this.serverUser ??= await resolveServerUser();
    return this.serverUser;
  }

  private reserve(port: number): number {
    reservedPorts.add(port);
    this.ownPorts.add(port);
    return port;
  }

  private release(port: number): void {
    reservedPorts.delete(port);
    this.ownPorts.delete(port);
  }

  private async pickPort(): Promise<number> {
    for (let attempt = 0; attempt < 50; attempt++) {
      const port = await ephemeralPort();
      if (!reservedPorts.has(port)) return this.reserve(port);
    }
    throw new TidemarkError('preflight_failed', 'No free TCP port could be found for a restored node; give the nodes ports explicitly.');
  }
}

async function folderState(path: string): Promise<'absent' | 'empty' | 'nonempty' | 'notdir'> {
  try {
    const info = await stat(path);
    if (!info.isDirectory()) return 'notdir';
    return (await readdir(path)).length === 0 ? 'empty' : 'nonempty';
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'absent';
    throw err;
  }
}

async function nearestExisting(path: string): Promise<string> {
  let current = path;
  for (;;) {
    try {
      await stat(current);
      return current;
    } catch {
      const parent = dirname(current);
      if (parent === current) return current;
      current = parent;
    }
  }
}

async function serverUserCanEnter(user: ServerUser, folder: string): Promise<boolean> {
  const [command, args] = user.wrap('test', ['-x', folder]);
  try {
    await exec(command, args, { timeout: 10_000 });
    return true;
  } catch {
    return false;
  }
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

function ephemeralPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function formatBytes(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}
