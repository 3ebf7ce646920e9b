import { TidemarkError } from '../errors.js';

export const backupCompressions = ['none', 'lz4', 'zstd', 'gzip'] as const;
export type BackupCompression = (typeof backupCompressions)[number];

/** What the server may checksum each file with in the manifest (pg_verifybackup checks them). */
export const manifestChecksumAlgorithms = ['CRC32C', 'SHA224', 'SHA256', 'SHA384', 'SHA512'] as const;
export type ManifestChecksumAlgorithm = (typeof manifestChecksumAlgorithms)[number];

export interface BaseBackupCommandOptions {
  label: string;
  /** server-side compression of the archives (not the manifest); default none */
  compression?: BackupCompression;
  /** e.g. `level=3,workers=2` (zstd), `level=1` (lz4, gzip) */
  compressionDetail?: string;
  /** server-side rate limit in kB/s (32 to 1048576) */
  maxRateKbPerSec?: number;
  /**
   * the manifest's per-file checksums (default SHA256). The server computes them on its one
   * backup thread: CRC32C costs next to nothing, SHA-256 about a second per 1.5 GB.
   */
  manifestChecksums?: ManifestChecksumAlgorithm;
}

const detailPattern = /^[a-z0-9_=,.-]+$/;

/**
 * BASE_BACKUP in the parenthesised grammar of PostgreSQL 15+: fast checkpoint, no wait for
 * archiving (the WAL comes from Tidemark's own stream), SHA-256 manifest, tablespace map.
 */
export function buildBaseBackupCommand(options: BaseBackupCommandOptions): string {
  if (options.label.length === 0 || options.label.length > 1024 || options.label.includes('\0')) {
    throw new TidemarkError(
      'invalid_input',
      'A backup label must be 1 to 1024 characters without NUL.',
    );
  }
  const parts = [
    `LABEL ${quoteLiteral(options.label)}`,
    'PROGRESS',
    "CHECKPOINT 'fast'",
    'WAIT false',
    "MANIFEST 'yes'",
    `MANIFEST_CHECKSUMS ${quoteLiteral(manifestChecksums(options.manifestChecksums))}`,
    'TABLESPACE_MAP',
    "TARGET 'client'",
  ];
  const compression = options.compression ?? 'none';
  if (!(backupCompressions as readonly string[]).includes(compression)) {
    throw new TidemarkError(
      'invalid_input',
      `Unknown backup compression "${compression}": use none, lz4, zstd or gzip.`,
    );
  }
  if (compression !== 'none') {
    parts.push(`COMPRESSION ${quoteLiteral(compression)}`);
    if (options.compressionDetail !== undefined) {
      if (!detailPattern.test(options.compressionDetail)) {
        throw new TidemarkError(
          'invalid_input',
          `Compression detail "${options.compressionDetail}" is not valid: use the form level=3,workers=2.`,
        );
      }
      parts.push(`COMPRESSION_DETAIL ${quoteLiteral(options.compressionDetail)}`);
    }
  } else if (options.compressionDetail !== undefined) {
    throw new TidemarkError('invalid_input', 'A compression detail needs a compression method.');
  }
  if (options.maxRateKbPerSec !== undefined) {
    const rate = options.maxRateKbPerSec;
    if (!Number.isInteger(rate) || rate < 32 || rate > 1_048_576) {
      throw new TidemarkError(
        'invalid_input',
        `A base backup rate limit must be a whole number of kB/s from 32 to 1048576, not ${rate}.`,
      );
    }
    parts.push(`MAX_RATE ${rate}`);
  }
  return `BASE_BACKUP (${parts.join(', ')})`;
}

function manifestChecksums(algorithm: ManifestChecksumAlgorithm | undefined): ManifestChecksumAlgorithm {
  const chosen = algorithm ?? 'SHA256';
  if (!(manifestChecksumAlgorithms as readonly string[]).includes(chosen)) {
    throw new TidemarkError('invalid_input', `Unknown manifest checksum "${chosen}": use ${manifestChecksumAlgorithms.join(', ')}.`);
  }
  return chosen;
}

/** A string literal for the replication grammar: quotes doubled, backslashes literal. */
function quoteLiteral(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}
