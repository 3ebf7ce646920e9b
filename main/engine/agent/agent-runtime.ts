import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { ClusterConfig } from '../cluster/cluster-config.js';
import type { Engine } from '../engine.js';
import { TidemarkError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { defaultPaths, type AppPaths } from '../paths.js';
import type { RepositoryConfig } from '../repository/repository-config.js';
import type { SchedulerClock } from '../schedule/clock.js';
import { acquireFileLock, type HeldLock } from '../schedule/run-lock.js';
import { taskKindLabels, taskKinds, type TaskKind } from '../schedule/schedule-config.js';
import type { ScheduledTaskHandler } from '../schedule/scheduled-tasks.js';
import type { StopResult } from '../schedule/scheduler.js';
import { timingsOf } from '../schedule/task-timing.js';
import { JsonFileSettingsStore } from '../settings/settings-store.js';
import type { SettingsStore } from '../settings/settings-store.js';
import type { AgentConfig, LoadedAgentConfig, logLevels } from './agent-config.js';
import { missingSecrets } from './agent-secrets.js';
import { resolveAgentSettings } from './agent-settings.js';
import { createTaskScheduler, listLookup } from './task-scheduler.js';

export type { ScheduledTask, ScheduledTaskHandler } from '../schedule/scheduled-tasks.js';

export interface AgentEngineOptions {
  paths: AppPaths;
  /** folder of the 0600 secret files (environment variables win) */
  secretsDir: string;
  logLevel: (typeof logLevels)[number];
  /**
   * The settings the engine must use: the settings file (`<paths.config>/settings.json`) with
   * the config's clusters and repositories laid over it.
   */
  settings: SettingsStore;
}

/** Builds the engine the agent runs on; it must log JSON to stdout and to `paths.logs`. */
export type AgentEngineFactory = (options: AgentEngineOptions) => Promise<Engine>;

/** What a plugin (the real tasks, WAL streaming) gets to hook itself into the agent. */
export interface AgentContext {
  readonly engine: Engine;
  readonly config: AgentConfig;
  readonly configPath: string;
  /** the clusters the agent schedules, resolved (declared in the config or referenced from the settings) */
  readonly clusters: readonly ClusterConfig[];
  /** the repositories they write to */
  readonly repositories: readonly RepositoryConfig[];
  readonly logger: Logger;
  /** aborted when the agent begins to stop */
  readonly stopping: AbortSignal;
  /** Makes a task kind schedulable; kinds nobody registers are not scheduled. */
  registerTask(kind: TaskKind, handler: ScheduledTaskHandler): void;
  /**
   * Runs `hook` while stopping, after the scheduler stopped and before locks are released
   * (e.g. flush WAL streams). Hooks run in reverse registration order; `signal` aborts when
   * the hook's time is up.
   */
  onShutdown(name: string, hook: (signal: AbortSignal) => Promise<void>): void;
}

export type AgentPlugin = (context: AgentContext) => void | Promise<void>;

export interface AgentStopTimings {
  /** how long running tasks may go on before they are cancelled */
  graceMs: number;
  /** how long to wait for tasks in all */
  timeoutMs: number;
  /** how long each shutdown hook may take */
  hookTimeoutMs: number;
}

export interface RunAgentOptions {
  config: LoadedAgentConfig;
  engineFactory: AgentEngineFactory;
  /** aborting it stops the agent (the CLI aborts it on SIGTERM/SIGINT) */
  signal: AbortSignal;
  plugins?: readonly AgentPlugin[];
  clock?: SchedulerClock;
  env?: NodeJS.ProcessEnv;
  stop?: Partial<AgentStopTimings>;
}

export interface AgentRunSummary {
  /** why the agent stopped (the signal's reason) */
  reason: string;
  abandoned: StopResult['abandoned'];
}

const defaultStop: AgentStopTimings = { graceMs: 10_000, timeoutMs: 60_000, hookTimeoutMs: 15_000 };

/** Test knob: the length of one restore-point-interval minute, in milliseconds. */
export const minuteMsEnv = 'TIDEMARK_SCHEDULER_MINUTE_MS';

/**
 * The headless agent: takes the agent lock for its data folder, builds the engine, lets the
 * plugins register their tasks and shutdown hooks, runs every cluster's schedules until
 * `signal` aborts, then stops gracefully: scheduling ends, running tasks finish (or are
 * cancelled after the grace time), shutdown hooks run, the engine closes, locks are released.
 */
export async function runAgent(options: RunAgentOptions): Promise<AgentRunSummary> {
  const { config, path: configPath } = options.config;
  const env = options.env ?? process.env;
  const minuteMs = minuteMsFrom(env);
  const defaults = defaultPaths(env);
  const paths: AppPaths = { config: defaults.config, data: config.dataDir ?? defaults.data, logs: config.logDir ?? defaults.logs };
  const secretsDir = config.secretsDir ?? join(defaults.config, 'secrets');
  const stop: AgentStopTimings = {
    ...defaultStop,
    graceMs: config.stopGraceSeconds * 1000,
    timeoutMs: Math.max(config.stopGraceSeconds, config.stopTimeoutSeconds) * 1000,
    ...options.stop,
  };

  const settingsPath = join(paths.config, 'settings.json');
  const resolved = await resolveAgentSettings(new JsonFileSettingsStore(settingsPath), config, settingsPath);
  const { clusters, repositories } = resolved;

  await mkdir(paths.data, { recursive: true, mode: 0o700 });
  const agentLock = await acquireAgentLock(paths.data, configPath);
  let engine: Engine | undefined;
  try {
    engine = await options.engineFactory({ paths, secretsDir, logLevel: config.logLevel, settings: resolved.settings });
    const logger = engine.logger.child({ component: 'agent' });
    const stopping = new AbortController();
    const handlers = new Map<TaskKind, ScheduledTaskHandler>();
    const hooks: { name: string; hook: (signal: AbortSignal) => Promise<void> }[] = [];
    const context: AgentContext = {
      engine,
      config,
      configPath,
      clusters,
      repositories,
      logger,
      stopping: stopping.signal,
      registerTask: (kind, handler) => void handlers.set(kind, handler),
      onShutdown: (name, hook) => void hooks.push({ name, hook }),
    };

    if (minuteMs !== undefined) logger.warn({ minuteMs }, `${minuteMsEnv} is set: a restore-point interval minute lasts ${minuteMs} ms (for tests only)`);
    for (const secret of await missingSecrets({ clusters, repositories }, engine.secrets)) {
      logger.warn({ secretName: secret.name, env: secret.env }, `no ${secret.purpose} is set: give it as ${secret.env} or the 0600 file ${join(secretsDir, secret.name)}`);
    }
    for (const plugin of options.plugins ?? []) await plugin(context);
    const enabled = new Set(clusters.flatMap((c) => timingsOf(c.schedules).map((t) => t.kind)));
    const unavailable = taskKinds.filter((k) => enabled.has(k) && !handlers.has(k));
    if (unavailable.length > 0) {
      logger.warn({ kinds: unavailable }, `no task is available for ${unavailable.map((k) => taskKindLabels[k]).join(', ')} in this build: those schedules are not run`);
    }

    const scheduler = createTaskScheduler({
      engine,
      dataDir: paths.data,
      handlers,
      lookup: listLookup(clusters, repositories),
      logger,
      ...(options.clock ? { clock: options.clock } : {}),
      ...(minuteMs === undefined ? {} : { minuteMs }),
    });
    await scheduler.start(clusters.map((c) => ({ id: c.id, schedules: c.schedules })));
    logger.info(
      {
        version: engine.version,
        config: configPath,
        dataDir: paths.data,
        clusters: clusters.map((c) => c.id),
        next: scheduler.status().map((s) => ({ clusterId: s.clusterId, kind: s.kind, at: s.nextAt, state: s.state })),
      },
      'agent started',
    );

    // The agent runs until told to stop, even while no timer is pending (no clusters yet).
    const keepAlive = setInterval(() => undefined, 2 ** 30);
    const reason = await aborted(options.signal).finally(() => clearInterval(keepAlive));
    logger.info({ reason }, 'agent stopping');
    stopping.abort(new TidemarkError('cancelled', 'The agent is stopping.'));
    const result = await scheduler.stop({ graceMs: stop.graceMs, timeoutMs: stop.timeoutMs });
    if (result.abandoned.length > 0) {
      logger.error({ abandoned: result.abandoned }, 'tasks still running after the stop timeout are abandoned; their slots are caught up at the next start');
    }
    for (const { name, hook } of hooks.reverse()) await runHook(name, hook, stop.hookTimeoutMs, logger);
    logger.info({ reason }, 'agent stopped');
    return { reason, abandoned: result.abandoned };
  } finally {
    await engine?.close().catch(() => undefined);
    await agentLock.release();
    await flushLogger(engine?.logger);
  }
}

/** One agent per data folder: a second one would run every schedule twice. */
export function acquireAgentLock(dataDir: string, configPath: string): Promise<HeldLock> {
  return acquireFileLock({
    path: join(dataDir, 'agent.lock'),
    purpose: `agent with config ${configPath}`,
    busyError: (h) =>
      new TidemarkError(
        'conflict',
        `Another Tidemark agent is already running with the data folder ${dataDir}: ${h.purpose}, started at ${h.startedAt} by process ${h.pid} on ${h.hostname}. ` +
          'Stop it first (e.g. "systemctl stop tidemark-agent"), or give this agent its own dataDir.',
        { details: { holder: { pid: h.pid, hostname: h.hostname, startedAt: h.startedAt } } },
      ),
  });
}

async function runHook(name: string, hook: (signal: AbortSignal) => Promise<void>, timeoutMs: number, logger: Logger): Promise<void> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new TidemarkError('cancelled', `Shutdown step "${name}" ran out of time.`)), timeoutMs);
  try {
    await Promise.race([
      hook(controller.signal),
      new Promise<void>((resolve) => controller.signal.addEventListener('abort', () => resolve(), { once: true })),
    ]);
    if (controller.signal.aborted) logger.warn({ hook: name, timeoutMs }, `shutdown step "${name}" did not finish in time`);
    else logger.info({ hook: name }, `shutdown step "${name}" done`);
  } catch (err) {
    logger.error({ err, hook: name }, `shutdown step "${name}" failed`);
  } finally {
    clearTimeout(timer);
  }
}

function aborted(signal: AbortSignal): Promise<string> {
  const reasonOf = () => (typeof signal.reason === 'string' ? signal.reason : signal.reason instanceof Error ? signal.reason.message : 'stop requested');
  if (signal.aborted) return Promise.resolve(reasonOf());
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(reasonOf()), { once: true }));
}

function minuteMsFrom(env: NodeJS.ProcessEnv): number | undefined {
  const raw = env[minuteMsEnv];
  if (raw === undefined || raw === '') return undefined;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 100 || value > 60_000) {
    throw new TidemarkError('invalid_input', `${minuteMsEnv}=${raw} is not valid: use a whole number of milliseconds from 100 to 60000, or unset it (it is for tests only).`);
  }
  return value;
}

function flushLogger(logger: Logger | undefined): Promise<void> {
  if (!logger) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, 2_000);
    logger.flush(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}
