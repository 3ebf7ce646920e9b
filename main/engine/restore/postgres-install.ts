import { execFile } from 'node:child_process';
import { access, constants } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { promisify } from 'node:util';
import { binDirCandidates, libraryFileStem, parsePostgresMajor } from './pg-install-checks.js';

const exec = promisify(execFile);

/** PostgreSQL server binaries of one major version on this machine, and where its libraries live. */
export interface PostgresInstall {
  binDir: string;
  /** `15.8` */
  version: string;
  major: number;
  /** `pg_config --pkglibdir`: shared libraries (citus.so) */
  pkgLibDir: string;
  /** `pg_config --sharedir`: extension control files under extension/ */
  shareDir: string;
}

export interface InstallSearch {
  install: PostgresInstall | null;
  /** every folder looked at, with what was found there */
  tried: string[];
}

const exe = process.platform === 'win32' ? '.exe' : '';

/**
 * Finds server binaries of `major`: `PG_BIN`, the configured folder, `pg_config --bindir` on the
 * PATH, then the usual package locations. Each is checked with `postgres --version`.
 */
export async function findPostgresInstall(major: number, configured?: string, env: NodeJS.ProcessEnv = process.env): Promise<InstallSearch> {
  const onPath = await pgConfigValue('pg_config', '--bindir');
  const dirs = [env.PG_BIN, configured, onPath, ...binDirCandidates(major)].filter((d): d is string => typeof d === 'string' && d !== '');
  const tried: string[] = [];
  for (const binDir of [...new Set(dirs)]) {
    const version = await serverVersion(binDir);
    if (version === null) {
      tried.push(`${binDir} (no postgres binary)`);
      continue;
    }
    if (parsePostgresMajor(`(PostgreSQL) ${version}`) !== major) {
      tried.push(`${binDir} (PostgreSQL ${version})`);
      continue;
    }
    const pgConfig = join(binDir, `pg_config${exe}`);
    const pkgLibDir = (await pgConfigValue(pgConfig, '--pkglibdir')) ?? join(binDir, '..', 'lib');
    const shareDir = (await pgConfigValue(pgConfig, '--sharedir')) ?? join(binDir, '..', 'share');
    return { install: { binDir, version, major, pkgLibDir, shareDir }, tried };
  }
  return { install: null, tried };
}

/** `15.8` from `postgres (PostgreSQL) 15.8 (Debian 15.8-1.pgdg120+1)`; null when there is no server binary. */
export async function serverVersion(binDir: string): Promise<string | null> {
  try {
    const { stdout } = await exec(join(binDir, `postgres${exe}`), ['--version'], { timeout: 10_000 });
    return /\(PostgreSQL\)\s+(\d+(?:\.\d+)?)/.exec(stdout)?.[1] ?? null;
  } catch {
    return null;
  }
}

/** Entries of `shared_preload_libraries` that have no library file in this install. */
export async function missingLibraries(install: PostgresInstall, libraries: readonly string[]): Promise<string[]> {
  const missing: string[] = [];
  for (const library of libraries) {
    const stem = libraryFileStem(library);
    const candidates = stem === null ? (isAbsolute(library) ? [library, `${library}.so`, `${library}.dylib`] : []) : ['.so', '.dylib', '.dll'].map((ext) => join(install.pkgLibDir, `${stem}${ext}`));
    if (!(await anyReadable(candidates))) missing.push(library);
  }
  return missing;
}

/** Extensions whose control file is not installed for this install. */
export async function missingExtensions(install: PostgresInstall, extensions: readonly string[]): Promise<string[]> {
  const missing: string[] = [];
  for (const name of new Set(extensions)) {
    if (!(await anyReadable([join(install.shareDir, 'extension', `${name}.control`)]))) missing.push(name);
  }
  return missing;
}

async function anyReadable(paths: string[]): Promise<boolean> {
  for (const path of paths) {
    try {
      await access(path, constants.R_OK);
      return true;
    } catch {
      // try the next
    }
  }
  return false;
}

async function pgConfigValue(pgConfig: string, flag: string): Promise<string | null> {
  try {
    const { stdout } = await exec(pgConfig, [flag], { timeout: 10_000 });
    const value = stdout.trim();
    return value === '' ? null : value;
  } catch {
    return null;
  }
}
