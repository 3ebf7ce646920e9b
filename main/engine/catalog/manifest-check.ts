import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { z } from 'zod';
import { createDecompressor } from '../compression/decompressor.js';
import { TidemarkError, toErrorInfo, type ErrorInfo } from '../errors.js';
import type { Repository } from '../repository/repository.js';
import { layout } from './layout.js';
import type { BaseBackupRecord } from './records.js';

/** PostgreSQL's `backup_manifest` (versions 1 and 2): the part a check needs. */
const manifestSchema = z.object({
  'PostgreSQL-Backup-Manifest-Version': z.number().int(),
  Files: z.array(
    z
      .object({
        Path: z.string().optional(),
        /** hex of the raw bytes, for names that are not valid UTF-8 */
        'Encoded-Path': z.string().optional(),
        Size: z.number().int(),
        'Checksum-Algorithm': z.string().optional(),
        Checksum: z.string().optional(),
      })
      .refine(
        (f) => f.Path !== undefined || f['Encoded-Path'] !== undefined,
        'a file needs Path or Encoded-Path',
      ),
  ),
  'Manifest-Checksum': z.string().optional(),
});

export interface ManifestFileProblem {
  path: string;
  problem: 'missing' | 'size' | 'checksum';
  expected: { size: number; checksum: string | null };
  actual: { size: number; checksum: string | null } | null;
}

export interface ManifestCheckResult {
  clusterId: string;
  nodeId: string;
  backupId: string;
  filesChecked: number;
  /** uncompressed bytes of file content read */
  bytesChecked: number;
  /** files in the archives the manifest does not list (WAL, the manifest itself…): not checked */
  filesNotInManifest: number;
  /** null when the manifest has no checksum of its own */
  manifestChecksumValid: boolean | null;
  problems: ManifestFileProblem[];
  /** the check could not run to the end (object unreadable, manifest invalid…) */
  error: ErrorInfo | null;
  ok: boolean;
}

export interface ManifestCheckOptions {
  signal?: AbortSignal;
  /** stored (compressed) archive bytes read so far in this check, cumulative */
  onBytes?: (bytes: number) => void;
}

interface ExpectedFile {
  size: number;
  algorithm: string;
  checksum: string | null;
  seen: boolean;
}

/**
 * Reads every archive of a base backup (decrypt, decompress, untar) and compares each file's
 * size and checksum with the backup's own `backup_manifest`, the way `pg_verifybackup` does,
 * without extracting anything to disk.
 */
export async function checkBackupAgainstManifest(
  repository: Repository,
  backup: BaseBackupRecord,
  options: ManifestCheckOptions = {},
): Promise<ManifestCheckResult> {
  const result: ManifestCheckResult = {
    clusterId: backup.clusterId,
    nodeId: backup.nodeId,
    backupId: backup.backupId,
    filesChecked: 0,
    bytesChecked: 0,
    filesNotInManifest: 0,
    manifestChecksumValid: null,
    problems: [],
    error: null,
    ok: false,
  };
  try {
    const manifestKey = layout.backupManifest(backup.clusterId, backup.nodeId, backup.backupId);
    const manifestBytes = await repository.readObject(
      manifestKey,
      options.signal ? { signal: options.signal } : {},
    );
    const { expected, checksumValid } = parseManifest(manifestBytes, manifestKey);
    result.manifestChecksumValid = checksumValid;
    let storedBytes = 0;
    for (const archive of backup.archives) {
      const prefix = archive.tablespaceOid === null ? '' : `pg_tblspc/${archive.tablespaceOid}/`;
      const key = layout.backupArchive(
        backup.clusterId,
        backup.nodeId,
        backup.backupId,
        archive.name,
      );
      const counted = storedBytes;
      const algorithms = new Set([...expected.values()].map((e) => e.algorithm));
      await readArchive(repository, key, backup.compression, {
        algorithms,
        ...(options.signal ? { signal: options.signal } : {}),
        onStoredBytes: (n) => {
          storedBytes = counted + n;
          options.onBytes?.(storedBytes);
        },
        onFile: (path, size, hashes) => {
          const want = expected.get(prefix + path);
          if (!want) {
            result.filesNotInManifest += 1;
            return;
          }
          want.seen = true;
          result.filesChecked += 1;
          result.bytesChecked += size;
          const actual = {
            size,
            checksum: want.checksum === null ? null : hashes.digest(want.algorithm),
          };
          const fields = {
            path: prefix + path,
            expected: { size: want.size, checksum: want.checksum },
            actual,
          };
          if (size !== want.size) result.problems.push({ ...fields, problem: 'size' });
          else if (want.checksum !== null && actual.checksum !== want.checksum)
            result.problems.push({ ...fields, problem: 'checksum' });
        },
      });
    }
    for (const [path, want] of expected) {
      if (!want.seen)
        result.problems.push({
          path,
          problem: 'missing',
          expected: { size: want.size, checksum: want.checksum },
          actual: null,
        });
    }
  } catch (err) {
    if (options.signal?.aborted) throw err;
    result.error = toErrorInfo(err);
  }
  result.ok =
    result.error === null && result.problems.length === 0 && result.manifestChecksumValid !== false;
  return result;
}

