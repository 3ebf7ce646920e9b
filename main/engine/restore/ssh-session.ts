import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Client } from 'ssh2';
import type { ClientChannel, ConnectConfig, SFTPWrapper } from 'ssh2';
import { TidemarkError } from '../errors.js';
import type { ErrorCode } from '../errors.js';
import type { SshHostConfig } from './ssh-config.js';
import { hostLabel } from './ssh-config.js';
import { shellQuote } from './restore-command.js';

export interface ExecResult {
  /** null when the remote process died of a signal or the channel closed without a status */
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
}

export interface ExecOptions {
  /** fed to the remote process's stdin with backpressure, then EOF */
  input?: Readable | Buffer | string;
  /** stdout beyond this is dropped (stderr keeps its last 64 KiB) */
  maxStdoutBytes?: number;
}

export type SshTarget = Pick<SshHostConfig, 'host' | 'port' | 'user' | 'auth' | 'hostKey'>;

export interface SshSessionOptions {
  keepaliveIntervalMs?: number;
  readyTimeoutMs?: number;
}

/** OpenSSH allows 10 sessions (exec, sftp) per connection by default; stay well below it, as
 * sshd may still count a session whose close it has not processed yet. */
const maxConcurrentSessions = 6;
const stderrKeepBytes = 64 * 1024;

/** `SHA256:<base64 without padding>` of a host key blob, exactly as ssh-keygen prints it. */
export function sha256Fingerprint(keyBlob: Buffer): string {
  return `SHA256:${createHash('sha256').update(keyBlob).digest('base64').replace(/=+$/, '')}`;
}

/**
 * One authenticated SSH connection to a restore target host, reused for every command, file
 * transfer and tunnel to that host. Remote commands always run under `sh -c` so the login
 * shell of the account does not matter.
 */
export class SshSession {
  private sftpSession: Promise<SFTPWrapper> | null = null;
  private active = 0;
  private readonly waiting: Array<() => void> = [];
  private closedFlag = false;

  private constructor(
    private readonly client: Client,
    readonly label: string,
  ) {
    client.on('close', () => {
      this.closedFlag = true;
    });
    // After the handshake, errors surface on the channels in use; keep the process alive.
    client.on('error', () => undefined);
  }

  get closed(): boolean {
    return this.closedFlag;
  }

  static async connect(target: SshTarget, options: SshSessionOptions = {}): Promise<SshSession> {
    const label = hostLabel(target);
    const config: ConnectConfig = {
      host: target.host,
      port: target.port,
      username: target.user,
      keepaliveInterval: options.keepaliveIntervalMs ?? 15_000,
      keepaliveCountMax: 4,
      readyTimeout: options.readyTimeoutMs ?? 20_000,
    };
    if ('privateKeyPath' in target.auth) {
      try {
        config.privateKey = await readFile(target.auth.privateKeyPath);
      } catch (err) {
        throw new TidemarkError(
          'invalid_input',
          `Cannot read the SSH private key ${target.auth.privateKeyPath} for ${label}: ${(err as Error).message}. Check the key path in the host's settings.`,
          { cause: err },
        );
      }
      if (target.auth.passphrase !== undefined) config.passphrase = target.auth.passphrase;
    } else {
      const agent = target.auth.socketPath ?? process.env.SSH_AUTH_SOCK;
      if (!agent) {
        throw new TidemarkError(
          'authentication_failed',
          `No SSH agent is available for ${label} (SSH_AUTH_SOCK is not set). Start an agent and add the key, or configure a key file for this host.`,
        );
      }
      config.agent = agent;
    }
    let presented: string | null = null;
    config.hostVerifier = (key: Buffer): boolean => {
      presented = sha256Fingerprint(key);
      return target.hostKey !== undefined && presented === target.hostKey.sha256;
    };

    const client = new Client();
    return new Promise<SshSession>((resolve, reject) => {
      const onError = (err: Error & { level?: string; code?: string }): void => {
        client.removeListener('ready', onReady);
        client.destroy();
        reject(connectError(err, target, label, presented));
      };
      const onReady = (): void => {
        client.removeListener('error', onError);
        resolve(new SshSession(client, label));
      };
      client.once('ready', onReady);
      client.once('error', onError);
      try {
        client.connect(config);
      } catch (err) {
        // ssh2 throws synchronously for a key it cannot parse or decrypt
        client.removeListener('error', onError);
        client.removeListener('ready', onReady);
        reject(
          new TidemarkError(
            'authentication_failed',
            `The SSH private key for ${label} cannot be used: ${(err as Error).message}. Check the key file and its passphrase.`,
            { cause: err },
          ),
        );
      }
    });
  }

