import { posix } from 'node:path';
import { z } from 'zod';
import { TidemarkError } from '../errors.js';
import {
  libraryFileStem,
  isPlainExtensionName,
  maxUnixSocketPathBytes,
  missingExtensionProblem,
  missingLibraryProblem,
  parsePostgresMajor,
  requiredServerPrograms,
  unixSocketPath,
  wrongMajorProblem,
  binDirCandidates,
} from './pg-install-checks.js';
import type {
  NodeSpec,
  ProvisionedNode,
  ProvisionProblem,
  ProvisionRequest,
  Provisioner,
} from './provisioner.js';
import { shellQuote } from './restore-command.js';
import type {
  SshHostConfig,
  SshProvisionerConfig,
  SshProvisionerConfigInput,
} from './ssh-config.js';
import { hostLabel, isUsableRemotePath, sshProvisionerConfigSchema } from './ssh-config.js';
import { SshNode } from './ssh-node.js';
import type { HostFacts } from './ssh-preflight.js';
import { parsePreflight, preflightScript } from './ssh-preflight.js';
import { remoteFailure, SshSession } from './ssh-session.js';

/** Where port search starts when a node asks for any free port. */
const firstPort = 5432;

/**
 * Creates the new cluster's nodes on remote hosts over SSH: one host per node, or several
 * nodes per host on different ports. One SSH connection per host, opened on first use and
 * reused by every node on it; `close()` ends them all. Base backups and WAL stream straight
 * into the remote folders — nothing is written on this machine.
 *
 * Paths in a NodeSpec (the base folder, tablespace folders) are absolute paths on the node's
 * host; `nodeSpec(nodeId)` gives the default one, `<host baseDir>/<node id>`.
 */
export class SshProvisioner implements Provisioner {
  readonly kind = 'ssh' as const;
  private readonly config: SshProvisionerConfig;
  private readonly sessions = new Map<string, Promise<SshSession>>();
  private readonly nodes = new Map<string, SshNode>();
  /** each host's PostgreSQL bin folder, as check() found it */
  private readonly binDirs = new Map<SshHostConfig, string>();
  private majorVersion = 0;
  private readonly ports = new Map<SshHostConfig, Set<number>>();

  constructor(config: SshProvisionerConfigInput) {
    const parsed = sshProvisionerConfigSchema.safeParse(config);
    if (!parsed.success) {
      throw new TidemarkError(
        'invalid_input',
        `The SSH restore target settings are invalid: ${z.prettifyError(parsed.error)}`,
      );
    }
    this.config = parsed.data;
  }

  hostFor(nodeId: string): SshHostConfig | undefined {
    return this.config.hosts.find((host) => host.nodes.includes(nodeId));
  }

  /**
   * The NodeSpec of a node on its host: `<host baseDir>/<node id>`. NodeSpec paths are absolute
   * paths on the host (the restore writes them into tablespace_map as they are).
   */
  nodeSpec(nodeId: string, port = 0): NodeSpec {
    const host = this.hostFor(nodeId);
    if (!host)
      throw new TidemarkError(
        'invalid_input',
        `No SSH host is assigned to node ${nodeId}. Add it to the "nodes" of one of the hosts.`,
      );
    return { nodeId, baseDir: posix.join(host.baseDir, nodeId), port, tablespaces: {} };
  }

  /** The node's folder on its host. */
  nodeBaseDir(spec: Pick<NodeSpec, 'baseDir'>): string {
    return withoutTrailingSlash(spec.baseDir);
  }

  /** The node's tablespace folders on its host, by oid. */
  nodeTablespaces(spec: Pick<NodeSpec, 'tablespaces'>): Map<number, string> {
    return new Map(
      Object.entries(spec.tablespaces).map(([oid, dir]) => [
        Number(oid),
        withoutTrailingSlash(dir),
      ]),
    );
  }

