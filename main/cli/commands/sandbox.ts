import type { Command } from 'commander';
import { appendFile } from 'node:fs/promises';
import { join } from 'node:path';
import { localNodeLayout } from '../../engine/restore/local-node.js';
import { resolveServerUser } from '../../engine/restore/server-user.js';
import { Sandbox, type SandboxStatus } from '../../engine/sandbox/sandbox.js';
import { sandboxLocalNode } from '../../engine/sandbox/sandbox-node.js';
import { readSandboxState, sandboxDir } from '../../engine/sandbox/sandbox-state.js';
import { runSandboxWriter } from '../../engine/sandbox/sandbox-writer.js';
import { defaultPaths } from '../../engine/paths.js';
import { waitForShutdownSignal } from '../shutdown-signal.js';
import { withEngine } from '../with-engine.js';

export function register(program: Command): void {
  const sandbox = program
    .command('sandbox')
    .description(
      'a local Citus cluster (coordinator + 2 workers) to try Tidemark on; needs PostgreSQL and Citus installed',
    );

  sandbox
    .command('up')
    .description('create, start and register the sandbox cluster (or start it again)')
    .option(
      '--repository <id>',
      'the repository for its backups (default: a "sandbox" repository in a local folder)',
    )
    .option(
      '--pg-bin <dir>',
      'the bin folder of the PostgreSQL to use (default: found automatically)',
    )
    .option('--no-writer', 'do not start the light writer that keeps data coming in')
    .action((options: { repository?: string; pgBin?: string; writer: boolean }) =>
      withEngine(async (engine) => {
        const status = await new Sandbox(engine).up({
          ...(options.repository ? { repositoryId: options.repository } : {}),
          ...(options.pgBin ? { binDir: options.pgBin } : {}),
          ...(options.writer ? { writer: writerCommand() } : {}),
          onProgress: (line) => console.log(line),
        });
        console.log(formatStatus(status));
      }),
    );

  sandbox
    .command('down')
    .description('unregister the sandbox cluster, stop it and delete its nodes (its backups stay)')
    .action(() =>
      withEngine(async (engine) => console.log((await new Sandbox(engine).down()).message)),
    );

  sandbox
    .command('status')
    .description('whether the sandbox exists, its nodes and ports, and the writer')
    .action(() =>
      withEngine(async (engine) => console.log(formatStatus(await new Sandbox(engine).status()))),
    );

  // Started by "sandbox up" as its own process: writes a little every second until stopped.
  sandbox.command('writer', { hidden: true }).action(() => writerCommandAction());
}

/** This same CLI, run again as `sandbox writer` (works from the bundle and from sources). */
function writerCommand(): { command: string; args: string[] } {
  return {
    command: process.execPath,
    args: [...process.execArgv, process.argv[1] ?? '', 'sandbox', 'writer'],
  };
}

async function writerCommandAction(): Promise<void> {
  const paths = defaultPaths();
  const state = await readSandboxState(paths.data);
  if (!state) throw new Error('There is no sandbox to write to.');
  const coordinator = state.nodes.find((n) => n.role === 'coordinator');
  if (!coordinator) throw new Error('The sandbox has no coordinator.');
  const node = sandboxLocalNode(coordinator, state.postgres, await resolveServerUser());
  const controller = new AbortController();
  void waitForShutdownSignal().then(() => controller.abort());
  const logFile = join(sandboxDir(paths.data), 'writer.log');
  await runSandboxWriter(node, {
    signal: controller.signal,
    log: (line) => void appendFile(logFile, `${line}\n`).catch(() => undefined),
  });
}

function formatStatus(status: SandboxStatus): string {
  if (!status.exists) return 'There is no sandbox. Create one with "tidemark sandbox up".';
  const lines = [
    `Sandbox cluster "${status.clusterId}" on PostgreSQL ${status.postgres?.version} (${status.postgres?.binDir}), backups in repository "${status.repositoryId}"${status.registered ? '' : ' (NOT registered in Tidemark)'}`,
  ];
  for (const node of status.nodes) {
    lines.push(
      `  ${node.name.padEnd(12)} 127.0.0.1:${node.port}  ${node.running ? 'running' : 'STOPPED'}  ${node.baseDir}`,
    );
  }
  lines.push(`  writer       ${status.writerRunning ? 'running' : 'not running'}`);
  const coordinator = status.nodes.find((n) => n.role === 'coordinator');
  if (coordinator?.running)
    lines.push(
      `Connect: psql "host=${localNodeLayout(coordinator.baseDir).socketDir} port=${coordinator.port} user=postgres dbname=postgres"`,
    );
  return lines.join('\n');
}
