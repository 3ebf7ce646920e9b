import { execFile } from 'node:child_process';
import { chmod, mkdir } from 'node:fs/promises';
import { promisify } from 'node:util';

const exec = promisify(execFile);

const decompressFlags: Record<'none' | 'lz4' | 'zstd' | 'gzip', string[]> = {
  none: [],
  lz4: ['--use-compress-program=lz4'],
  zstd: ['--zstd'],
  gzip: ['--gzip'],
};

/**
 * Extracts a PostgreSQL base-backup tar (server-side compressed or not) with the system's `tar`
 * into `dest`, then hands `dest` to the postgres OS user with mode 0700 as a data directory needs.
 */
export async function extractTarForPostgres(
  archive: string,
  dest: string,
  compression: keyof typeof decompressFlags = 'none',
): Promise<void> {
  await mkdir(dest, { recursive: true });
  await exec('tar', [...decompressFlags[compression], '-x', '-f', archive, '-C', dest], {
    maxBuffer: 16 * 1024 * 1024,
  });
  if (process.getuid?.() === 0) await exec('chown', ['-R', 'postgres:postgres', dest]);
  await chmod(dest, 0o700);
}
