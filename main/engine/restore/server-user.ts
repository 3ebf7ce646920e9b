import { execFile } from 'node:child_process';
import { userInfo } from 'node:os';
import { promisify } from 'node:util';
import type { FileOwner } from './tar-extract.js';

const exec = promisify(execFile);

/**
 * The OS user a locally restored server runs as. PostgreSQL refuses to run as root, so when
 * Tidemark runs as root the server runs as `postgres` (through `runuser`) and every file
 * Tidemark creates for it is handed to that user.
 */
export interface ServerUser {
  /** OS user the server runs as */
  name: string;
  /** OS user running Tidemark (connects over the socket with peer auth) */
  tidemarkUser: string;
  /** set when files must be chowned to the server user */
  owner: FileOwner | null;
  /** the command line that runs `command args` as the server user */
  wrap(command: string, args: string[]): [string, string[]];
}

export const rootServerUserName = 'postgres';

export async function resolveServerUser(): Promise<ServerUser> {
  const me = userInfo().username;
  if (process.getuid?.() !== 0) {
    return { name: me, tidemarkUser: me, owner: null, wrap: (command, args) => [command, args] };
  }
  const [uid, gid] = await Promise.all([idOf('-u'), idOf('-g')]);
  return {
    name: rootServerUserName,
    tidemarkUser: me,
    owner: { uid, gid },
    wrap: (command, args) => ['runuser', ['-u', rootServerUserName, '--', command, ...args]],
  };
}

async function idOf(flag: '-u' | '-g'): Promise<number> {
  try {
    const { stdout } = await exec('id', [flag, rootServerUserName]);
    const value = Number.parseInt(stdout.trim(), 10);
    if (Number.isInteger(value)) return value;
  } catch {
    // reported below
  }
  throw new Error(`Tidemark runs as root, and PostgreSQL refuses to run as root, but there is no "${rootServerUserName}" OS user to run the restored server as. Install PostgreSQL's server package (it creates that user) or run Tidemark as a regular user.`);
}