function parseManifest(
  bytes: Buffer,
  key: string,
): { expected: Map<string, ExpectedFile>; checksumValid: boolean | null } {
  let parsed;
  try {
    parsed = manifestSchema.safeParse(JSON.parse(bytes.toString('utf8')));
  } catch {
    parsed = null;
  }
  if (!parsed?.success) {
    throw new TidemarkError(
      'corrupt_object',
      `The backup manifest ${key} is not a PostgreSQL backup manifest; take a new base backup of this node.`,
    );
  }
  const expected = new Map<string, ExpectedFile>();
  for (const file of parsed.data.Files) {
    const path = file.Path ?? Buffer.from(file['Encoded-Path']!, 'hex').toString('utf8');
    const algorithm = (file['Checksum-Algorithm'] ?? 'NONE').toUpperCase();
    if (algorithm !== 'NONE' && !supportedAlgorithms.has(algorithm)) {
      throw new TidemarkError(
        'unsupported',
        `The backup manifest ${key} uses the checksum algorithm ${algorithm}, which Tidemark cannot check.`,
      );
    }
    expected.set(path, {
      size: file.Size,
      algorithm,
      checksum: algorithm === 'NONE' ? null : (file.Checksum ?? '').toLowerCase(),
      seen: false,
    });
  }
  const stated = parsed.data['Manifest-Checksum'];
  return {
    expected,
    checksumValid: stated === undefined ? null : manifestChecksum(bytes) === stated.toLowerCase(),
  };
}

/** SHA-256 of everything before the manifest's last line, as PostgreSQL computes it. */
export function manifestChecksum(bytes: Buffer): string {
  const last = bytes.lastIndexOf(0x0a);
  const penultimate = last > 0 ? bytes.lastIndexOf(0x0a, last - 1) : -1;
  return createHash('sha256')
    .update(bytes.subarray(0, penultimate + 1))
    .digest('hex');
}

const nodeHashes: Record<string, string> = {
  SHA224: 'sha224',
  SHA256: 'sha256',
  SHA384: 'sha384',
  SHA512: 'sha512',
};
const supportedAlgorithms = new Set([...Object.keys(nodeHashes), 'CRC32C']);

/** The checksums one file needs, computed in a single pass over its bytes. */
class FileHashes {
  private readonly hashes = new Map<string, Hash>();
  private crc = 0xffffffff;
  private readonly wantCrc: boolean;

  constructor(algorithms: Set<string>) {
    for (const a of algorithms) if (nodeHashes[a]) this.hashes.set(a, createHash(nodeHashes[a]!));
    this.wantCrc = algorithms.has('CRC32C');
  }

  update(chunk: Buffer): void {
    for (const hash of this.hashes.values()) hash.update(chunk);
    if (this.wantCrc) this.crc = crc32cUpdate(this.crc, chunk);
  }

  digest(algorithm: string): string {
    if (algorithm === 'CRC32C') {
      // PostgreSQL writes the CRC's bytes in memory (little-endian) order
      const out = Buffer.alloc(4);
      out.writeUInt32LE((this.crc ^ 0xffffffff) >>> 0);
      return out.toString('hex');
    }
    return this.hashes.get(algorithm)!.digest('hex');
  }
}

const crcTable = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32C (Castagnoli), PostgreSQL's default manifest checksum. */
export function crc32cUpdate(crc: number, data: Buffer): number {
  let c = crc >>> 0;
  for (let i = 0; i < data.length; i++) c = crcTable[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return c >>> 0;
}

interface ArchiveReader {
  algorithms: Set<string>;
  signal?: AbortSignal;
  onStoredBytes: (bytes: number) => void;
  onFile: (path: string, size: number, hashes: FileHashes) => void;
}

/** Streams one archive (decrypt, decompress, untar) and hashes each regular file on the way. */
async function readArchive(
  repository: Repository,
  key: string,
  compression: BaseBackupRecord['compression'],
  reader: ArchiveReader,
): Promise<void> {
  const source = repository.openObject(key, reader.signal ? { signal: reader.signal } : {});
  const extract = tar.extract();
  let stored = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback) {
      stored += chunk.length;
      reader.onStoredBytes(stored);
      done(null, chunk);
    },
  });
  const feeding = pipeline(source, meter, createDecompressor(compression), extract);
  feeding.catch(() => undefined); // surfaced by the iterator or the await below
  try {
    for await (const entry of extract) {
      const type = entry.header.type;
      if (type !== 'file' && type !== 'contiguous-file' && type !== null && type !== undefined) {
        entry.resume();
        continue;
      }
      const hashes = new FileHashes(reader.algorithms);
      let size = 0;
      for await (const chunk of entry as AsyncIterable<Buffer>) {
        size += chunk.length;
        hashes.update(chunk);
      }
      reader.onFile(entry.header.name.replace(/^\.\//, ''), size, hashes);
    }
  } catch (err) {
    source.destroy();
    throw err;
  }
  await feeding;
}
