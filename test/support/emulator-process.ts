import { spawn, type ChildProcess } from 'node:child_process';

/**
 * A storage emulator run as a child process on loopback, started again on the same port and
 * folder after `stop` (graceful) or `kill` (SIGKILL, as if the host vanished).
 */
export class EmulatorProcess {
  private child: ChildProcess | undefined;
  private output = '';

  constructor(
    private readonly name: string,
    private readonly command: string,
    private readonly args: string[],
    /** printed once the emulator accepts connections */
    private readonly ready: RegExp,
  ) {}

  get running(): boolean {
    return this.child !== undefined;
  }

  async start(timeoutMs = 30_000): Promise<void> {
    if (this.child) return;
    this.output = '';
    const child = spawn(this.command, this.args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    // a test run that ends without stopping its emulators must not leave them running
    const killOnExit = () => child.kill('SIGKILL');
    process.once('exit', killOnExit);
    child.once('exit', () => process.off('exit', killOnExit));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => fail(new Error(`${this.name} did not start within ${timeoutMs} ms`)),
        timeoutMs,
      );
      const onOutput = (chunk: Buffer) => {
        this.output = (this.output + chunk.toString()).slice(-8_000);
        if (this.ready.test(this.output)) {
          clearTimeout(timer);
          resolve();
        }
      };
      const fail = (err: Error) => {
        clearTimeout(timer);
        child.kill('SIGKILL');
        reject(new Error(`${err.message}\n${this.output}`));
      };
      child.stdout?.on('data', onOutput);
      child.stderr?.on('data', onOutput);
      child.once('error', fail);
      child.once('exit', (code, signal) => {
        if (this.child === child) this.child = undefined;
        fail(new Error(`${this.name} exited (${code ?? signal}) while starting`));
      });
    });
  }

  /** SIGTERM, then SIGKILL if it lingers; resolves once the process is gone. */
  stop(): Promise<void> {
    return this.end('SIGTERM');
  }

  /** SIGKILL: connections drop mid-request, as when a host or network fails. */
  kill(): Promise<void> {
    return this.end('SIGKILL');
  }

  private async end(signal: NodeJS.Signals): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.child = undefined;
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  }
}
