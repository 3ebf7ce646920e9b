import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { SafeStorage } from 'electron';
import { z } from 'zod';
import { TidemarkError } from '../engine/errors.js';
import {
  secretNamePattern,
  type SecretBackendInfo,
  type SecretStore,
} from '../engine/secrets/secret-store.js';
import { secretStorageProblem } from './security.js';

/** The parts of Electron's safeStorage this store uses (a type only: no Electron import). */
export type SecretEncryptor = Pick<
  SafeStorage,
  'encryptString' | 'decryptString' | 'isEncryptionAvailable' | 'getSelectedStorageBackend'
>;

const fileSchema = z.object({ version: z.literal(1), secrets: z.record(z.string(), z.string()) });

/**
 * Desktop secrets: each value encrypted with the OS keychain/keyring key (Electron
 * safeStorage) and kept base64 in one JSON file only its owner can read (0600). Refuses
 * to work, and says why in describe(), when the OS offers no real encryption.
 */
export class SafeStorageSecretStore implements SecretStore {
  private blobs: Map<string, string> | null = null;
  private chain: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly path: string,
    private readonly encryptor: SecretEncryptor,
    private readonly platform: NodeJS.Platform = process.platform,
  ) {}

  describe(): SecretBackendInfo {
    const problem = this.problem();
    return problem
      ? { backend: 'safe-storage', writable: false, problem }
      : { backend: 'safe-storage', writable: true };
  }

  async get(name: string): Promise<string | undefined> {
    const blob = (await this.load()).get(checkName(name));
    if (blob === undefined) return undefined;
    this.assertUsable();
    try {
      return this.encryptor.decryptString(Buffer.from(blob, 'base64'));
    } catch (err) {
      throw new TidemarkError(
        'corrupt_object',
        `The stored secret "${name}" cannot be decrypted (was the keyring reset?); set it again.`,
        { cause: err },
      );
    }
  }

  async has(name: string): Promise<boolean> {
    return (await this.load()).has(checkName(name));
  }

  async set(name: string, value: string): Promise<void> {
    checkName(name);
    this.assertUsable();
    const blob = this.encryptor.encryptString(value).toString('base64');
    return this.mutate((blobs) => blobs.set(name, blob));
  }

  async delete(name: string): Promise<void> {
    checkName(name);
    return this.mutate((blobs) => blobs.delete(name));
  }

  private problem(): string | null {
    return secretStorageProblem(
      this.platform,
      this.encryptor.isEncryptionAvailable(),
      this.platform === 'linux' ? this.encryptor.getSelectedStorageBackend() : null,
    );
  }

  private assertUsable(): void {
    const problem = this.problem();
    if (problem) throw new TidemarkError('unsupported', problem);
  }

  private async load(): Promise<Map<string, string>> {
    if (this.blobs) return this.blobs;
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      return (this.blobs = new Map());
    }
    const parsed = fileSchema.safeParse(JSON.parse(text));
    if (!parsed.success) {
      throw new TidemarkError(
        'corrupt_object',
        `The secrets file ${this.path} is damaged; move it away and set the secrets again.`,
      );
    }
    return (this.blobs = new Map(Object.entries(parsed.data.secrets)));
  }

  /** Changes are serialized and written atomically, mode 0600. */
  private mutate(change: (blobs: Map<string, string>) => void): Promise<void> {
    const next = this.chain.then(async () => {
      const blobs = new Map(await this.load());
      change(blobs);
      await mkdir(dirname(this.path), { recursive: true, mode: 0o700 });
      const tmp = `${this.path}.tmp-${process.pid}`;
      await writeFile(tmp, JSON.stringify({ version: 1, secrets: Object.fromEntries(blobs) }), {
        mode: 0o600,
      });
      await chmod(tmp, 0o600);
      await rename(tmp, this.path);
      this.blobs = blobs;
    });
    this.chain = next.catch(() => undefined);
    return next;
  }
}

function checkName(name: string): string {
  if (!secretNamePattern.test(name))
    throw new TidemarkError('invalid_input', `Invalid secret name "${name}".`);
  return name;
}