  /** Runs a POSIX sh script on the remote host; resolves with its exit status and output. */
  async exec(script: string, options: ExecOptions = {}): Promise<ExecResult> {
    return this.withSessionSlot(() => this.openExec(`sh -c ${shellQuote(script)}`, options));
  }

  /** Like `exec`, but a non-zero exit status becomes a TidemarkError naming `what`. */
  async run(script: string, what: string, options: ExecOptions = {}): Promise<string> {
    const result = await this.exec(script, options);
    if (result.code !== 0) throw remoteFailure(what, this.label, result);
    return result.stdout;
  }

  /** The connection's SFTP session, opened once. */
  sftp(): Promise<SFTPWrapper> {
    this.sftpSession ??= new Promise<SFTPWrapper>((resolve, reject) => {
      this.client.sftp((err, sftp) => {
        if (err) {
          this.sftpSession = null;
          reject(channelOpenError('an SFTP session', this.label, err));
        } else {
          sftp.on('close', () => (this.sftpSession = null));
          resolve(sftp);
        }
      });
    });
    return this.sftpSession;
  }

  /** A stream to a unix socket on the remote host (OpenSSH direct-streamlocal). */
  openUnixSocket(path: string): Promise<ClientChannel> {
    return new Promise((resolve, reject) => {
      this.client.openssh_forwardOutStreamLocal(path, (err, channel) =>
        err ? reject(channelOpenError(`a tunnel to ${path}`, this.label, err)) : resolve(channel),
      );
    });
  }

  /** A stream to `host:port` as seen from the remote host (direct-tcpip). */
  openTcp(host: string, port: number): Promise<ClientChannel> {
    return new Promise((resolve, reject) => {
      this.client.forwardOut('127.0.0.1', 0, host, port, (err, channel) =>
        err
          ? reject(channelOpenError(`a tunnel to ${host}:${port}`, this.label, err))
          : resolve(channel),
      );
    });
  }

  close(): Promise<void> {
    if (this.closedFlag) return Promise.resolve();
    return new Promise((resolve) => {
      this.client.once('close', () => resolve());
      this.client.end();
    });
  }

  /**
   * Starts `command` and collects its outcome. The listeners go on in the callback itself: a
   * short command's exit status can arrive in the same packet batch as the channel's opening,
   * and ssh2 emits it at once — a listener added one tick later (after an await) misses it,
   * and the command looked like a lost connection (seen under load with several commands).
   */
  private openExec(command: string, options: ExecOptions): Promise<ExecResult> {
    if (this.closedFlag) return Promise.reject(lostConnection(this.label));
    return new Promise((resolve, reject) => {
      this.client.exec(command, (err, channel) => {
        if (err) reject(channelOpenError('a remote command', this.label, err));
        else collect(channel, options, this.label).then(resolve, reject);
      });
    });
  }

  private async withSessionSlot<T>(fn: () => Promise<T>): Promise<T> {
    while (this.active >= maxConcurrentSessions)
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.active++;
    try {
      return await fn();
    } finally {
      this.active--;
      this.waiting.shift()?.();
    }
  }
}

function collect(channel: ClientChannel, options: ExecOptions, label: string): Promise<ExecResult> {
  const maxStdout = options.maxStdoutBytes ?? 16 * 1024 * 1024;
  const stdout: Buffer[] = [];
  let stdoutBytes = 0;
  let stderr = Buffer.alloc(0);
  let code: number | null = null;
  let signal: string | null = null;
  let sawExit = false;
  channel.on('data', (chunk: Buffer) => {
    if (stdoutBytes < maxStdout) stdout.push(chunk);
    stdoutBytes += chunk.length;
  });
  channel.stderr.on('data', (chunk: Buffer) => {
    stderr = Buffer.concat([stderr, chunk]);
    if (stderr.length > stderrKeepBytes) stderr = stderr.subarray(stderr.length - stderrKeepBytes);
  });
  channel.on('exit', (exitCode: number | null, signalName?: string) => {
    sawExit = true;
    code = exitCode ?? null;
    signal = signalName ?? null;
  });
  const closed = new Promise<void>((resolve) => channel.once('close', () => resolve()));

  let feeding: Promise<void> = Promise.resolve();
  // The input's error counts only if it came before the remote process ended: it is then the cause.
  let inputFailedFirst: unknown = null;
  if (options.input === undefined) {
    channel.end();
  } else if (typeof options.input === 'string' || Buffer.isBuffer(options.input)) {
    channel.end(options.input);
  } else {
    const input = options.input;
    // pipeline gives backpressure (the SSH window) and destroys the channel if the input fails
    feeding = pipeline(input, channel).catch((err: unknown) => {
      if (!sawExit) inputFailedFirst = err;
    });
    // A remote process that exits early (tar refusing an entry, disk full) must also stop the input.
    void closed.then(() => {
      if (!input.readableEnded) input.destroy();
    });
  }

  return closed.then(async () => {
    await feeding;
    const result: ExecResult = {
      code,
      signal,
      stdout: Buffer.concat(stdout).toString('utf8'),
      stderr: stderr.toString('utf8'),
    };
    if (inputFailedFirst !== null) throw inputFailedFirst;
    if (!sawExit) throw lostConnection(label, result.stderr);
    return result;
  });
}

