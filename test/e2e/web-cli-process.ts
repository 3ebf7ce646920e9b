import { spawn, type ChildProcess } from 'node:child_process';
import { join, resolve } from 'node:path';
import { WebSocket } from 'ws';

export const repoRoot = resolve(import.meta.dirname, '..', '..');

export interface WebCli {
  url: string;
  port: number;
  token: string;
  origin: string;
  output(): string;
  /** SIGINT, then waits for a graceful exit; resolves with the exit code */
  stop(): Promise<number | null>;
}

/** Runs `node bin/tidemark.cjs web --port 0` and waits for the URL it prints. */
export function startWebCli(env: NodeJS.ProcessEnv): Promise<WebCli> {
  const child: ChildProcess = spawn(
    process.execPath,
    [join(repoRoot, 'bin', 'tidemark.cjs'), 'web', '--port', '0'],
    {
      cwd: repoRoot,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  const exited = new Promise<number | null>((resolveExit) =>
    child.once('exit', (code) => resolveExit(code)),
  );
  return new Promise((resolveStart, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`tidemark web printed no URL within 30 s:\n${output}`));
    }, 30_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /Tidemark web UI: (http:\/\/127\.0\.0\.1:(\d+)\/\?token=([A-Za-z0-9_-]+))/.exec(
        output,
      );
      if (!match) return;
      clearTimeout(timer);
      resolveStart({
        url: match[1]!,
        port: Number(match[2]),
        token: match[3]!,
        origin: `http://127.0.0.1:${match[2]}`,
        output: () => output,
        async stop() {
          if (child.exitCode === null) child.kill('SIGINT');
          return exited;
        },
      });
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`tidemark web exited (${code}) before printing its URL:\n${output}`));
    });
  });
}

/** A WebSocket client of the bridge, authenticated like the page: token and Origin. */
export async function connectApi(
  cli: WebCli,
): Promise<{ call(method: string, input: unknown): Promise<unknown>; close(): void }> {
  const ws = new WebSocket(`ws://127.0.0.1:${cli.port}/api?token=${cli.token}`, {
    origin: cli.origin,
  });
  await new Promise<void>((resolveOpen, reject) => {
    ws.once('open', () => resolveOpen());
    ws.once('error', reject);
  });
  const waiting = new Map<string, (result: unknown) => void>();
  ws.on('message', (data) => {
    const message = JSON.parse(data.toString()) as { id?: string; result?: unknown };
    if (message.id !== undefined) waiting.get(message.id)?.(message.result);
  });
  let next = 1;
  return {
    call(method, input) {
      const id = `t${next++}`;
      return new Promise((resolveCall) => {
        waiting.set(id, resolveCall);
        ws.send(JSON.stringify({ id, method, input }));
      });
    },
    close: () => ws.close(),
  };
}
