import { readFileSync } from 'node:fs';
import { chown, mkdir, open, symlink, type FileHandle } from 'node:fs/promises';
import { dirname, isAbsolute, join, normalize, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { TidemarkError } from '../errors.js';
import { safeRelativePath } from './tar-safety.js';

export interface FileOwner {
  uid: number;
  gid: number;
}

export interface TarExtractOptions {
  /** chown every created entry (Tidemark runs as root, the server as `postgres`) */
  owner?: FileOwner | null;
  signal?: AbortSignal;
  /** called with the bytes of file content written so far (cumulative) */
  onBytes?: (bytes: number) => void;
}

/** Pieces are gathered into one vectored write of this size: fewer calls through libuv's threads, no copy (measured ~15% less CPU than 64 KiB). */
const writeBatchBytes = 1024 * 1024;

/** Files from this size on are flushed to disk when complete; smaller ones are left to PostgreSQL's start (one flush each would cost more than their bytes). */
const flushFileBytes = 1024 * 1024;

/**
 * The umask files are created under, from /proc (process.umask() would briefly change it for
 * every thread), read at the first extraction; null where unknown, and then every file gets an
 * explicit chmod.
 */
let umask: number | null | undefined;

function currentUmask(): number | null {
  if (umask !== undefined) return umask;
  try {
    const match = /^Umask:\s*([0-7]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    umask = match ? Number.parseInt(match[1]!, 8) : null;
  } catch {
    umask = null;
  }
  return umask;
}

/**
 * Extracts a plain tar stream (a base-backup archive) into `dir`, keeping file modes. Refuses
 * entries that would land outside `dir` (absolute names, `..`), hard links and devices, and
 * symbolic links that point outside `dir`.
 */
export async function extractTarInto(
  dir: string,
  input: Readable,
  options: TarExtractOptions = {},
): Promise<{ files: number; bytes: number }> {
  const extract = tar.extract();
  const feeding = pipeline(input, extract, { signal: options.signal });
  feeding.catch(() => undefined); // surfaced below through the iterator or the final await
  let files = 0;
  let bytes = 0;
  const writes = new WritePipeline();
  const createdDirs = new Set<string>([dir]);
  const ensureDir = async (path: string, mode = 0o700): Promise<void> => {
    if (createdDirs.has(path)) return;
    await ensureDir(dirname(path));
    await mkdir(path, { mode }).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw err;
    });
    if (options.owner) await chown(path, options.owner.uid, options.owner.gid);
    createdDirs.add(path);
  };

  try {
    for await (const entry of extract) {
      const { header } = entry;
      const target = safeTarget(dir, header.name);
      if (target === dir) {
        entry.resume();
        continue;
      }
      const mode = (header.mode ?? 0o600) & 0o777;
      switch (header.type) {
        case 'directory':
          await ensureDir(target, mode | 0o700);
          entry.resume();
          break;
        case 'file':
        case 'contiguous-file':
        case null:
        case undefined: {
          await ensureDir(dirname(target));
          await writeEntry(
            writes,
            target,
            entry as unknown as AsyncIterable<Buffer>,
            mode,
            options.owner ?? null,
            (n) => {
              bytes += n;
              options.onBytes?.(bytes);
            },
          );
          files += 1;
          break;
        }
        case 'symlink': {
          const link = header.linkname ?? '';
          if (
            link === '' ||
            isAbsolute(link) ||
            normalize(join(dirname(header.name), link))
              .split(/[\\/]/)
              .includes('..')
          ) {
            throw new TidemarkError(
              'unsupported',
              `The backup contains the symbolic link "${header.name}" → "${link}", which points outside the data directory; it cannot be restored to a new host. Replace the link by the file on the source, take a new base backup, and restore again.`,
            );
          }
          await ensureDir(dirname(target));
          await symlink(link, target);
          if (options.owner)
            await chown(target, options.owner.uid, options.owner.gid).catch(() => undefined);
          entry.resume();
          break;
        }
        default:
          throw new TidemarkError(
            'corrupt_object',
            `The backup archive holds "${header.name}" of type ${header.type}, which a base backup never contains; the archive is damaged or not a base backup.`,
          );
      }
    }
    await feeding;
    await writes.drain();
  } catch (err) {
    input.destroy();
    extract.destroy();
    await writes.drain().catch(() => undefined);
    throw err;
  }
  return { files, bytes };
}

function safeTarget(dir: string, name: string): string {
  const clean = safeRelativePath(name);
  if (clean === null) {
    throw new TidemarkError(
      'corrupt_object',
      `The backup archive holds the entry "${name}", which would be written outside the target folder; refusing to extract it.`,
    );
  }
  if (clean === '') return dir;
  const target = join(dir, clean);
  if (!target.startsWith(dir.endsWith(sep) ? dir : dir + sep)) {
    throw new TidemarkError(
      'corrupt_object',
      `The backup archive holds the entry "${name}", which would be written outside the target folder; refusing to extract it.`,
    );
  }
  return target;
}

