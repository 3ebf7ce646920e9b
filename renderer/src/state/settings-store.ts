import { create } from 'zustand';
import { errorMessage } from '../api/api-error.js';
import { call } from '../api/call.js';
import type { Settings, SettingsPatch } from '../api/types.js';
import { reportLoadError } from './load-error.js';
import { reportError } from './toast-store.js';

interface SettingsState {
  settings: Settings | null;
  error: string | null;
  /** an update is on its way: controls wait for its answer instead of guessing */
  saving: boolean;
}

export const useSettingsStore = create<SettingsState>()(() => ({
  settings: null,
  error: null,
  saving: false,
}));

export async function loadSettings(): Promise<void> {
  try {
    useSettingsStore.setState({ settings: await call('settings.get', {}), error: null });
  } catch (err) {
    useSettingsStore.setState({ error: errorMessage(err) });
    reportLoadError(err);
  }
}

/** Sends a change; the controls show what the engine answers, not what was asked. */
export async function updateSettings(patch: SettingsPatch): Promise<void> {
  useSettingsStore.setState({ saving: true });
  try {
    useSettingsStore.setState({ settings: await call('settings.update', patch), error: null });
  } catch (err) {
    reportError(err);
  } finally {
    useSettingsStore.setState({ saving: false });
  }
}
