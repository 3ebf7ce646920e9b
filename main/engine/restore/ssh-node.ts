import { posix } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { createDecompressor } from '../compression/decompressor.js';
import { TidemarkError } from '../errors.js';
import { ByteCounter } from './byte-counter.js';
import type { ArchiveTarget, ProvisionedNode, StoredArchive } from './provisioner.js';
import { buildRestoreCommand, shellQuote, spoolPlanFile } from './restore-command.js';
import {
  listRemoteFolder,
  readRemoteFile,
  removeRemoteFile,
  writeRemoteFileAtomically,
} from './ssh-files.js';
import type { SshSession } from './ssh-session.js';
import { remoteFailure } from './ssh-session.js';
import { SshTunnelSocket } from './ssh-tunnel-socket.js';
import { safeRelativePath, tarEntryGuard } from './tar-safety.js';
import { unixSocketPath } from './pg-install-checks.js';

/** A spool entry `putSpoolFile` accepts: the plan, or a WAL segment, partial, history or backup-history file. */
const spoolNamePattern =
  /^(?:[0-9A-F]{24}(?:\.partial|\.[0-9A-F]{8}\.backup)?|[0-9A-F]{8}\.history)$/;

export interface SshNodeLayout {
  nodeId: string;
  /** host name clients and the other restored nodes use */
  host: string;
  port: number;
  baseDir: string;
  binDir: string;
  /** tablespace oid → remote folder */
  tablespaces: Map<number, string>;
  /** folders createNode made (removed by destroy); folders that existed empty are emptied instead */
  created: string[];
  emptied: string[];
  startTimeoutSeconds: number;
}

/**
 * One restored node on a remote host. Layout under its base folder: `data/` (the data
 * directory), `wal-spool/` (WAL prefetched for restore_command), `server.log`, and the
 * server's unix socket. Everything goes over the host's one SSH connection; nothing is written
 * on this machine.
 */
export class SshNode implements ProvisionedNode {
  readonly nodeId: string;
  readonly host: string;
  readonly port: number;
  readonly dataDir: string;
  readonly walSpoolDir: string;
  readonly logFile: string;
  readonly socketDir: string;
  private destroyed = false;

  constructor(
    private readonly session: () => Promise<SshSession>,
    private readonly layout: SshNodeLayout,
    private readonly onDestroyed: () => void,
  ) {
    this.nodeId = layout.nodeId;
    this.host = layout.host;
    this.port = layout.port;
    this.dataDir = posix.join(layout.baseDir, 'data');
    this.walSpoolDir = posix.join(layout.baseDir, 'wal-spool');
    this.logFile = posix.join(layout.baseDir, 'server.log');
    this.socketDir = layout.baseDir;
  }

  async extractArchive(into: ArchiveTarget, archive: StoredArchive, onBytes?: (bytes: number) => void): Promise<void> {
    const dir = into.kind === 'data' ? this.dataDir : this.layout.tablespaces.get(into.oid);
    if (dir === undefined) {
      archive.stream.destroy();
      throw new TidemarkError(
        'invalid_input',
        `Node ${this.nodeId} has no folder for tablespace ${into.kind === 'tablespace' ? into.oid : ''}; give it a location in the restore settings.`,
      );
    }
    const what =
      into.kind === 'data'
        ? `the base backup of node ${this.nodeId}`
        : `tablespace ${into.oid} of node ${this.nodeId}`;
    let session: SshSession;
    try {
      session = await this.session();
    } catch (err) {
      archive.stream.destroy();
      throw err;
    }
    // Decompressed here: the target host needs nothing but tar. The guard's failure reaches the
    // remote side as a destroyed input; the source's own error too.
    const guard = tarEntryGuard(what);
    const feeding = pipeline(archive.stream, createDecompressor(archive.compression), new ByteCounter(onBytes), guard);
    // Drain after a successful extract: tar may stop at the end-of-archive blocks before EOF.
    const script = `tar -x -f - -C ${shellQuote(dir)} && exec cat >/dev/null`;
    const [fed, ran] = await Promise.allSettled([feeding, session.exec(script, { input: guard, maxStdoutBytes: 64 * 1024 })]);
    // What went wrong on this side (a chunk that does not authenticate, an unsafe entry) says more than the remote tar's broken input.
    if (fed.status === 'rejected' && fed.reason instanceof TidemarkError) throw fed.reason;
    if (ran.status === 'rejected') throw ran.reason;
    if (ran.value.code !== 0) throw remoteFailure(`Extracting ${what} into ${dir}`, session.label, ran.value);
    if (fed.status === 'rejected') throw fed.reason;
  }

  async writeDataFile(relativePath: string, content: string | Buffer, mode = 0o600): Promise<void> {
    await writeRemoteFileAtomically(
      await this.session(),
      this.dataPath(relativePath),
      content,
      mode,
    );
  }

  async readDataFile(relativePath: string): Promise<Buffer | null> {
    return readRemoteFile(await this.session(), this.dataPath(relativePath));
  }

  async removeDataFile(relativePath: string): Promise<void> {
    await removeRemoteFile(await this.session(), this.dataPath(relativePath));
  }

