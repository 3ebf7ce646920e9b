/**
 * Pure checks of a PostgreSQL installation a restore will run on, shared by the provisioners
 * (each one gathers the facts its own way: the local file system, or a shell over SSH).
 */

/** Where packages put the server binaries of a major version, most common first. */
export function binDirCandidates(major: number): string[] {
  return [
    `/usr/lib/postgresql/${major}/bin`, // Debian, Ubuntu
    `/usr/pgsql-${major}/bin`, // PGDG RPMs
    `/usr/local/pgsql-${major}/bin`,
    `/opt/homebrew/opt/postgresql@${major}/bin`,
    `/usr/local/opt/postgresql@${major}/bin`,
    `/Library/PostgreSQL/${major}/bin`,
    `/usr/local/pgsql/bin`, // source build default
    `/usr/lib/postgresql/bin`,
  ];
}

/** The server programs a restore runs. */
export const requiredServerPrograms = ['postgres', 'pg_ctl'] as const;

/** Major version from `postgres --version` (`postgres (PostgreSQL) 15.10 (Debian …)` → 15). */
export function parsePostgresMajor(versionOutput: string): number | null {
  const match = /\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?/.exec(versionOutput);
  if (!match) return null;
  const first = Number(match[1]);
  // Before 10 the major version had two parts (9.6); those are older than anything supported.
  return first >= 10 ? first : null;
}

const safeName = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;

/**
 * The file name stem of a `shared_preload_libraries` entry (`$libdir/citus`, `citus` → `citus`),
 * or null for a name that is not a plain library name (an absolute path or something odd).
 */
export function libraryFileStem(library: string): string | null {
  const name = library
    .trim()
    .replace(/^\$libdir\//, '')
    .replace(/\.so$/, '');
  return safeName.test(name) ? name : null;
}

/** An extension name that can be looked up as `<sharedir>/extension/<name>.control`. */
export function isPlainExtensionName(name: string): boolean {
  return safeName.test(name);
}

export function wrongMajorProblem(
  where: string,
  found: number | null,
  wanted: number,
  versionOutput: string,
): string {
  const seen =
    found === null
      ? `"${versionOutput.trim().slice(0, 200) || 'no output'}"`
      : `PostgreSQL ${found}`;
  return `${where} has ${seen}, but the backup is PostgreSQL ${wanted}: a data directory only starts with the same major version. Install PostgreSQL ${wanted} server binaries there, or point to their bin folder.`;
}

export function missingLibraryProblem(
  where: string,
  library: string,
  libDir: string,
  major: number,
): string {
  const citus =
    library === 'citus'
      ? ` (the Citus package built for PostgreSQL ${major}, the same Citus version as the source)`
      : '';
  return `The library "${library}" in the source's shared_preload_libraries is not installed for PostgreSQL ${major} on ${where} (no ${libDir}/${library}.so). Install it${citus} before restoring.`;
}

export function missingExtensionProblem(
  where: string,
  extension: string,
  extensionDir: string,
  major: number,
): string {
  return `The extension "${extension}" the source uses is not installed for PostgreSQL ${major} on ${where} (no ${extensionDir}/${extension}.control). Install its package before restoring.`;
}

/** Longest unix socket path (sun_path is 108 bytes on Linux, including the final NUL). */
export const maxUnixSocketPathBytes = 107;

export function unixSocketPath(socketDir: string, port: number): string {
  return `${socketDir}/.s.PGSQL.${port}`;
}
