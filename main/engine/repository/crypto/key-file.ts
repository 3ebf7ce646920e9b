import { open } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { TidemarkError } from '../../errors.js';
import { KEK_LENGTH } from './scrypt-kdf.js';

const banner = [
  '# Tidemark repository key file. Whoever holds this file and the keyring can read the',
  "# repository's backups: keep it readable by you only (chmod 600) and keep a copy offline.",
];
const base64Key = /^[A-Za-z0-9+/]{43}=$/;

/** Writes a new key file (32 random bytes, base64) readable by its owner only; never overwrites. */
export async function createKeyFile(path: string): Promise<void> {
  const key = randomBytes(KEK_LENGTH);
  const text = `${banner.join('\n')}\n${key.toString('base64')}\n`;
  key.fill(0);
  let handle;
  try {
    handle = await open(path, 'wx', 0o600);
  } catch (err) {
    throw fileError(path, err, 'create');
  }
  try {
    await handle.writeFile(text, 'utf8');
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * The 32 key bytes of a key file. Like ssh with a private key, refuses a file that group or
 * others may access: such a key may already be copied. (Windows has no such mode bits.)
 */
export async function readKeyFile(path: string): Promise<Buffer> {
  let handle;
  try {
    handle = await open(path, 'r');
  } catch (err) {
    throw fileError(path, err, 'read');
  }
  try {
    const info = await handle.stat();
    if (!info.isFile())
      throw new TidemarkError(
        'invalid_input',
        `Key file ${path} is not a regular file. Choose the key file itself.`,
      );
    if (process.platform !== 'win32' && (info.mode & 0o077) !== 0) {
      const mode = (info.mode & 0o777).toString(8).padStart(4, '0');
      throw new TidemarkError(
        'invalid_input',
        `Key file ${path} is accessible to other users (mode ${mode}), so Tidemark refuses it. Run "chmod 600 ${path}" and try again.`,
        { details: { path, mode } },
      );
    }
    if (info.size > 4096) throw notAKeyFile(path);
    const text = await handle.readFile('utf8');
    const lines = text
      .split(/\r?\n/)
      .map((line) => line.trim())
      .filter((line) => line !== '' && !line.startsWith('#'));
    if (lines.length !== 1 || !base64Key.test(lines[0] as string)) throw notAKeyFile(path);
    return Buffer.from(lines[0] as string, 'base64');
  } finally {
    await handle.close();
  }
}

function notAKeyFile(path: string): TidemarkError {
  return new TidemarkError(
    'invalid_input',
    `${path} is not a Tidemark key file (one line of base64 holding 32 bytes). Choose the key file created for this repository.`,
  );
}

function fileError(path: string, err: unknown, action: 'read' | 'create'): TidemarkError {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT' && action === 'read') {
    return new TidemarkError(
      'not_found',
      `Key file ${path} does not exist. Check the key file path in the repository settings, or restore the file from your offline copy.`,
      { details: { path } },
    );
  }
  if (code === 'ENOENT') {
    return new TidemarkError(
      'not_found',
      `Cannot create key file ${path}: its folder does not exist. Create the folder first.`,
      { details: { path } },
    );
  }
  if (code === 'EEXIST') {
    return new TidemarkError(
      'conflict',
      `Key file ${path} already exists; Tidemark never overwrites a key. Choose another path.`,
      { details: { path } },
    );
  }
  if (code === 'EACCES' || code === 'EPERM') {
    return new TidemarkError(
      'permission_denied',
      `Cannot ${action} key file ${path}: permission denied. Check the file's owner and permissions.`,
      { details: { path } },
    );
  }
  return new TidemarkError(
    'internal',
    `Cannot ${action} key file ${path}: ${(err as Error).message}`,
    { cause: err, details: { path } },
  );
}
