import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { chmod, chown, open, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import { TidemarkError } from '../errors.js';
import { extractArchiveOffThread } from './archive-extract.js';
import type { ArchiveTarget, NodeSpec, ProvisionedNode, StoredArchive } from './provisioner.js';
import { buildRestoreCommand } from './restore-command.js';
import type { ServerUser } from './server-user.js';

export interface LocalNodeOptions {
  spec: NodeSpec;
  port: number;
  host: string;
  binDir: string;
  serverUser: ServerUser;
  walWaitSeconds?: number;
  /** called once the node is destroyed (the provisioner releases its port) */
  onDestroyed?: () => void;
}

/** Folder layout of a local node under its base folder. */
export function localNodeLayout(baseDir: string): { dataDir: string; walSpoolDir: string; socketDir: string; logFile: string } {
  return {
    dataDir: join(baseDir, 'data'),
    walSpoolDir: join(baseDir, 'wal-spool'),
    socketDir: join(baseDir, 'run'),
    logFile: join(baseDir, 'server.log'),
  };
}

const startTimeoutMs = 60_000;
const stopTimeoutMs = 60_000;

/** A restored node on this machine: files under its base folder, the server run as a detached process. */
export class LocalNode implements ProvisionedNode {
  readonly nodeId: string;
  readonly host: string;
  readonly port: number;
  readonly dataDir: string;
  readonly walSpoolDir: string;
  readonly socketDir: string;
  readonly logFile: string;
  private destroyed = false;

  constructor(private readonly options: LocalNodeOptions) {
    const layout = localNodeLayout(options.spec.baseDir);
    this.nodeId = options.spec.nodeId;
    this.host = options.host;
    this.port = options.port;
    this.dataDir = layout.dataDir;
    this.walSpoolDir = layout.walSpoolDir;
    this.socketDir = layout.socketDir;
    this.logFile = layout.logFile;
  }

  async extractArchive(into: ArchiveTarget, archive: StoredArchive, onBytes?: (bytes: number) => void): Promise<void> {
    await extractArchiveOffThread(this.targetDir(into), archive.stream, { compression: archive.compression, owner: this.options.serverUser.owner, ...(onBytes ? { onBytes } : {}) });
  }

  async writeDataFile(relativePath: string, content: string | Buffer, mode = 0o600): Promise<void> {
    await this.writeAtomically(this.dataPath(relativePath), content, mode);
  }

  async readDataFile(relativePath: string): Promise<Buffer | null> {
    try {
      return await readFile(this.dataPath(relativePath));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
  }

  async removeDataFile(relativePath: string): Promise<void> {
    await rm(this.dataPath(relativePath), { force: true });
  }

  async putSpoolFile(name: string, content: Readable | Buffer): Promise<void> {
    if (name.includes('/') || name.includes('\\') || name === '' || name === '.' || name === '..') {
      throw new TidemarkError('invalid_input', `"${name}" is not a spool file name.`);
    }
    const target = join(this.walSpoolDir, name);
    const temp = join(this.walSpoolDir, `.${name}.${randomBytes(4).toString('hex')}.tmp`);
    try {
      if (Buffer.isBuffer(content)) await writeFile(temp, content, { mode: 0o600 });
      else await pipeline(content, createWriteStream(temp, { mode: 0o600, highWaterMark: 1024 * 1024 }));
      await this.own(temp);
      await rename(temp, target);
    } catch (err) {
      await rm(temp, { force: true });
      if ((err as NodeJS.ErrnoException).code === 'ENOSPC') {
        throw new TidemarkError('disk_full', `The disk holding ${this.walSpoolDir} is full; free space or lower the WAL prefetch window, then restore again.`, { cause: err });
      }
      throw err;
    }
  }

  async listSpool(): Promise<string[]> {
    return (await readdir(this.walSpoolDir)).filter((name) => !name.startsWith('.'));
  }

  async clearSpool(): Promise<void> {
    await rm(this.walSpoolDir, { recursive: true, force: true });
  }

  restoreCommand(): string {
    return buildRestoreCommand(this.walSpoolDir, this.options.walWaitSeconds === undefined ? {} : { waitSeconds: this.options.walWaitSeconds });
  }

  /** Starts the server detached (it outlives Tidemark) and returns once its postmaster is up. */
  async start(): Promise<void> {
    if (await this.isRunning()) return;
    const log = await open(this.logFile, 'a', 0o640);
    const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('PG')));
    const [command, args] = this.options.serverUser.wrap(join(this.options.binDir, 'postgres'), ['-D', this.dataDir]);
    let exited: string | null = null;
    try {
      const child = spawn(command, args, { detached: true, stdio: ['ignore', log.fd, log.fd], env, cwd: this.options.spec.baseDir });
      child.on('error', (err) => (exited = err.message));
      child.on('exit', (code, signal) => (exited = signal ? `signal ${signal}` : `exit code ${code}`));
      child.unref();
    } finally {
      await log.close();
    }
    const deadline = Date.now() + startTimeoutMs;
    while (Date.now() < deadline) {
      if (await this.isRunning()) return;
      if (exited !== null) break;
      await sleep(50);
    }
    const tail = await this.logTail(20);
    throw new TidemarkError('internal', `The restored server of node ${this.nodeId} did not start (${exited ?? 'no postmaster after 60 s'}). Its log ends with:\n${tail}`);
  }

  async stop(mode: 'fast' | 'immediate' = 'fast'): Promise<void> {
    const pid = await this.postmasterPid();
    if (pid === null || !alive(pid)) return;
    process.kill(pid, mode === 'fast' ? 'SIGINT' : 'SIGQUIT');
    const deadline = Date.now() + stopTimeoutMs;
    while (alive(pid)) {
      if (Date.now() > deadline) {
        process.kill(pid, 'SIGKILL');
        await sleep(200);
        break;
      }
      await sleep(50);
    }
  }

  async isRunning(): Promise<boolean> {
    const pid = await this.postmasterPid();
    return pid !== null && alive(pid);
  }

  async logTail(lines = 50): Promise<string> {
    try {
      const handle = await open(this.logFile, 'r');
      try {
        const { size } = await handle.stat();
        const length = Math.min(size, 256 * 1024);
        const buffer = Buffer.alloc(length);
        await handle.read(buffer, 0, length, size - length);
        return buffer.toString('utf8').split('\n').filter((l) => l !== '').slice(-lines).join('\n');
      } finally {
        await handle.close();
      }
    } catch {
      return '';
    }
  }

  async connectionConfig(database: string): Promise<pg.ClientConfig> {
    return { host: this.socketDir, port: this.port, database };
  }

  async destroy(): Promise<void> {
    if (this.destroyed) return;
    await this.stop('immediate');
    await rm(this.options.spec.baseDir, { recursive: true, force: true });
    for (const path of Object.values(this.options.spec.tablespaces)) await rm(path, { recursive: true, force: true });
    this.destroyed = true;
    this.options.onDestroyed?.();
  }

  private targetDir(into: { kind: 'data' } | { kind: 'tablespace'; oid: number }): string {
    if (into.kind === 'data') return this.dataDir;
    const path = this.options.spec.tablespaces[into.oid];
    if (!path) throw new TidemarkError('invalid_input', `No new location was given for tablespace ${into.oid} of node ${this.nodeId}.`);
    return path;
  }

  private dataPath(relativePath: string): string {
    if (relativePath === '' || relativePath.startsWith('/') || relativePath.split('/').includes('..')) {
      throw new TidemarkError('invalid_input', `"${relativePath}" is not a path inside the data directory.`);
    }
    return join(this.dataDir, relativePath);
  }

  private async writeAtomically(path: string, content: string | Buffer, mode: number): Promise<void> {
    const temp = join(dirname(path), `.${randomBytes(4).toString('hex')}.tmp`);
    try {
      await writeFile(temp, content, { mode });
      await chmod(temp, mode);
      await this.own(temp);
      await rename(temp, path);
    } catch (err) {
      await rm(temp, { force: true });
      throw err;
    }
  }

  private async own(path: string): Promise<void> {
    const owner = this.options.serverUser.owner;
    if (owner) await chown(path, owner.uid, owner.gid);
  }

  private async postmasterPid(): Promise<number | null> {
    const text = await readFile(join(this.dataDir, 'postmaster.pid'), 'utf8').catch(() => null);
    const pid = text === null ? Number.NaN : Number.parseInt(text.split('\n')[0] ?? '', 10);
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