  /** Every folder the node will own: its base folder and its tablespace folders. */
  private nodeFolders(spec: NodeSpec): string[] {
    return [this.nodeBaseDir(spec), ...this.nodeTablespaces(spec).values()];
  }

  async check(request: ProvisionRequest): Promise<ProvisionProblem[]> {
    const problems: ProvisionProblem[] = [];
    const groups = new Map<SshHostConfig, NodeSpec[]>();
    for (const spec of request.nodes) {
      const host = this.hostFor(spec.nodeId);
      if (!host) {
        problems.push({
          nodeId: spec.nodeId,
          message: `No SSH host is assigned to node ${spec.nodeId}. Add it to the "nodes" of one of the hosts.`,
        });
        continue;
      }
      const pathProblem = this.specPathProblem(spec, host);
      if (pathProblem) problems.push({ nodeId: spec.nodeId, message: pathProblem });
      else groups.set(host, [...(groups.get(host) ?? []), spec]);
    }
    const perHost = await Promise.all(
      [...groups].map(([host, specs]) => this.checkHost(host, specs, request)),
    );
    return [...problems, ...perHost.flat()];
  }

  location(spec: NodeSpec): string {
    const host = this.hostFor(spec.nodeId);
    return host ? `${host.user}@${host.host}:${spec.baseDir}` : spec.baseDir;
  }

  async createNode(spec: NodeSpec): Promise<ProvisionedNode> {
    const host = this.hostFor(spec.nodeId);
    if (!host)
      throw new TidemarkError(
        'invalid_input',
        `No SSH host is assigned to node ${spec.nodeId}. Add it to the "nodes" of one of the hosts.`,
      );
    if (this.nodes.has(spec.nodeId))
      throw new TidemarkError(
        'conflict',
        `Node ${spec.nodeId} was already created by this restore.`,
      );
    const pathProblem = this.specPathProblem(spec, host);
    if (pathProblem) throw new TidemarkError('invalid_input', pathProblem);
    const session = await this.session(host);
    const baseDir = this.nodeBaseDir(spec);
    const tablespaces = this.nodeTablespaces(spec);
    const binDir = this.binDirs.get(host);
    if (!binDir)
      throw new TidemarkError(
        'internal',
        `The restore created node ${spec.nodeId} before checking ${session.label}; run check() first.`,
      );
    // Fresh facts: ports in use now, and the login user.
    const facts = parsePreflight(
      await session.run(
        preflightScript({
          binDir,
          majorVersion: this.majorVersion,
          libraries: [],
          extensions: [],
          paths: [],
        }),
        'Inspecting the host',
      ),
    );
    if (facts.uid === 0) throw new TidemarkError('preflight_failed', rootProblem(session.label));

    const port = spec.port === 0 ? this.choosePort(host, facts.listeningPorts) : spec.port;
    const taken = this.portsTaken(host);
    if (taken.has(port))
      throw new TidemarkError(
        'conflict',
        `Port ${port} on ${host.host} is already used by another node of this restore; give each node on a host its own port.`,
      );
    const socketPath = unixSocketPath(baseDir, port);
    if (Buffer.byteLength(socketPath) > maxUnixSocketPathBytes)
      throw new TidemarkError('invalid_input', socketPathProblem(socketPath));
    // Reserved before the next await, so nodes created side by side never pick the same port.
    taken.add(port);

    // Every folder must be absent (created, later removed) or empty (kept, later emptied);
    // all are checked before any is made, so a refusal leaves nothing behind.
    const folders = [baseDir, ...tablespaces.values()].map(shellQuote).join(' ');
    const script = [
      'set -e',
      `for d in ${folders}; do`,
      '  if [ -e "$d" ] && { [ ! -d "$d" ] || [ -n "$(ls -A "$d")" ]; }; then echo "$d exists and is not an empty folder" >&2; exit 3; fi',
      'done',
      `for d in ${folders}; do`,
      '  if [ -e "$d" ]; then echo "emptied $d"; else mkdir -p "$d"; echo "created $d"; fi',
      '  chmod 700 "$d"',
      'done',
      `mkdir -m 700 ${shellQuote(posix.join(baseDir, 'data'))} ${shellQuote(posix.join(baseDir, 'wal-spool'))}`,
    ].join('\n');
    const made = await session.exec(script).catch((err: unknown) => {
      taken.delete(port);
      throw err;
    });
    if (made.code !== 0) taken.delete(port);
    if (made.code === 3)
      throw new TidemarkError(
        'conflict',
        `${made.stderr.trim()} on ${session.label}. Choose an empty or new folder for node ${spec.nodeId}.`,
      );
    if (made.code !== 0)
      throw remoteFailure(`Creating the folders of node ${spec.nodeId}`, session.label, made);
    const out = made.stdout;
    const created: string[] = [];
    const emptied: string[] = [];
    for (const line of out.split('\n')) {
      if (line.startsWith('created ')) created.push(line.slice('created '.length));
      else if (line.startsWith('emptied ')) emptied.push(line.slice('emptied '.length));
    }
    // A base folder that existed empty keeps existing, but what the node put in it goes.
    const node = new SshNode(
      () => this.session(host),
      {
        nodeId: spec.nodeId,
        host: host.host,
        port,
        baseDir,
        binDir,
        tablespaces,
        created,
        emptied,
        startTimeoutSeconds: this.config.startTimeoutSeconds,
      },
      () => {
        this.nodes.delete(spec.nodeId);
        taken.delete(port);
      },
    );
    this.nodes.set(spec.nodeId, node);
    return node;
  }