/**
 * Writes issued without waiting for each other (positional writes, several files at once), within
 * a budget of bytes and operations: a restore is bound by how fast the disk takes data, and one
 * awaited write at a time leaves it idle while the next chunk is parsed.
 */
class WritePipeline {
  private readonly inFlight = new Set<Promise<void>>();
  private bytesInFlight = 0;
  private failure: unknown = null;

  constructor(
    private readonly maxBytes = 8 * 1024 * 1024,
    private readonly maxOperations = 64,
  ) {}

  /** Queues `task`; waits while the budget is spent. `done` never rejects (failures surface in check/drain). */
  async submit(bytes: number, task: () => Promise<void>): Promise<{ done: Promise<void> }> {
    while (
      this.inFlight.size > 0 &&
      (this.bytesInFlight + bytes > this.maxBytes || this.inFlight.size >= this.maxOperations)
    ) {
      await Promise.race(this.inFlight);
    }
    this.check();
    this.bytesInFlight += bytes;
    const tracked: Promise<void> = task()
      .catch((err: unknown) => {
        this.failure ??= err;
      })
      .finally(() => {
        this.bytesInFlight -= bytes;
        this.inFlight.delete(tracked);
      });
    this.inFlight.add(tracked);
    return { done: tracked };
  }

  check(): void {
    if (this.failure) throw this.failure;
  }

  async drain(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.all([...this.inFlight]);
    this.check();
  }
}

async function writeEntry(
  pipelineOfWrites: WritePipeline,
  path: string,
  entry: AsyncIterable<Buffer>,
  mode: number,
  owner: FileOwner | null,
  onWritten: (bytes: number) => void,
): Promise<number> {
  const handle = await open(path, 'w', mode).catch((err: unknown) => {
    throw diskError(err, path);
  });
  const writes: Promise<void>[] = [];
  let position = 0;
  try {
    if (owner) await handle.chown(owner.uid, owner.gid);
    let batch: Buffer[] = [];
    let batchBytes = 0;
    const flush = async (): Promise<void> => {
      if (batchBytes === 0) return;
      const pieces = batch;
      const length = batchBytes;
      const at = position;
      position += length;
      batch = [];
      batchBytes = 0;
      const { done } = await pipelineOfWrites.submit(length, async () => {
        await writeAllAt(handle, pieces, at).catch((err: unknown) => {
          throw diskError(err, path);
        });
        onWritten(length);
      });
      writes.push(done);
    };
    for await (const chunk of entry) {
      batch.push(chunk);
      batchBytes += chunk.length;
      if (batchBytes >= writeBatchBytes) await flush();
    }
    await flush();
  } catch (err) {
    await Promise.all(writes);
    await handle.close().catch(() => undefined);
    throw diskError(err, path);
  }
  // Closing waits for this file's writes; the next entry is parsed meanwhile.
  await pipelineOfWrites.submit(0, async () => {
    try {
      await Promise.all(writes);
      pipelineOfWrites.check();
      // open() applied the umask; the archive's mode is what PostgreSQL expects
      const mask = currentUmask();
      if (mask === null || (mode & mask) !== 0) await handle.chmod(mode);
      // Flushed now, while later files are still being unpacked, so PostgreSQL's sync of the
      // data directory at start finds them clean (0.4 s less per GB at start, measured).
      if (position >= flushFileBytes) await handle.datasync();
    } catch (err) {
      throw diskError(err, path);
    } finally {
      await handle.close();
    }
  });
  return position;
}

function diskError(err: unknown, path: string): unknown {
  if ((err as NodeJS.ErrnoException).code === 'ENOSPC') {
    return new TidemarkError(
      'disk_full',
      `The disk holding ${dirname(path)} is full; free space or choose another folder for the restored node, then restore again.`,
      { cause: err },
    );
  }
  return err;
}

/** Writes `pieces` one after another at `position`, with as few calls as the system allows. */
async function writeAllAt(handle: FileHandle, pieces: Buffer[], position: number): Promise<void> {
  let rest = pieces;
  let at = position;
  while (rest.length > 0) {
    const { bytesWritten } = await handle.writev(rest, at);
    at += bytesWritten;
    let skipped = bytesWritten;
    let i = 0;
    while (i < rest.length && skipped >= rest[i]!.length) skipped -= rest[i++]!.length;
    rest = rest.slice(i);
    if (skipped > 0) rest[0] = rest[0]!.subarray(skipped);
  }
}
