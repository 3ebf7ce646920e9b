import { app } from 'electron';
import { startSettingsSchedules } from '../engine/agent/settings-schedules.js';
import type { Engine } from '../engine/engine.js';
import type { ElectronSettingsStore } from './electron-settings-store.js';
import { electronNotifier } from './notifications.js';

export interface SchedulerHost {
  /** Ends scheduling gracefully (running tasks finish or are cancelled, WAL streams flush). */
  stop(): Promise<void>;
}

/**
 * Runs the clusters' schedules, WAL streams and notifications while the app is open (in the
 * tray too, when the window closes with `desktop.runInBackground`), and applies
 * `desktop.startAtLogin`. The work itself is the engine's (`engine/agent/settings-schedules`).
 */
export function startSchedulerHost(engine: Engine, settings: ElectronSettingsStore): SchedulerHost {
  app.setLoginItemSettings({ openAtLogin: settings.current().desktop.startAtLogin });
  // Not awaited: the window must not wait for every cluster's streams to start.
  const running = startSettingsSchedules({ engine, notifier: electronNotifier(() => settings.current()) });
  running.catch((err: unknown) => engine.logger.error({ err }, 'the schedules could not start'));
  return {
    async stop() {
      const schedules = await running.catch(() => null);
      // Quitting should be quick: a task still running after 2 s is cancelled and caught up next time.
      await schedules?.stop({ graceMs: 2_000, timeoutMs: 15_000 });
    },
  };
}
