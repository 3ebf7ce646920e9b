import { join } from 'node:path';
import type { Command } from 'commander';
import { loadAgentConfig } from '../../engine/agent/agent-config.js';
import { runAgent, type AgentEngineOptions, type AgentPlugin } from '../../engine/agent/agent-runtime.js';
import { createEngine, type Engine } from '../../engine/engine.js';
import { createLogger } from '../../engine/log/logger.js';
import { EnvFileSecretStore } from '../../engine/secrets/env-file-secret-store.js';
import { JsonFileSettingsStore } from '../../engine/settings/settings-store.js';
import { appVersion } from '../app-version.js';
import { waitForShutdownSignal } from '../shutdown-signal.js';

/** The tasks and services the agent runs; each registers itself through the agent context. */
const agentPlugins: readonly AgentPlugin[] = [];

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

/** The headless engine with the agent's folders and log level; JSON logs go to stdout too. */
function agentEngine(options: AgentEngineOptions): Promise<Engine> {
  return createEngine({
    paths: options.paths,
    settings: new JsonFileSettingsStore(join(options.paths.config, 'settings.json')),
    secrets: new EnvFileSecretStore(options.secretsDir),
    logger: createLogger({ dir: options.paths.logs, level: options.logLevel, stdout: true }),
    shell: 'web',
    version: appVersion,
  });
}
