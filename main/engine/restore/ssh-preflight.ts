import {
  binDirCandidates,
  libraryFileStem,
  isPlainExtensionName,
  requiredServerPrograms,
} from './pg-install-checks.js';
import { shellQuote } from './restore-command.js';

/**
 * What one round trip of `sh` on a target host tells about it: who we are, the PostgreSQL
 * installation, the folders the nodes will use, the ports in use. Gathered with plain POSIX
 * tools (id, ls, df, ss or /proc/net/tcp) so a minimal server needs nothing installed.
 */
export interface HostFacts {
  uid: number | null;
  binDir: string | null;
  programs: Set<string>;
  versionOutput: string;
  pkglibdir: string | null;
  sharedir: string | null;
  /** library stem → installed */
  libraries: Map<string, boolean>;
  /** extension name → control file present */
  extensions: Map<string, boolean>;
  paths: Map<string, PathFacts>;
  listeningPorts: Set<number>;
  tar: string | null;
}

export interface PathFacts {
  state: 'absent' | 'empty' | 'nonempty' | 'notdir' | 'unreadable';
  /** the folder itself (or its nearest existing parent when absent) is writable */
  writable: boolean;
  /** free bytes on its file system (null when df failed) */
  freeBytes: number | null;
  /** mount point of that file system */
  mount: string;
}

export interface PreflightInput {
  /** configured bin dir; null detects it */
  binDir: string | null;
  majorVersion: number;
  libraries: string[];
  extensions: string[];
  /** absolute folders to inspect */
  paths: string[];
}

/** The inspection script. Every value from outside is single-quoted; the output is `key<TAB>…` lines. */
export function preflightScript(input: PreflightInput): string {
  const words = (values: string[]): string => values.map(shellQuote).join(' ');
  const libraries = input.libraries.map(libraryFileStem).filter((l): l is string => l !== null);
  const extensions = input.extensions.filter(isPlainExtensionName);
  const t = "'\\t'";
  return [
    `T=$(printf ${t})`,
    'echo "uid${T}$(id -u)"',
    `bin=${shellQuote(input.binDir ?? '')}`,
    `if [ -z "$bin" ]; then for d in ${words(binDirCandidates(input.majorVersion))}; do if [ -x "$d/postgres" ]; then bin="$d"; break; fi; done; fi`,
    // on PATH: follow a symlink (/usr/local/bin/postgres → …/15/bin/postgres) to find the installation's lib and share folders
    'if [ -z "$bin" ]; then p=$(command -v postgres 2>/dev/null) && { p=$(readlink -f "$p" 2>/dev/null || echo "$p"); bin=$(dirname "$p"); }; fi',
    'echo "bin${T}$bin"',
    'libdir=; sharedir=',
    'if [ -n "$bin" ]; then',
    `  for t in ${words([...requiredServerPrograms])}; do if [ -x "$bin/$t" ]; then echo "program\${T}$t"; fi; done`,
    '  if [ -x "$bin/postgres" ]; then echo "version${T}$("$bin/postgres" --version 2>&1 | head -n 1)"; fi',
    '  if [ -x "$bin/pg_config" ]; then libdir=$("$bin/pg_config" --pkglibdir 2>/dev/null); sharedir=$("$bin/pg_config" --sharedir 2>/dev/null); fi',
    // Without pg_config (Debian ships it in the client package): the packages' own layouts.
    '  top=$(dirname "$bin")',
    '  if [ -z "$libdir" ] && [ -d "$top/lib" ]; then libdir="$top/lib"; fi',
    `  if [ -z "$sharedir" ]; then for d in "$top/share" ${shellQuote(`/usr/share/postgresql/${input.majorVersion}`)}; do if [ -d "$d/extension" ]; then sharedir="$d"; break; fi; done; fi`,
    'fi',
    'echo "pkglibdir${T}$libdir"; echo "sharedir${T}$sharedir"',
    `for l in ${words(libraries)}; do if [ -n "$libdir" ] && [ -f "$libdir/$l.so" ]; then echo "lib\${T}$l\${T}yes"; else echo "lib\${T}$l\${T}no"; fi; done`,
    `for e in ${words(extensions)}; do if [ -n "$sharedir" ] && [ -f "$sharedir/extension/$e.control" ]; then echo "ext\${T}$e\${T}yes"; else echo "ext\${T}$e\${T}no"; fi; done`,
    `for d in ${words(input.paths)}; do`,
    '  if [ ! -e "$d" ]; then st=absent; elif [ ! -d "$d" ]; then st=notdir; elif [ ! -r "$d" ] || [ ! -x "$d" ]; then st=unreadable; elif [ -z "$(ls -A "$d" 2>/dev/null)" ]; then st=empty; else st=nonempty; fi',
    '  a="$d"; while [ ! -e "$a" ]; do a=$(dirname "$a"); done',
    '  w=no; if [ -d "$a" ] && [ -w "$a" ] && [ -x "$a" ]; then w=yes; fi',
    '  df=$(df -Pk "$a" 2>/dev/null | awk \'NR==2 {print $4 "\\t" $NF}\')',
    '  echo "path${T}$d${T}$st${T}$w${T}$df"',
    'done',
    'if command -v ss >/dev/null 2>&1; then ss -ltn 2>/dev/null | awk \'NR>1 {print "listen\\t" $4}\';',
    'else for f in /proc/net/tcp /proc/net/tcp6; do if [ -r "$f" ]; then awk \'NR>1 && $4=="0A" {print "listenhex\\t" $2}\' "$f"; fi; done; fi',
    'if command -v tar >/dev/null 2>&1; then echo "tar${T}$(command -v tar)"; fi',
    'exit 0',
  ].join('\n');
}

