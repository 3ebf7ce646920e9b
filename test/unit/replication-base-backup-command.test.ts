import { describe, expect, it } from 'vitest';
import { buildBaseBackupCommand } from '../../main/engine/replication/base-backup-command.js';

describe('buildBaseBackupCommand', () => {
  it('uses the parenthesised PostgreSQL 15 grammar', () => {
    expect(buildBaseBackupCommand({ label: 'tidemark full' })).toBe(
      "BASE_BACKUP (LABEL 'tidemark full', PROGRESS, CHECKPOINT 'fast', WAIT false, MANIFEST 'yes', MANIFEST_CHECKSUMS 'SHA256', TABLESPACE_MAP, TARGET 'client')",
    );
  });

  it('adds compression, detail and rate', () => {
    const text = buildBaseBackupCommand({
      label: 'x',
      compression: 'zstd',
      compressionDetail: 'level=3,workers=2',
      maxRateKbPerSec: 1024,
    });
    expect(text).toContain(
      "COMPRESSION 'zstd', COMPRESSION_DETAIL 'level=3,workers=2', MAX_RATE 1024)",
    );
    expect(buildBaseBackupCommand({ label: 'x', compression: 'lz4' })).toContain(
      "COMPRESSION 'lz4'",
    );
    expect(buildBaseBackupCommand({ label: 'x', compression: 'none' })).not.toContain(
      'COMPRESSION',
    );
  });

  it('lets the caller choose the manifest checksums', () => {
    expect(buildBaseBackupCommand({ label: 'x', manifestChecksums: 'CRC32C' })).toContain("MANIFEST_CHECKSUMS 'CRC32C'");
    expect(() => buildBaseBackupCommand({ label: 'x', manifestChecksums: 'MD5' as never })).toThrow(/manifest checksum/);
  });

  it('quotes the label so it cannot end the literal', () => {
    expect(buildBaseBackupCommand({ label: "it's\\" })).toContain("LABEL 'it''s\\'");
  });

  it('refuses bad input', () => {
    expect(() => buildBaseBackupCommand({ label: '' })).toThrow(/label/);
    expect(() => buildBaseBackupCommand({ label: 'a\0b' })).toThrow(/label/);
    expect(() => buildBaseBackupCommand({ label: 'x', compression: 'brotli' as never })).toThrow(
      /compression/,
    );
    expect(() =>
      buildBaseBackupCommand({
        label: 'x',
        compression: 'lz4',
        compressionDetail: "1', MAX_RATE 32",
      }),
    ).toThrow(/detail/);
    expect(() => buildBaseBackupCommand({ label: 'x', compressionDetail: 'level=1' })).toThrow(
      /needs a compression/,
    );
    for (const rate of [31, 1_048_577, 100.5])
      expect(() => buildBaseBackupCommand({ label: 'x', maxRateKbPerSec: rate })).toThrow(
        /rate limit/,
      );
  });
});
