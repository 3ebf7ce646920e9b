import { Duplex } from 'node:stream';
import type { ClientChannel } from 'ssh2';

/**
 * A socket-like Duplex over an SSH channel, for pg's `ClientConfig.stream`. pg creates the
 * stream synchronously and then calls `connect()`, `setNoDelay()`, `setKeepAlive()` and waits
 * for 'connect', as with a net.Socket; the SSH channel is opened on `connect()`. No port is
 * opened on this machine. TLS (ssl=on on the restored node) runs on top of it unchanged.
 */
export class SshTunnelSocket extends Duplex {
  private channel: ClientChannel | null = null;
  private pendingWrite: { chunk: Buffer; callback: (error?: Error | null) => void } | null = null;
  private pendingFinal: ((error?: Error | null) => void) | null = null;

  constructor(private readonly open: () => Promise<ClientChannel>) {
    super();
  }

  connect(): this {
    this.open().then(
      (channel) => {
        if (this.destroyed) {
          channel.close();
          return;
        }
        this.channel = channel;
        channel.on('data', (chunk: Buffer) => {
          if (!this.push(chunk)) channel.pause();
        });
        channel.on('end', () => this.push(null));
        channel.on('close', () => {
          if (!this.destroyed) this.destroy();
        });
        channel.on('error', (err: Error) => this.destroy(err));
        this.emit('connect');
        const pendingWrite = this.pendingWrite;
        this.pendingWrite = null;
        if (pendingWrite) channel.write(pendingWrite.chunk, pendingWrite.callback);
        const pendingFinal = this.pendingFinal;
        this.pendingFinal = null;
        if (pendingFinal) this._final(pendingFinal);
      },
      (err: Error) => this.destroy(err),
    );
    return this;
  }

  setNoDelay(): this {
    return this;
  }

  setKeepAlive(): this {
    return this;
  }

  setTimeout(): this {
    return this;
  }

  ref(): this {
    return this;
  }

  unref(): this {
    return this;
  }

  override _read(): void {
    this.channel?.resume();
  }

  override _write(
    chunk: Buffer,
    _encoding: BufferEncoding,
    callback: (error?: Error | null) => void,
  ): void {
    if (this.channel) this.channel.write(chunk, callback);
    else this.pendingWrite = { chunk, callback };
  }

  override _final(callback: (error?: Error | null) => void): void {
    if (this.channel) {
      this.channel.end();
      callback();
    } else this.pendingFinal = callback;
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.channel?.close();
    this.channel = null;
    callback(error);
  }
}
