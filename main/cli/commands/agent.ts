import type { Command } from 'commander';
import { loadAgentConfig } from '../../engine/agent/agent-config.js';
import { runAgent, type AgentEngineOptions, type AgentPlugin } from '../../engine/agent/agent-runtime.js';
import { engineTasksPlugin } from '../../engine/agent/engine-tasks-plugin.js';
import type { Engine } from '../../engine/engine.js';
import { createHeadlessEngine } from '../headless-engine.js';
import { waitForShutdownSignal } from '../shutdown-signal.js';

/** The tasks and services the agent runs; each registers itself through the agent context. */
const agentPlugins: readonly AgentPlugin[] = [engineTasksPlugin];

/** After a graceful stop the process exits even if a library left a handle open. */
const exitGraceMs = 5_000;

export function register(program: Command): void {
  program
    .command('agent')
    .description('run the schedules of the configured clusters in the foreground (for systemd and containers)')
    .requiredOption('--config <file>', 'the agent config file (JSON, see docs/agent.md)')
    .action((options: { config: string }) => runAgentCommand(options.config));
}

/** `tidemark agent`: runs until SIGTERM or SIGINT, then stops gracefully and exits 0. */
export async function runAgentCommand(configFile: string, plugins: readonly AgentPlugin[] = agentPlugins): Promise<void> {
  const config = await loadAgentConfig(configFile);
  const controller = new AbortController();
  void waitForShutdownSignal().then((signal) => controller.abort(signal));
  await runAgent({ config, engineFactory: agentEngine, signal: controller.signal, plugins });
  setTimeout(() => process.exit(process.exitCode ?? 0), exitGraceMs).unref();
}

/** The headless engine with the agent's folders, settings and log level; JSON logs go to stdout too. */
function agentEngine(options: AgentEngineOptions): Promise<Engine> {
  return createHeadlessEngine({
    paths: options.paths,
    settings: options.settings,
    secretsDir: options.secretsDir,
    logLevel: options.logLevel,
    logToStdout: true,
  });
}