  /**
   * Connections through the tunnel reach the node's socket from the SSH session, as the login
   * user, and the server runs as that user too: peer authentication maps exactly these.
   */
  socketOsUsers(): Promise<string[]> {
    return Promise.resolve([...new Set(this.config.hosts.map((host) => host.user))]);
  }

  async close(): Promise<void> {
    const sessions = [...this.sessions.values()];
    this.sessions.clear();
    await Promise.all(
      sessions.map((s) =>
        s.then(
          (session) => session.close(),
          () => undefined,
        ),
      ),
    );
  }

  /** The host's SSH connection: opened once, reopened if it was lost. */
  private session(host: SshHostConfig): Promise<SshSession> {
    const key = hostLabel(host);
    const existing = this.sessions.get(key);
    if (existing) {
      return existing.then(
        (session) => (session.closed ? this.openSession(key, host) : session),
        () => this.openSession(key, host),
      );
    }
    return this.openSession(key, host);
  }

  private openSession(key: string, host: SshHostConfig): Promise<SshSession> {
    const opening = SshSession.connect(host, {
      keepaliveIntervalMs: this.config.keepaliveIntervalMs,
      readyTimeoutMs: this.config.readyTimeoutMs,
    });
    this.sessions.set(key, opening);
    opening.catch(() => {
      if (this.sessions.get(key) === opening) this.sessions.delete(key);
    });
    return opening;
  }

  /** Ports of this restore's nodes on the host (reserved while a node is being created). */
  private portsTaken(host: SshHostConfig): Set<number> {
    let ports = this.ports.get(host);
    if (!ports) {
      ports = new Set();
      this.ports.set(host, ports);
    }
    return ports;
  }

  private choosePort(host: SshHostConfig, listening: Set<number>): number {
    const taken = this.portsTaken(host);
    for (let port = firstPort; port < 65536; port++)
      if (!listening.has(port) && !taken.has(port)) return port;
    throw new TidemarkError('preflight_failed', `No free port on ${host.host}.`);
  }

  private specPathProblem(spec: NodeSpec, host: SshHostConfig): string | null {
    const paths = this.nodeFolders(spec);
    for (const path of paths) {
      if (!isUsableRemotePath(path)) {
        return `"${path}" is not a usable folder for node ${spec.nodeId} on ${host.host}: give an absolute path without "..", line breaks or tabs.`;
      }
    }
    return null;
  }