  async putSpoolFile(name: string, content: Readable | Buffer): Promise<void> {
    if (name !== spoolPlanFile && !spoolNamePattern.test(name)) {
      if (!Buffer.isBuffer(content)) content.destroy();
      throw new TidemarkError(
        'invalid_input',
        `"${name}" is not a WAL file name; only WAL segments, history files and the plan go into the spool of node ${this.nodeId}.`,
      );
    }
    await writeRemoteFileAtomically(
      await this.session(),
      posix.join(this.walSpoolDir, name),
      content,
      0o600,
    );
  }

  async listSpool(): Promise<string[]> {
    // Dot files are the plan, the restore_command's markers and temp names of files in transit.
    return (await listRemoteFolder(await this.session(), this.walSpoolDir))
      .filter((name) => !name.startsWith('.'))
      .sort();
  }

  async clearSpool(): Promise<void> {
    const session = await this.session();
    await session.run(
      `rm -rf ${shellQuote(this.walSpoolDir)}`,
      `Removing the WAL spool of node ${this.nodeId}`,
    );
  }

  restoreCommand(): string {
    return buildRestoreCommand(this.walSpoolDir);
  }

  async start(): Promise<void> {
    const session = await this.session();
    // The provisioner owns the port and the socket folder (its tunnel connects there); the rest
    // of the configuration, listen_addresses included, is the restore's postgresql.auto.conf.
    const serverOptions = ['-p', String(this.port), '-k', this.socketDir].map(shellQuote).join(' ');
    const data = shellQuote(this.dataDir);
    // Already running: nothing to do. `-w` returns once the server accepts connections (in
    // recovery: at consistency, as a hot standby) or fails with the reason in the log.
    const script =
      `if ${this.pgCtl()} -D ${data} status >/dev/null 2>&1; then exit 0; fi; ` +
      `exec ${this.pgCtl()} -D ${data} -l ${shellQuote(this.logFile)} -w -t ${this.layout.startTimeoutSeconds} -o ${shellQuote(serverOptions)} start`;
    const result = await session.exec(script);
    if (result.code === 0) return;
    const log = await this.logTail(30).catch(() => '');
    const error = remoteFailure(
      `Starting the server of node ${this.nodeId}`,
      session.label,
      result,
    );
    const stillStarting = /did not start in time/.test(result.stdout + result.stderr);
    throw new TidemarkError(
      error.code,
      stillStarting
        ? `The server of node ${this.nodeId} on ${session.label} did not accept connections within ${this.layout.startTimeoutSeconds} s (it may still be replaying WAL). Its log ends with:\n${log}`
        : `${error.message}\nThe server log (${this.logFile}) ends with:\n${log}`,
      { details: { ...error.details, logTail: log } },
    );
  }

  async stop(mode: 'fast' | 'immediate' = 'fast'): Promise<void> {
    const session = await this.session();
    const data = shellQuote(this.dataDir);
    await session.run(
      `if ${this.pgCtl()} -D ${data} status >/dev/null 2>&1; then ${this.pgCtl()} -D ${data} -m ${mode} -w -t 120 stop; fi`,
      `Stopping the server of node ${this.nodeId}`,
    );
  }

  async isRunning(): Promise<boolean> {
    const session = await this.session();
    const result = await session.exec(`${this.pgCtl()} -D ${shellQuote(this.dataDir)} status`);
    // pg_ctl status: 0 running, 3 not running, 4 no usable data directory
    return result.code === 0;
  }

  async logTail(lines = 50): Promise<string> {
    const session = await this.session();
    const count = Math.max(1, Math.min(10_000, Math.floor(lines)));
    return session.run(
      `if [ -f ${shellQuote(this.logFile)} ]; then tail -n ${count} ${shellQuote(this.logFile)}; fi`,
      `Reading the server log of node ${this.nodeId}`,
    );
  }

  async connectionConfig(database: string): Promise<pg.ClientConfig> {
    const session = await this.session();
    const socketPath = unixSocketPath(this.socketDir, this.port);
    // Through the node's unix socket: the only way in while the node is isolated (no TCP listener).
    const open = (): ReturnType<SshSession['openUnixSocket']> => session.openUnixSocket(socketPath);
    return {
      host: this.host,
      port: this.port,
      database,
      stream: () => new SshTunnelSocket(open),
    };
  }

  async destroy(): Promise<void> {
    if (this.destroyed) return;
    const session = await this.session();
    await this.stop('immediate');
    const removals = [
      ...this.layout.created.map((dir) => `rm -rf ${shellQuote(dir)}`),
      // folders that existed (empty) before the restore stay, emptied
      ...this.layout.emptied.map(
        (dir) => `find ${shellQuote(dir)} -mindepth 1 -maxdepth 1 -exec rm -rf {} +`,
      ),
    ];
    if (removals.length > 0)
      await session.run(removals.join(' && '), `Removing the folders of node ${this.nodeId}`);
    this.destroyed = true;
    this.onDestroyed();
  }

  private pgCtl(): string {
    return shellQuote(posix.join(this.layout.binDir, 'pg_ctl'));
  }

  private dataPath(relativePath: string): string {
    const path = safeRelativePath(relativePath);
    if (path === null || path === '') {
      throw new TidemarkError(
        'invalid_input',
        `"${relativePath}" is not a path inside the data directory of node ${this.nodeId}.`,
      );
    }
    return posix.join(this.dataDir, path);
  }
}