export function parsePreflight(stdout: string): HostFacts {
  const facts: HostFacts = {
    uid: null,
    binDir: null,
    programs: new Set(),
    versionOutput: '',
    pkglibdir: null,
    sharedir: null,
    libraries: new Map(),
    extensions: new Map(),
    paths: new Map(),
    listeningPorts: new Set(),
    tar: null,
  };
  for (const line of stdout.split('\n')) {
    const [key, ...fields] = line.split('\t');
    const first = fields[0] ?? '';
    switch (key) {
      case 'uid':
        facts.uid = /^\d+$/.test(first) ? Number(first) : null;
        break;
      case 'bin':
        facts.binDir = first || null;
        break;
      case 'program':
        facts.programs.add(first);
        break;
      case 'version':
        facts.versionOutput = fields.join('\t');
        break;
      case 'pkglibdir':
        facts.pkglibdir = first || null;
        break;
      case 'sharedir':
        facts.sharedir = first || null;
        break;
      case 'lib':
        facts.libraries.set(first, fields[1] === 'yes');
        break;
      case 'ext':
        facts.extensions.set(first, fields[1] === 'yes');
        break;
      case 'path': {
        const [path, state, writable, free, mount] = fields;
        if (!path) break;
        const kb = free !== undefined && /^\d+$/.test(free) ? Number(free) : null;
        facts.paths.set(path, {
          state:
            (['absent', 'empty', 'nonempty', 'notdir', 'unreadable'] as const).find(
              (s) => s === state,
            ) ?? 'unreadable',
          writable: writable === 'yes',
          freeBytes: kb === null ? null : kb * 1024,
          mount: mount ?? '',
        });
        break;
      }
      case 'listen': {
        const port = Number(/:(\d+)$/.exec(first)?.[1]);
        if (port > 0) facts.listeningPorts.add(port);
        break;
      }
      case 'listenhex': {
        const port = parseInt(first.split(':')[1] ?? '', 16);
        if (port > 0) facts.listeningPorts.add(port);
        break;
      }
      case 'tar':
        facts.tar = first || null;
        break;
    }
  }
  return facts;
}
