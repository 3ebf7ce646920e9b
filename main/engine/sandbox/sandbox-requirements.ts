import { access, constants } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { TidemarkError } from '../errors.js';
import {
  findPostgresInstall,
  missingExtensions,
  missingLibraries,
  type PostgresInstall,
} from '../restore/postgres-install.js';

/** Newest first: the sandbox uses the newest PostgreSQL that has Citus. */
export const sandboxMajors = [18, 17, 16, 15] as const;

/** Programs the sandbox runs besides the server (which LocalNode starts). */
const neededPrograms = ['initdb', 'postgres'] as const;

export interface SandboxInstallOptions {
  /** a PostgreSQL bin folder chosen by the user */
  binDir?: string;
  env?: NodeJS.ProcessEnv;
}

/**
 * The PostgreSQL installation the sandbox runs on: server binaries of a supported major
 * version with the Citus extension installed for them. When there is none, the error says
 * exactly what is missing where, and how to install it.
 */
export async function findSandboxInstall(
  options: SandboxInstallOptions = {},
): Promise<PostgresInstall> {
  const withoutCitus: { install: PostgresInstall; missing: string[] }[] = [];
  const tried = new Set<string>();
  for (const major of sandboxMajors) {
    const search = await findPostgresInstall(major, options.binDir, options.env);
    for (const place of search.tried) tried.add(place);
    if (!search.install) continue;
    const install = search.install;
    const missingPrograms = await absentPrograms(install.binDir);
    if (missingPrograms.length > 0) {
      throw new TidemarkError(
        'unsupported',
        `PostgreSQL ${install.major} at ${install.binDir} lacks ${missingPrograms.join(' and ')}: install its server package (e.g. postgresql-${install.major} on Debian/Ubuntu, postgresql${install.major}-server on RHEL), then run "tidemark sandbox up" again.`,
      );
    }
    const missing = [
      ...(await missingLibraries(install, ['citus'])).map(() =>
        join(install.pkgLibDir, 'citus.so'),
      ),
      ...(await missingExtensions(install, ['citus'])).map(() =>
        join(install.shareDir, 'extension', 'citus.control'),
      ),
    ];
    if (missing.length === 0) return install;
    withoutCitus.push({ install, missing });
  }
  if (withoutCitus.length > 0) {
    throw new TidemarkError(
      'unsupported',
      withoutCitus.map(({ install, missing }) => missingCitusMessage(install, missing)).join(' '),
      {
        details: { missing: withoutCitus.flatMap((w) => w.missing) },
      },
    );
  }
  throw new TidemarkError(
    'unsupported',
    `No PostgreSQL server binaries of version ${sandboxMajors.at(-1)} to ${sandboxMajors[0]} were found (looked at: ${[...tried].join('; ') || 'nothing'}). The sandbox needs PostgreSQL and the Citus extension: install both (e.g. postgresql-17 and postgresql-17-citus-13.2 on Debian/Ubuntu from the Citus repository, or "brew install citus" on macOS), or give the bin folder with --pg-bin.`,
  );
}

/** "Citus is not installed for PostgreSQL 15 at /usr/lib/postgresql/15: install …" */
export function missingCitusMessage(install: PostgresInstall, missing: readonly string[]): string {
  const major = install.major;
  return `Citus is not installed for PostgreSQL ${major} at ${dirname(install.binDir)}: install the citus package for PostgreSQL ${major} (Debian/Ubuntu: postgresql-${major}-citus-<version> from https://packagecloud.io/citusdata/community; RHEL: citus_${major} from the same repository; macOS: brew install citus), then run "tidemark sandbox up" again. Missing: ${missing.join(' and ')}.`;
}

async function absentPrograms(binDir: string): Promise<string[]> {
  const exe = process.platform === 'win32' ? '.exe' : '';
  const absent: string[] = [];
  for (const program of neededPrograms) {
    try {
      await access(join(binDir, `${program}${exe}`), constants.X_OK);
    } catch {
      absent.push(program);
    }
  }
  return absent;
}
