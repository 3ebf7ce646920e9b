import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { TidemarkError } from '../errors.js';
import { settingsSchema, type Settings, type SettingsPatch } from './settings-schema.js';

/** The settings port: electron-store in the desktop app, a JSON file headless. */
export interface SettingsStore {
  get(): Promise<Settings>;
  update(patch: SettingsPatch): Promise<Settings>;
}

/** Merges a patch into settings (one level deep) and validates the result. */
export function applySettingsPatch(current: Settings, patch: SettingsPatch): Settings {
  const merged: Record<string, unknown> = { ...current };
  for (const [key, value] of Object.entries(patch)) {
    const prev = merged[key];
    merged[key] =
      value && typeof value === 'object' && !Array.isArray(value) && prev && typeof prev === 'object' && !Array.isArray(prev)
        ? { ...prev, ...value }
        : value;
  }
  const parsed = settingsSchema.safeParse(merged);
  if (!parsed.success) {
    throw new TidemarkError('invalid_input', `Invalid settings: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  }
  return parsed.data;
}

/** Settings as a JSON file in the config directory, written atomically with mode 0600. */
export class JsonFileSettingsStore implements SettingsStore {
  private cache: Settings | null = null;
  private chain: Promise<unknown> = Promise.resolve();

  constructor(private readonly path: string) {}

  async get(): Promise<Settings> {
    if (this.cache) return structuredClone(this.cache);
    let raw: unknown = {};
    try {
      raw = JSON.parse(await readFile(this.path, 'utf8'));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw new TidemarkError('invalid_input', `The settings file ${this.path} is not valid JSON; fix or remove it.`, { cause: err });
      }
    }
    const parsed = settingsSchema.safeParse(raw);
    if (!parsed.success) {
      throw new TidemarkError('invalid_input', `The settings file ${this.path} is invalid: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    }
    this.cache = parsed.data;
    return structuredClone(parsed.data);
  }

  update(patch: SettingsPatch): Promise<Settings> {
    const next = this.chain.then(async () => {
      const updated = applySettingsPatch(await this.get(), patch);
      await mkdir(dirname(this.path), { recursive: true, mode: 0o700 });
      const tmp = `${this.path}.tmp-${process.pid}`;
      await writeFile(tmp, `${JSON.stringify(updated, null, 2)}\n`, { mode: 0o600 });
      await rename(tmp, this.path);
      this.cache = updated;
      return structuredClone(updated);
    });
    this.chain = next.catch(() => undefined);
    return next;
  }
}
