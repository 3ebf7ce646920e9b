/**
 * The secrets port. Names are paths such as `repository/<id>/passphrase` or
 * `cluster/<id>/password`. Values never leave the main process: the API reports only
 * whether a secret is set.
 */
export interface SecretStore {
  /** which backend holds the secrets, for the settings page */
  describe(): SecretBackendInfo;
  get(name: string): Promise<string | undefined>;
  set(name: string, value: string): Promise<void>;
  delete(name: string): Promise<void>;
  has(name: string): Promise<boolean>;
}

export interface SecretBackendInfo {
  backend: 'safe-storage' | 'env-or-file' | 'memory';
  writable: boolean;
  /** why secrets cannot be stored, if they cannot */
  problem?: string;
}

export const secretNamePattern = /^[a-z0-9][a-z0-9._-]*(\/[a-z0-9._-]+)*$/i;

/** Secrets held in memory only: for tests and for values passed on the command line. */
export class MemorySecretStore implements SecretStore {
  private readonly values = new Map<string, string>();
  describe(): SecretBackendInfo {
    return { backend: 'memory', writable: true };
  }
  async get(name: string): Promise<string | undefined> {
    return this.values.get(name);
  }
  async set(name: string, value: string): Promise<void> {
    this.values.set(name, value);
  }
  async delete(name: string): Promise<void> {
    this.values.delete(name);
  }
  async has(name: string): Promise<boolean> {
    return this.values.has(name);
  }
}
