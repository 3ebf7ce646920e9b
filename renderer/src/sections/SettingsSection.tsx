import { AppInfoPanel } from '../components/AppInfoPanel.js';
import { RepositoriesPanel } from '../components/repositories/RepositoriesPanel.js';
import { ToggleField } from '../components/ToggleField.js';
import type { LogLevel, Settings } from '../api/types.js';
import { useAppInfoStore } from '../state/app-info-store.js';
import { updateSettings, useSettingsStore } from '../state/settings-store.js';

const logLevels: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'];

const desktopToggles: ReadonlyArray<{
  key: keyof Settings['desktop'];
  label: string;
  description: string;
}> = [
  {
    key: 'runInBackground',
    label: 'Keep running in the background',
    description:
      'When the window closes, Tidemark stays in the tray so schedules and WAL streaming go on.',
  },
  {
    key: 'startAtLogin',
    label: 'Start at login',
    description: 'Starts Tidemark, in the background, when you log in.',
  },
  {
    key: 'notifications',
    label: 'Notifications',
    description: 'Tells you when a backup or restore ends or fails.',
  },
];

export function SettingsSection() {
  const settings = useSettingsStore((state) => state.settings);
  const error = useSettingsStore((state) => state.error);
  const saving = useSettingsStore((state) => state.saving);
  const shell = useAppInfoStore((state) => state.info?.shell);
  const desktopShell = shell === 'desktop';

  return (
    <section className="section" data-testid="section-settings">
      <h1>Settings</h1>

      <RepositoriesPanel />

      <h2>About</h2>
      <AppInfoPanel />

      {settings === null ? (
        <p className="muted">
          {error ? `Settings could not be loaded: ${error}` : 'Loading settings…'}
        </p>
      ) : (
        <>
          <h2>Desktop</h2>
          {!desktopShell && (
            <p className="note" data-testid="desktop-settings-note">
              These apply to the desktop app only. In the browser, Tidemark runs as long as{' '}
              <code>tidemark web</code> runs.
            </p>
          )}
          <div className="fields">
            {desktopToggles.map(({ key, label, description }) => (
              <ToggleField
                key={key}
                label={label}
                description={description}
                checked={settings.desktop[key]}
                disabled={!desktopShell || saving}
                testId={`setting-${key}`}
                onChange={(checked) => void updateSettings({ desktop: { [key]: checked } })}
              />
            ))}
          </div>

          <h2>Logging</h2>
          <div className="field">
            <label htmlFor="log-level">Log level</label>
            <select
              id="log-level"
              data-testid="setting-logging-level"
              value={settings.logging.level}
              disabled={saving}
              onChange={(event) =>
                void updateSettings({ logging: { level: event.target.value as LogLevel } })
              }
            >
              {logLevels.map((level) => (
                <option key={level} value={level}>
                  {level}
                </option>
              ))}
            </select>
            <p className="field-description">
              How much the engine writes to its log. <code>debug</code> and <code>trace</code> help
              with a problem report; secrets are never logged.
            </p>
          </div>
        </>
      )}
    </section>
  );
}
