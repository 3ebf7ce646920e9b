import { readdir, readFile, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { RepositoryManager } from '../../main/engine/repository/repository-manager.js';
import { MemorySecretStore, type SecretStore } from '../../main/engine/secrets/secret-store.js';
import { JsonFileSettingsStore } from '../../main/engine/settings/settings-store.js';

/** Cheap scrypt so tests unlock in milliseconds (production uses N=2^17). */
export const testScrypt = { N: 2 ** 10, r: 8, p: 1 };

/** A RepositoryManager over its own settings file and data folder, as on a fresh machine. */
export function managerIn(
  dir: string,
  secrets: SecretStore = new MemorySecretStore(),
): { manager: RepositoryManager; secrets: SecretStore; dataDir: string } {
  const dataDir = join(dir, 'data');
  const manager = new RepositoryManager({
    settings: new JsonFileSettingsStore(join(dir, 'config', 'settings.json')),
    secrets,
    dataDir,
    keyringOptions: { scrypt: testScrypt },
  });
  return { manager, secrets, dataDir };
}

/** Every file under `root` (relative path → size and content hash input), to prove nothing changed. */
export async function snapshotFiles(root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (dir: string): Promise<void> => {
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) await walk(path);
      else
        out[relative(root, path)] =
          `${(await stat(path)).size}:${(await readFile(path)).toString('base64').slice(0, 64)}`;
    }
  };
  await walk(root);
  return out;
}

/** Object keys held by a folder zone (its files, minus temp files). */
export async function folderKeys(root: string): Promise<string[]> {
  return Object.keys(await snapshotFiles(root))
    .filter((k) => !k.split('/').some((part) => part.startsWith('.')))
    .sort();
}