  private async checkHost(
    host: SshHostConfig,
    specs: NodeSpec[],
    request: ProvisionRequest,
  ): Promise<ProvisionProblem[]> {
    const problems: ProvisionProblem[] = [];
    const hostNodeId = specs.length === 1 ? specs[0]!.nodeId : null;
    const add = (nodeId: string | null, message: string): void => {
      problems.push({ nodeId, message });
    };
    let session: SshSession;
    try {
      session = await this.session(host);
    } catch (err) {
      const nodes = specs.map((s) => s.nodeId).join(', ');
      add(
        hostNodeId,
        err instanceof TidemarkError
          ? `${err.message} (nodes ${nodes})`
          : `Could not connect to ${hostLabel(host)} (nodes ${nodes}): ${(err as Error).message}`,
      );
      return problems;
    }
    const where = session.label;
    const folders = specs.flatMap((spec) => this.nodeFolders(spec));
    let facts: HostFacts;
    try {
      facts = parsePreflight(
        await session.run(
          preflightScript({
            binDir: host.binDir ?? null,
            majorVersion: request.majorVersion,
            libraries: request.sharedPreloadLibraries,
            extensions: request.extensions,
            paths: folders,
          }),
          'Inspecting the host',
        ),
      );
    } catch (err) {
      add(hostNodeId, (err as Error).message);
      return problems;
    }

    this.majorVersion = request.majorVersion;
    if (facts.binDir && facts.programs.has('pg_ctl')) this.binDirs.set(host, facts.binDir);
    if (facts.uid === 0) add(hostNodeId, rootProblem(where));
    const missingPrograms = requiredServerPrograms.filter((p) => !facts.programs.has(p));
    if (!facts.binDir || missingPrograms.length > 0) {
      const looked = host.binDir
        ? `in ${host.binDir}`
        : `in ${binDirCandidates(request.majorVersion).slice(0, 3).join(', ')}, … and on PATH`;
      add(
        hostNodeId,
        `No PostgreSQL ${request.majorVersion} server programs (${missingPrograms.join(', ') || 'postgres'}) found on ${where} (looked ${looked}). Install the PostgreSQL ${request.majorVersion} server package, or set the host's bin folder.`,
      );
    } else {
      const major = parsePostgresMajor(facts.versionOutput);
      if (major !== request.majorVersion)
        add(
          hostNodeId,
          wrongMajorProblem(
            `${where} (${facts.binDir})`,
            major,
            request.majorVersion,
            facts.versionOutput,
          ),
        );
    }
    for (const library of request.sharedPreloadLibraries) {
      const stem = libraryFileStem(library);
      if (stem === null)
        add(
          hostNodeId,
          `The shared_preload_libraries entry "${library}" is not a plain library name; install it on ${where} and check it by hand.`,
        );
      else if (facts.libraries.get(stem) !== true)
        add(
          hostNodeId,
          missingLibraryProblem(
            where,
            stem,
            facts.pkglibdir ?? '(library folder not found)',
            request.majorVersion,
          ),
        );
    }
    for (const extension of request.extensions) {
      if (!isPlainExtensionName(extension))
        add(
          hostNodeId,
          `The extension name "${extension}" is not a plain name; check it on ${where} by hand.`,
        );
      else if (facts.extensions.get(extension) !== true)
        add(
          hostNodeId,
          missingExtensionProblem(
            where,
            extension,
            facts.sharedir ? `${facts.sharedir}/extension` : '(extension folder not found)',
            request.majorVersion,
          ),
        );
    }
    if (!facts.tar)
      add(
        hostNodeId,
        `tar is not installed on ${where}; the base backups are extracted with it. Install tar.`,
      );

    const ports = new Map<number, string>();
    const perMount = new Map<string, { free: number; needed: number; nodes: string[] }>();
    const bases = new Map<string, string>();
    for (const spec of specs) {
      const baseDir = this.nodeBaseDir(spec);
      const other = bases.get(baseDir);
      if (other)
        add(
          spec.nodeId,
          `Nodes ${other} and ${spec.nodeId} both use ${baseDir} on ${where}; give each node its own folder.`,
        );
      bases.set(baseDir, spec.nodeId);
      for (const folder of this.nodeFolders(spec)) {
        const f = facts.paths.get(folder);
        if (!f) {
          add(spec.nodeId, `Could not inspect ${folder} on ${where}.`);
          continue;
        }
        if (f.state === 'nonempty')
          add(
            spec.nodeId,
            `${folder} on ${where} is not empty. Choose an empty or new folder for node ${spec.nodeId}, or empty it.`,
          );
        else if (f.state === 'notdir')
          add(
            spec.nodeId,
            `${folder} on ${where} exists and is not a folder. Choose another path for node ${spec.nodeId}.`,
          );
        else if (f.state === 'unreadable')
          add(
            spec.nodeId,
            `${folder} on ${where} cannot be read by ${host.user}. Choose a folder that user owns.`,
          );
        if (!f.writable)
          add(
            spec.nodeId,
            `${host.user} cannot create or write ${folder} on ${where}. Create it and give that user ownership (chown), or choose a folder the user owns.`,
          );
      }
      const base = facts.paths.get(baseDir);
      if (base?.freeBytes != null) {
        const entry = perMount.get(base.mount) ?? { free: base.freeBytes, needed: 0, nodes: [] };
        entry.needed += request.bytesNeeded[spec.nodeId] ?? 0;
        entry.nodes.push(spec.nodeId);
        perMount.set(base.mount, entry);
      }
      if (spec.port !== 0) {
        if (facts.listeningPorts.has(spec.port))
          add(
            spec.nodeId,
            `Port ${spec.port} is already in use on ${where}. Choose another port for node ${spec.nodeId}, or let Tidemark pick one.`,
          );
        const sharing = ports.get(spec.port);
        if (sharing)
          add(
            spec.nodeId,
            `Nodes ${sharing} and ${spec.nodeId} both want port ${spec.port} on ${where}; give each its own port.`,
          );
        ports.set(spec.port, spec.nodeId);
        const socketPath = unixSocketPath(baseDir, spec.port);
        if (Buffer.byteLength(socketPath) > maxUnixSocketPathBytes)
          add(spec.nodeId, socketPathProblem(socketPath));
      } else if (Buffer.byteLength(unixSocketPath(baseDir, 65535)) > maxUnixSocketPathBytes) {
        add(spec.nodeId, socketPathProblem(unixSocketPath(baseDir, 65535)));
      }
    }
    for (const [mount, { free, needed, nodes }] of perMount) {
      if (needed > free) {
        add(
          nodes.length === 1 ? nodes[0]! : null,
          `${mount} on ${where} has ${gib(free)} free but node${nodes.length > 1 ? 's' : ''} ${nodes.join(', ')} need${nodes.length > 1 ? '' : 's'} ${gib(needed)}. Free space there or choose a folder on a larger disk.`,
        );
      }
    }
    return problems;
  }
}

function withoutTrailingSlash(path: string): string {
  return path.length > 1 ? path.replace(/\/+$/, '') : path;
}

function rootProblem(where: string): string {
  return `${where} logs in as root, and PostgreSQL refuses to run as root. Log in as the OS user that should own the restored servers (e.g. postgres).`;
}

function socketPathProblem(socketPath: string): string {
  return `The server's socket path ${socketPath} is longer than the ${maxUnixSocketPathBytes} bytes a unix socket allows. Choose a shorter folder.`;
}

function gib(bytes: number): string {
  return `${(bytes / 1024 ** 3).toFixed(2)} GiB`;
}
