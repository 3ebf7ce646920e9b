import type ElectronStore from 'electron-store';
import { TidemarkError } from '../engine/errors.js';
import {
  settingsSchema,
  type Settings,
  type SettingsPatch,
} from '../engine/settings/settings-schema.js';
import { applySettingsPatch, type SettingsStore } from '../engine/settings/settings-store.js';

/** Settings in electron-store's file under userData, validated by the same zod schema. */
export class ElectronSettingsStore implements SettingsStore {
  private constructor(private readonly store: ElectronStore<{ settings?: unknown }>) {}

  /** electron-store is ESM-only: load it with import() from the CommonJS main bundle. */
  static async open(): Promise<ElectronSettingsStore> {
    const { default: Store } = await import('electron-store');
    return new ElectronSettingsStore(new Store<{ settings?: unknown }>({ name: 'settings' }));
  }

  /** The settings right now; synchronous because window-close decisions cannot wait. */
  current(): Settings {
    const parsed = settingsSchema.safeParse(this.store.get('settings') ?? {});
    if (!parsed.success) {
      throw new TidemarkError(
        'invalid_input',
        `The settings file ${this.store.path} is invalid (${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}); fix or remove it.`,
      );
    }
    return parsed.data;
  }

  async get(): Promise<Settings> {
    return this.current();
  }

  async update(patch: SettingsPatch): Promise<Settings> {
    const next = applySettingsPatch(this.current(), patch);
    this.store.set('settings', next);
    return next;
  }
}
