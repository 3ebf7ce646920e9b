import { create } from 'zustand';
import { errorMessage } from '../api/api-error.js';
import { call } from '../api/call.js';
import type { AppInfo } from '../api/types.js';
import { reportLoadError } from './load-error.js';

interface AppInfoState {
  info: AppInfo | null;
  /** why the last load failed, shown where the info would be */
  error: string | null;
}

export const useAppInfoStore = create<AppInfoState>()(() => ({ info: null, error: null }));

export async function loadAppInfo(): Promise<void> {
  try {
    useAppInfoStore.setState({ info: await call('app.info', {}), error: null });
  } catch (err) {
    useAppInfoStore.setState({ error: errorMessage(err) });
    reportLoadError(err);
  }
}
