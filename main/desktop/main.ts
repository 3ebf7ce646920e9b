import { join } from 'node:path';
import { app, dialog, safeStorage, type BrowserWindow } from 'electron';
import { createDispatcher } from '../api/dispatcher.js';
import { createHandlers } from '../api/handlers/index.js';
import { engineEventSource } from '../bridge/engine-events.js';
import { createEngine, type Engine } from '../engine/engine.js';
import { TidemarkError } from '../engine/errors.js';
import { createLogger } from '../engine/log/logger.js';
import { registerAppScheme, serveAppProtocol } from './app-protocol.js';
import { ElectronSettingsStore } from './electron-settings-store.js';
import { hardenWebContents } from './harden-web-contents.js';
import { forwardEvents, registerIpc } from './ipc.js';
import { SafeStorageSecretStore } from './safe-storage-secret-store.js';
import { startSchedulerHost, type SchedulerHost } from './scheduler-host.js';
import { appOrigin } from './security.js';
import { createTray } from './tray.js';
import { createMainWindow } from './window.js';

// The bundle lives in out/desktop; the preload and the renderer are its siblings.
const preloadPath = join(__dirname, '..', 'preload', 'preload.cjs');
const rendererDir = join(__dirname, '..', 'renderer');
const iconPath = join(app.getAppPath(), 'resources', 'icon.png');

let settings: ElectronSettingsStore | null = null;
let window: BrowserWindow | null = null;
let quitting = false;

app.enableSandbox();
registerAppScheme();
// As for the CLI, TIDEMARK_HOME moves everything (tests, portable use); set before the lock.
if (process.env.TIDEMARK_HOME) {
  app.setPath('userData', join(process.env.TIDEMARK_HOME, 'desktop'));
  app.setAppLogsPath(join(process.env.TIDEMARK_HOME, 'desktop', 'logs'));
}

if (!app.requestSingleInstanceLock()) {
  // Another Tidemark already runs: it shows its window (second-instance) and this one ends.
  app.quit();
} else {
  app.on('second-instance', showWindow);
  app.on('activate', showWindow);
  app.on('before-quit', () => {
    quitting = true;
  });
  // In the tray the app keeps its jobs running; otherwise closing the window ends it.
  app.on('window-all-closed', () => {
    if (!settings?.current().desktop.runInBackground) app.quit();
  });
  app.whenReady().then(start).catch(fail);
}

async function start(): Promise<void> {
  const userData = app.getPath('userData');
  settings = await ElectronSettingsStore.open();
  const logger = createLogger({
    dir: app.getPath('logs'),
    level: settings.current().logging.level,
  });
  const engine = await createEngine({
    paths: { config: userData, data: userData, logs: app.getPath('logs') },
    settings,
    secrets: new SafeStorageSecretStore(join(userData, 'secrets.json'), safeStorage),
    logger,
    shell: 'desktop',
    version: app.getVersion(),
    devMethods: !app.isPackaged && process.env.TIDEMARK_DEV_METHODS === '1',
  });
  stopEngineBeforeQuit(engine, startSchedulerHost(engine, settings));
  hardenWebContents();
  serveAppProtocol(rendererDir);
  registerIpc(
    createDispatcher({ handlers: createHandlers(engine), trustedOrigins: [appOrigin], logger }),
  );
  forwardEvents(engineEventSource(engine), () => window?.webContents ?? null);
  createTray(iconPath, { open: showWindow, quit: () => app.quit() });
  showWindow();
  logger.info({ version: app.getVersion() }, 'desktop app started');
}

function showWindow(): void {
  if (!settings) return; // not started yet
  if (window && !window.isDestroyed()) {
    if (window.isMinimized()) window.restore();
    window.show();
    window.focus();
    return;
  }
  const store = settings;
  window = createMainWindow({ preloadPath, iconPath });
  window.on('close', (event) => {
    if (!quitting && store.current().desktop.runInBackground) {
      event.preventDefault();
      window?.hide();
    }
  });
  window.on('closed', () => {
    window = null;
  });
}

/** Schedules stop, running jobs are cancelled and the history saved before the process ends. */
function stopEngineBeforeQuit(engine: Engine, schedules: SchedulerHost): void {
  let stopped = false;
  app.on('will-quit', (event) => {
    if (stopped) return;
    event.preventDefault();
    stopped = true;
    void schedules
      .stop()
      .finally(() => engine.close())
      .finally(() => app.quit());
  });
}

function fail(err: unknown): void {
  const message =
    err instanceof TidemarkError
      ? err.message
      : `An unexpected error occurred: ${err instanceof Error ? err.message : String(err)}`;
  console.error('Tidemark could not start:', err);
  dialog.showErrorBox('Tidemark could not start', message);
  app.exit(1);
}