/** Remote failures as errors that say what happened and what to do. */
export function remoteFailure(what: string, label: string, result: ExecResult): TidemarkError {
  const detail =
    result.stderr.trim().split('\n').slice(-8).join('\n') ||
    result.stdout.trim().split('\n').slice(-4).join('\n');
  const status =
    result.code === null
      ? `killed by ${result.signal ?? 'a signal'}`
      : `exit status ${result.code}`;
  let code: ErrorCode = 'internal';
  let advice = 'See the message above; the server log on the host may say more.';
  if (/No space left on device/i.test(detail)) {
    code = 'disk_full';
    advice = 'Free space on the host or choose another folder.';
  } else if (/Permission denied|Operation not permitted/i.test(detail)) {
    code = 'permission_denied';
    advice = `Give the SSH user write access to the folder, or choose a folder it owns.`;
  }
  return new TidemarkError(
    code,
    `${what} failed on ${label} (${status}): ${detail || 'no output'}. ${advice}`,
    { details: { host: label, exitCode: result.code, stderr: result.stderr.slice(-4000) } },
  );
}

function lostConnection(label: string, stderr = ''): TidemarkError {
  return new TidemarkError(
    'target_unreachable',
    `The SSH connection to ${label} was lost${stderr ? ` (${stderr.trim().slice(-500)})` : ''}. Check the network and the host, then retry.`,
    { retryable: true },
  );
}

function channelOpenError(what: string, label: string, err: Error): TidemarkError {
  return new TidemarkError(
    'connection_failed',
    `Could not open ${what} on ${label}: ${err.message}. Check that the SSH server allows it (MaxSessions, AllowStreamLocalForwarding, AllowTcpForwarding, the sftp subsystem).`,
    { cause: err, retryable: true },
  );
}

function connectError(
  err: Error & { level?: string; code?: string },
  target: SshTarget,
  label: string,
  presented: string | null,
): TidemarkError {
  const where = `${target.host}:${target.port}`;
  if (
    presented !== null &&
    (err.message.includes('Host denied') || err.level === 'client-authentication') &&
    presented !== target.hostKey?.sha256
  ) {
    if (target.hostKey === undefined) {
      return new TidemarkError(
        'permission_denied',
        `The host key of ${where} is not known yet. It presented ${presented}. Compare it with the server's own (run "ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub" on the host); if it matches, save it as the host's key fingerprint and retry.`,
        { details: { host: where, reason: 'unknown_host_key', fingerprint: presented } },
      );
    }
    return new TidemarkError(
      'permission_denied',
      `The host key of ${where} does NOT match the saved one: expected ${target.hostKey.sha256}, got ${presented}. This is a different server or someone is intercepting the connection. Check the host before you change the saved fingerprint.`,
      {
        details: {
          host: where,
          reason: 'host_key_mismatch',
          fingerprint: presented,
          expected: target.hostKey.sha256,
        },
      },
    );
  }
  if (err.level === 'client-authentication') {
    return new TidemarkError(
      'authentication_failed',
      `${label} refused the SSH login (${err.message}). Check the user name and that the key is in that user's authorized_keys on the host.`,
      { cause: err, details: { host: where } },
    );
  }
  if (err.level === 'agent') {
    return new TidemarkError(
      'authentication_failed',
      `The SSH agent failed for ${label}: ${err.message}. Check that the agent runs and holds the key.`,
      { cause: err },
    );
  }
  const reason = err.code ?? err.message;
  return new TidemarkError(
    'connection_failed',
    `Could not connect to ${where} over SSH (${reason}). Check the host name, port and firewall, and that sshd runs on the host.`,
    {
      cause: err,
      retryable: true,
      details: { host: where },
    },
  );
}
