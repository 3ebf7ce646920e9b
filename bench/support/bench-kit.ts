/**
 * Small helpers shared by benchmarks: medians, child processes, folder sizes, warming the page
 * cache, the machine's load, a cleanup list that also runs on Ctrl-C, and tables.
 */
import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { readFile, readdir, stat } from 'node:fs/promises';
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export const MB = 1024 * 1024;

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export const seconds = (ms: number): string => (Number.isFinite(ms) ? `${(ms / 1000).toFixed(2)} s` : '—');
export const megabytes = (bytes: number): string => `${(bytes / MB).toFixed(0)} MB`;

export interface CommandResult {
  stdout: string;
  stderr: string;
  code: number | null;
}

/** Runs a command to its end; stdout and stderr are collected (stderr also echoed when `echo`). */
export function runCommand(command: string, args: readonly string[], options: { env?: NodeJS.ProcessEnv; echoStderr?: boolean } = {}): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (options.echoStderr) process.stderr.write(d);
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ stdout, stderr, code }));
  });
}

/** Same, but a non-zero exit is an error naming the command and its stderr. */
export async function mustRun(command: string, args: readonly string[], options: { env?: NodeJS.ProcessEnv } = {}): Promise<string> {
  const result = await runCommand(command, args, options);
  if (result.code !== 0) throw new Error(`${command} ${args.join(' ')} failed (exit ${result.code}): ${result.stderr.trim()}`);
  return result.stdout;
}

async function filesUnder(path: string): Promise<string[]> {
  const info = await stat(path);
  if (info.isFile()) return [path];
  const entries = await readdir(path, { withFileTypes: true, recursive: true });
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
}

/** Bytes of every regular file under `path` (or of the file itself). */
export async function diskBytes(path: string): Promise<number> {
  let total = 0;
  for (const file of await filesUnder(path)) total += (await stat(file)).size;
  return total;
}

/** Reads every file under each path once, so both sides of a comparison start from a warm page cache. */
export async function warmRead(paths: readonly string[]): Promise<number> {
  let total = 0;
  for (const path of paths) {
    for (const file of await filesUnder(path)) {
      for await (const chunk of createReadStream(file, { highWaterMark: 4 * MB })) total += (chunk as Buffer).length;
    }
  }
  return total;
}

export interface MachineLoad {
  loadavg: [number, number, number];
  cores: number;
  /** the 1-minute load says other work is running on this machine */
  shared: boolean;
}

export function machineLoad(): MachineLoad {
  const [one, five, fifteen] = loadavg() as [number, number, number];
  const cores = availableParallelism();
  return { loadavg: [one, five, fifteen], cores, shared: one > cores * 0.5 };
}

export function describeLoad(load: MachineLoad): string {
  const avg = load.loadavg.map((x) => x.toFixed(2)).join(', ');
  return `load average ${avg} (1, 5, 15 min) on ${load.cores} cores${load.shared ? ': the machine is SHARED with other work, absolute times are inflated and noisy; compare the ratio' : ''}`;
}

/**
 * Undo steps run last-in first-out, once, on normal exit, on failure and on SIGINT/SIGTERM:
 * a benchmark that starts servers must not leave them behind.
 */
export class CleanupList {
  private readonly steps: { name: string; run: () => Promise<unknown> }[] = [];
  private running: Promise<void> | null = null;
  private readonly onSignal = (signal: NodeJS.Signals): void => {
    console.error(`\n${signal}: cleaning up…`);
    void this.run().finally(() => process.exit(130));
  };

  constructor() {
    process.once('SIGINT', this.onSignal);
    process.once('SIGTERM', this.onSignal);
  }

  add(name: string, run: () => Promise<unknown>): () => Promise<void> {
    const step = { name, run };
    this.steps.push(step);
    // runs the step now and forgets it (for what is cleaned up before the end)
    return async () => {
      const index = this.steps.indexOf(step);
      if (index >= 0) this.steps.splice(index, 1);
      await run();
    };
  }

  run(): Promise<void> {
    this.running ??= (async () => {
      process.off('SIGINT', this.onSignal);
      process.off('SIGTERM', this.onSignal);
      while (this.steps.length > 0) {
        const step = this.steps.pop()!;
        try {
          await step.run();
        } catch (err) {
          console.error(`cleanup "${step.name}" failed: ${(err as Error).message}`);
        }
      }
    })();
    return this.running;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Stops (immediate shutdown) every PostgreSQL server whose data directory is under `dir`, found
 * by its postmaster.pid up to three levels down: what a restore left running, whoever started it.
 */
export async function stopServersUnder(dir: string): Promise<number> {
  const pids: number[] = [];
  const entries = await readdir(dir, { withFileTypes: true, recursive: true }).catch(() => []);
  for (const entry of entries) {
    if (entry.name !== 'postmaster.pid' || !entry.isFile()) continue;
    if (entry.parentPath.slice(dir.length).split('/').length > 4) continue;
    const text = await readFile(join(entry.parentPath, entry.name), 'utf8').catch(() => '');
    const pid = Number.parseInt(text.split('\n')[0] ?? '', 10);
    if (Number.isInteger(pid) && pid > 0 && alive(pid)) pids.push(pid);
  }
  for (const pid of pids) process.kill(pid, 'SIGQUIT');
  const deadline = Date.now() + 30_000;
  for (const pid of pids) {
    while (alive(pid) && Date.now() < deadline) await sleep(50);
    if (alive(pid)) process.kill(pid, 'SIGKILL');
  }
  return pids.length;
}

/** Left-aligned columns, two spaces apart. */
export function formatTable(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  return rows.map((row) => row.map((cell, c) => cell.padEnd(widths[c]!)).join('  ').trimEnd()).join('\n');
}
