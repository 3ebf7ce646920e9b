import { randomBytes } from 'node:crypto';
import { posix } from 'node:path';
import { Transform } from 'node:stream';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { SFTPWrapper } from 'ssh2';
import { TidemarkError } from '../errors.js';
import { shellQuote } from './restore-command.js';
import type { SshSession } from './ssh-session.js';
import { remoteFailure } from './ssh-session.js';

/** SFTP status codes ssh2 puts on its errors. */
const noSuchFile = 2;
const permissionDenied = 3;

function sftpCode(err: unknown): number | undefined {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'number' ? code : undefined;
}

function sftpError(what: string, path: string, label: string, err: unknown): TidemarkError {
  const code = sftpCode(err);
  const message = (err as Error).message;
  if (code === permissionDenied) {
    return new TidemarkError(
      'permission_denied',
      `Cannot ${what} ${path} on ${label}: permission denied. Give the SSH user access to that folder.`,
      { cause: err },
    );
  }
  if (/no space|quota/i.test(message)) {
    return new TidemarkError(
      'disk_full',
      `Cannot ${what} ${path} on ${label}: ${message}. Free space on the host.`,
      { cause: err },
    );
  }
  return new TidemarkError('internal', `Cannot ${what} ${path} on ${label}: ${message}.`, {
    cause: err,
  });
}

function call<T>(fn: (cb: (err: Error | null | undefined, value: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => fn((err, value) => (err ? reject(err) : resolve(value))));
}

/**
 * Writes a remote file atomically: the bytes stream (with SSH flow control) into a hidden temp
 * name in the same folder through `cat`; only once every byte arrived — our count and the
 * remote size agree — is the temp file renamed over the final name (posix-rename@openssh.com,
 * or `mv -f`). A source that fails midway leaves no file under the final name: the remote
 * `cat` cannot tell an aborted stream from a finished one, so the rename is a separate step.
 */
export async function writeRemoteFileAtomically(
  session: SshSession,
  path: string,
  content: Readable | Buffer | string,
  mode: number,
): Promise<void> {
  const temp = posix.join(
    posix.dirname(path),
    `.tidemark-tmp-${posix.basename(path)}-${randomBytes(6).toString('hex')}`,
  );
  let bytes = 0;
  let input: Readable | Buffer;
  if (typeof content === 'string' || Buffer.isBuffer(content)) {
    input = Buffer.from(content);
    bytes = input.length;
  } else {
    const counter = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        bytes += chunk.length;
        callback(null, chunk);
      },
    });
    pipeline(content, counter).catch(() => undefined);
    input = counter;
  }
  const t = shellQuote(temp);
  const removeTemp = (): Promise<unknown> => session.exec(`rm -f ${t}`).catch(() => undefined);
  try {
    const result = await session.exec(
      `umask 077 && cat > ${t} && chmod ${mode.toString(8)} ${t} && wc -c < ${t}`,
      { input },
    );
    if (result.code !== 0) throw remoteFailure(`Writing ${path}`, session.label, result);
    // the last line: a login shell's startup files may print before the command runs
    const written = Number(result.stdout.trim().split('\n').pop());
    if (written !== bytes)
      throw new TidemarkError(
        'internal',
        `Writing ${path} on ${session.label} stored ${written} bytes instead of ${bytes}; retry the restore.`,
        { retryable: true },
      );
    await renameOver(session, await session.sftp(), temp, path);
  } catch (err) {
    await removeTemp();
    if (err instanceof TidemarkError) throw err;
    throw sftpError('write', path, session.label, err);
  }
}

async function renameOver(
  session: SshSession,
  sftp: SFTPWrapper,
  from: string,
  to: string,
): Promise<void> {
  try {
    await call<void>((cb) => sftp.ext_openssh_rename(from, to, (err) => cb(err, undefined)));
  } catch (err) {
    if (!/does not support/i.test((err as Error).message)) throw err;
    await session.run(`mv -f ${shellQuote(from)} ${shellQuote(to)}`, `Renaming ${from}`);
  }
}

/** The file's content, or null when it does not exist. */
export async function readRemoteFile(session: SshSession, path: string): Promise<Buffer | null> {
  const sftp = await session.sftp();
  try {
    return await call<Buffer>((cb) => sftp.readFile(path, (err, data) => cb(err, data)));
  } catch (err) {
    if (sftpCode(err) === noSuchFile) return null;
    throw sftpError('read', path, session.label, err);
  }
}

/** Removes a file; a file that is already gone is fine. */
export async function removeRemoteFile(session: SshSession, path: string): Promise<void> {
  const sftp = await session.sftp();
  try {
    await call<void>((cb) => sftp.unlink(path, (err) => cb(err, undefined)));
  } catch (err) {
    if (sftpCode(err) === noSuchFile) return;
    throw sftpError('remove', path, session.label, err);
  }
}

export async function listRemoteFolder(session: SshSession, path: string): Promise<string[]> {
  const sftp = await session.sftp();
  try {
    const entries = await call<{ filename: string }[]>((cb) =>
      sftp.readdir(path, (err, list) => cb(err, list)),
    );
    return entries.map((entry) => entry.filename);
  } catch (err) {
    throw sftpError('list', path, session.label, err);
  }
}
