import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';

export const repoRoot = resolve(import.meta.dirname, '..', '..');

export type AgentLogLine = { level: number; msg: string; time: number; [key: string]: unknown };

/** A Tidemark process (the agent) whose JSON log lines on stdout can be read and awaited. */
export interface AgentProcess {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** the complete JSON log lines printed so far */
  logs(): AgentLogLine[];
  exited: Promise<number | null>;
  waitFor(what: string, check: (logs: AgentLogLine[]) => boolean, timeoutMs?: number): Promise<void>;
  waitForLog(msg: string | RegExp, timeoutMs?: number): Promise<void>;
}

/** Starts `node <args>` from the repository root; `running` collects it for cleanup. */
export function startAgentProcess(args: string[], env: NodeJS.ProcessEnv, running: ChildProcess[]): AgentProcess {
  const child = spawn(process.execPath, args, { cwd: repoRoot, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  running.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  // only complete lines: the process may be writing one right now
  const logs = () => stdout.split('\n').slice(0, -1).filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as AgentLogLine);
  const waitFor = async (what: string, check: (logs: AgentLogLine[]) => boolean, timeoutMs = 40_000) => {
    const until = Date.now() + timeoutMs;
    while (!check(logs())) {
      if (child.exitCode !== null) throw new Error(`the process exited (${child.exitCode}) before ${what}:\n${stdout}\n${stderr}`);
      if (Date.now() > until) throw new Error(`no ${what} within ${timeoutMs} ms:\n${stdout}\n${stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  return {
    child,
    stdout: () => stdout,
    stderr: () => stderr,
    logs,
    exited,
    waitFor,
    waitForLog: (msg, timeoutMs = 30_000) =>
      waitFor(`the log line "${String(msg)}"`, (lines) => lines.some((l) => (typeof msg === 'string' ? l.msg === msg : msg.test(l.msg))), timeoutMs),
  };
}
