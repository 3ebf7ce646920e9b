import { readFile, stat } from 'node:fs/promises';
import { TidemarkError } from '../../engine/errors.js';

/**
 * A secret from a file only its owner may read (like ssh, a file others can read is refused:
 * the secret may already be copied). One trailing newline is dropped.
 */
export async function readSecretFile(path: string, what: string): Promise<string> {
  let info;
  try {
    info = await stat(path);
  } catch {
    throw new TidemarkError('not_found', `The file ${path} with ${what} does not exist.`);
  }
  if (process.platform !== 'win32' && (info.mode & 0o077) !== 0) {
    throw new TidemarkError(
      'permission_denied',
      `The file ${path} with ${what} can be read by other users; run "chmod 600 ${path}" and try again.`,
    );
  }
  const value = (await readFile(path, 'utf8')).replace(/\r?\n$/, '');
  if (value === '')
    throw new TidemarkError('invalid_input', `The file ${path} is empty; it should hold ${what}.`);
  return value;
}

/**
 * Asks for a secret on the terminal without echoing it. Only on a TTY: a secret must never
 * come from a command-line argument, where `ps` would show it.
 */
export async function promptSecret(
  question: string,
  options: { confirm?: boolean } = {},
): Promise<string> {
  const first = await readHidden(question);
  if (options.confirm) {
    const second = await readHidden('Repeat it: ');
    if (first !== second)
      throw new TidemarkError(
        'invalid_input',
        'The two entries differ; nothing was changed. Try again.',
      );
  }
  return first;
}

export function canPrompt(): boolean {
  return process.stdin.isTTY === true && typeof process.stdin.setRawMode === 'function';
}

function readHidden(question: string): Promise<string> {
  const input = process.stdin;
  if (!canPrompt()) {
    return Promise.reject(
      new TidemarkError(
        'invalid_input',
        'A passphrase is needed and there is no terminal to ask on; use --passphrase-file or the environment variable named in the help.',
      ),
    );
  }
  process.stderr.write(question);
  return new Promise((resolve, reject) => {
    let value = '';
    const finish = (error?: Error) => {
      input.setRawMode(false);
      input.pause();
      input.off('data', onData);
      process.stderr.write('\n');
      if (error) reject(error);
      else resolve(value);
    };
    const onData = (chunk: Buffer) => {
      for (const char of chunk.toString('utf8')) {
        if (char === '\r' || char === '\n') return finish();
        if (char === '\u0003') return finish(new TidemarkError('cancelled', 'Cancelled.'));
        if (char === '\u007f' || char === '\b') value = [...value].slice(0, -1).join('');
        else if (char >= ' ') value += char;
      }
    };
    input.setRawMode(true);
    input.resume();
    input.on('data', onData);
  });
}
