// `npm start`: the desktop app when the Electron binary is installed, else the web UI.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);

/** The Electron binary's path, or null: require('electron') throws when it was never downloaded. */
function electronBinary() {
  try {
    const path = require('electron');
    return typeof path === 'string' && existsSync(path) ? path : null;
  } catch {
    return null;
  }
}

const electron = electronBinary();
let child;
if (electron) {
  child = spawn(electron, ['.'], { cwd: root, stdio: 'inherit' });
} else {
  console.log(
    'The Electron binary is not installed on this machine, so Tidemark is starting its web UI instead.',
  );
  child = spawn(process.execPath, [join(root, 'bin', 'tidemark.cjs'), 'web'], {
    cwd: root,
    stdio: 'inherit',
  });
}

// Ctrl+C reaches the child through the terminal's process group; forwarding it too would
// count as a second signal and skip the child's graceful stop.
process.on('SIGINT', () => undefined);
process.on('SIGTERM', () => child.kill('SIGTERM'));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
