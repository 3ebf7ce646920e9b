import { chmod, mkdir, readFile, rm, stat, writeFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { TidemarkError } from '../errors.js';
import { secretNamePattern, type SecretBackendInfo, type SecretStore } from './secret-store.js';

/** `repository/abc/passphrase` → `TIDEMARK_SECRET_REPOSITORY_ABC_PASSPHRASE` */
export function secretEnvName(name: string): string {
  return `TIDEMARK_SECRET_${name.toUpperCase().replace(/[^A-Z0-9]+/g, '_')}`;
}

/**
 * Headless secrets: an environment variable wins; otherwise a file under `dir` that only
 * its owner can read (mode 0600). A file readable by others is refused, as ssh does.
 */
export class EnvFileSecretStore implements SecretStore {
  constructor(
    private readonly dir: string,
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {}

  describe(): SecretBackendInfo {
    return { backend: 'env-or-file', writable: true };
  }

  async get(name: string): Promise<string | undefined> {
    const fromEnv = this.env[secretEnvName(checkName(name))];
    if (fromEnv !== undefined) return fromEnv;
    const path = this.pathOf(name);
    let info;
    try {
      info = await stat(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    if (process.platform !== 'win32' && (info.mode & 0o077) !== 0) {
      throw new TidemarkError(
        'permission_denied',
        `The secret file ${path} can be read by other users; run "chmod 600 ${path}" and try again.`,
      );
    }
    return (await readFile(path, 'utf8')).replace(/\r?\n$/, '');
  }

  async set(name: string, value: string): Promise<void> {
    const path = this.pathOf(name);
    await mkdir(join(path, '..'), { recursive: true, mode: 0o700 });
    const tmp = `${path}.tmp-${process.pid}`;
    await writeFile(tmp, value, { mode: 0o600 });
    await chmod(tmp, 0o600);
    await rename(tmp, path);
  }

  async delete(name: string): Promise<void> {
    await rm(this.pathOf(name), { force: true });
  }

  async has(name: string): Promise<boolean> {
    return (await this.get(name)) !== undefined;
  }

  private pathOf(name: string): string {
    return join(this.dir, ...checkName(name).split('/'));
  }
}

function checkName(name: string): string {
  if (!secretNamePattern.test(name) || name.split('/').some((p) => p === '..' || p === '.')) {
    throw new TidemarkError('invalid_input', `Invalid secret name "${name}".`);
  }
  return name;
}
