import { homedir } from 'node:os';
import { join } from 'node:path';

/** Where Tidemark keeps its settings, state and logs. The desktop layer passes Electron's own. */
export interface AppPaths {
  config: string;
  data: string;
  logs: string;
}

/** Headless defaults: XDG on Linux; `TIDEMARK_HOME` puts everything under one folder. */
export function defaultPaths(env: NodeJS.ProcessEnv = process.env): AppPaths {
  if (env.TIDEMARK_HOME) {
    const home = env.TIDEMARK_HOME;
    return { config: join(home, 'config'), data: join(home, 'data'), logs: join(home, 'logs') };
  }
  const base = homedir();
  if (process.platform === 'darwin') {
    const dir = join(base, 'Library', 'Application Support', 'Tidemark');
    return { config: dir, data: dir, logs: join(base, 'Library', 'Logs', 'Tidemark') };
  }
  if (process.platform === 'win32') {
    const dir = join(env.APPDATA ?? join(base, 'AppData', 'Roaming'), 'Tidemark');
    return { config: dir, data: dir, logs: join(dir, 'logs') };
  }
  const config = join(env.XDG_CONFIG_HOME ?? join(base, '.config'), 'tidemark');
  const data = join(env.XDG_DATA_HOME ?? join(base, '.local', 'share'), 'tidemark');
  const state = join(env.XDG_STATE_HOME ?? join(base, '.local', 'state'), 'tidemark');
  return { config, data, logs: join(state, 'logs') };
}
