import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chown, readFile, writeFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './free-port.js';

const exec = promisify(execFile);

export interface TestSshd {
  port: number;
  /** the OS user that may log in (`postgres` when the tests run as root) */
  user: string;
  /** `SHA256:...`, as `ssh-keygen -l -E sha256` prints it */
  hostKeyFingerprint: string;
  /** an unencrypted ed25519 client key listed in authorized_keys */
  privateKeyPath: string;
  /** the sshd log so far (stderr of `sshd -D -e`) */
  log(): string;
  stop(): Promise<void>;
}

export function sshdAvailable(): boolean {
  return (
    process.platform === 'linux' &&
    existsSync('/usr/sbin/sshd') &&
    existsSync('/usr/bin/ssh-keygen')
  );
}

/** Makes an ed25519 key pair (`path`, `path.pub`); returns the public key line. */
export async function makeKeyPair(
  path: string,
  passphrase = '',
  comment = 'tidemark-test',
): Promise<string> {
  // ssh-keygen would ask on stdin whether to overwrite, and wait forever
  if (existsSync(path)) throw new Error(`${path} exists already`);
  await exec('ssh-keygen', ['-q', '-t', 'ed25519', '-N', passphrase, '-C', comment, '-f', path]);
  return (await readFile(`${path}.pub`, 'utf8')).trim();
}

export async function sha256Fingerprint(publicKeyPath: string): Promise<string> {
  const { stdout } = await exec('ssh-keygen', ['-l', '-E', 'sha256', '-f', publicKeyPath]);
  const fingerprint = stdout.split(' ')[1];
  if (!fingerprint?.startsWith('SHA256:'))
    throw new Error(`unexpected ssh-keygen output: ${stdout}`);
  return fingerprint;
}

/**
 * A real OpenSSH server on a free 127.0.0.1 port with a fresh host key, public-key login only.
 *
 * When the tests run as root, sshd itself runs as the `postgres` OS user: a non-root sshd can
 * only log that same user in, which is exactly the target setup (PostgreSQL refuses root), and
 * it needs neither `/run/sshd` nor an unlocked password entry for `postgres` (Debian creates
 * the account locked, and sshd with `UsePAM no` refuses locked accounts when it runs as root).
 * `dir` must be traversable by that user (see temp-dir.ts).
 */
export async function startSshd(dir: string): Promise<TestSshd> {
  const asRoot = process.getuid?.() === 0;
  const user = asRoot ? 'postgres' : userInfo().username;
  const hostKey = join(dir, 'ssh_host_ed25519_key');
  const clientKey = join(dir, 'client_ed25519_key');
  const authorizedKeys = join(dir, 'authorized_keys');
  const configPath = join(dir, 'sshd_config');
  await makeKeyPair(hostKey, '', 'tidemark-test-host');
  const clientPublic = await makeKeyPair(clientKey, '', 'tidemark-test-client');
  await writeFile(authorizedKeys, `${clientPublic}\n`, { mode: 0o644 });
  const hostKeyFingerprint = await sha256Fingerprint(`${hostKey}.pub`);
  const port = await freePort();
  const config = [
    `Port ${port}`,
    'ListenAddress 127.0.0.1',
    `HostKey ${hostKey}`,
    `AuthorizedKeysFile ${authorizedKeys}`,
    'StrictModes no',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'UsePAM no',
    `PidFile ${join(dir, 'sshd.pid')}`,
    `AllowUsers ${user}`,
    'Subsystem sftp internal-sftp',
    'LogLevel INFO',
  ];
  await writeFile(configPath, `${config.join('\n')}\n`, { mode: 0o644 });
  if (asRoot) {
    const { uid, gid } = await osUser(user);
    for (const file of [hostKey, `${hostKey}.pub`, authorizedKeys]) await chown(file, uid, gid);
  }
  const argv = ['/usr/sbin/sshd', '-D', '-e', '-f', configPath];
  const child = asRoot
    ? spawn('runuser', ['-u', user, '--', ...argv])
    : spawn(argv[0]!, argv.slice(1));
  let log = '';
  child.stdout?.on('data', (d: Buffer) => (log += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (log += d.toString()));
  await waitForListening(child, () => log, port);
  return {
    port,
    user,
    hostKeyFingerprint,
    privateKeyPath: clientKey,
    log: () => log,
    stop: () => stopChild(child),
  };
}

async function osUser(name: string): Promise<{ uid: number; gid: number }> {
  const { stdout } = await exec('id', ['-u', name]);
  const { stdout: gidOut } = await exec('id', ['-g', name]);
  return { uid: Number(stdout.trim()), gid: Number(gidOut.trim()) };
}

function waitForListening(child: ChildProcess, log: () => string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => finish(new Error(`sshd did not start listening on port ${port}: ${log()}`)),
      10_000,
    );
    const poll = setInterval(() => {
      if (log().includes(`Server listening on 127.0.0.1 port ${port}`)) finish();
    }, 20);
    const onExit = (code: number | null): void =>
      finish(new Error(`sshd exited (${code}) before listening: ${log()}`));
    child.once('exit', onExit);
    function finish(err?: Error): void {
      clearTimeout(timer);
      clearInterval(poll);
      child.off('exit', onExit);
      if (err) {
        child.kill('SIGTERM');
        reject(err);
      } else resolve();
    }
  });
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    // runuser forwards SIGTERM to sshd, which then closes its listener and every session.
    child.kill('SIGTERM');
  });
}
