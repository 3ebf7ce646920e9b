import type { ClusterConfig } from '../cluster/cluster-config.js';
import { toErrorInfo } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { watchEngineNotifications } from '../notify/engine-notifications.js';
import { logNotifier } from '../notify/notifier.js';
import { taskKinds } from '../schedule/schedule-config.js';
import { scheduledTaskHandlers, WalStreams } from '../schedule/scheduled-tasks.js';
import type { AgentContext, AgentPlugin } from './agent-runtime.js';

/**
 * The agent's real work: the scheduled tasks (base backups with a restore point after each,
 * restore points, retention, verify), the WAL streams of every cluster with streaming on
 * (started now, flushed at shutdown), and notifications as warning log lines. Each cluster's
 * checks run once at start, so a problem shows in the log with its fix before any task fails.
 */
export const engineTasksPlugin: AgentPlugin = async (agent) => {
  const walStreams = new WalStreams(agent.engine);
  const handlers = scheduledTaskHandlers(agent.engine, walStreams);
  for (const kind of taskKinds) agent.registerTask(kind, handlers[kind]);
  if (agent.clusters.length === 0) return; // nothing streams, nothing to announce

  const notifications = watchEngineNotifications(agent.engine, logNotifier(agent.logger.child({ component: 'notifications' })), {
    walStreams,
    repositoryIds: async () => agent.repositories.map((r) => r.id),
  });
  // Hooks run in reverse order: the streams flush first, notifications about that still go out.
  agent.onShutdown('notifications', async () => notifications.stop());
  agent.onShutdown('WAL streams', (signal) => walStreams.stopAll(signal));

  await Promise.all(agent.clusters.map((cluster) => logPreflight(agent, cluster)));
  await Promise.all(agent.clusters.map((cluster) => walStreams.ensure(cluster)));
};

/** Runs the cluster's checks and logs each one that is not ok, with its fix. */
async function logPreflight(agent: AgentContext, cluster: ClusterConfig): Promise<void> {
  const logger: Logger = agent.logger;
  try {
    const result = await agent.engine.clusters.check(cluster.id);
    for (const check of result.checks) {
      if (check.status === 'ok') continue;
      const line = `preflight of ${cluster.id}: ${check.node}: ${check.message}${check.fix ? ` Fix: ${check.fix}` : ''}`;
      const fields = { clusterId: cluster.id, check: check.id, node: check.node };
      if (check.status === 'fail') logger.error(fields, line);
      else logger.warn(fields, line);
    }
    logger.info({ clusterId: cluster.id, passed: result.passed }, `preflight of ${cluster.id} ${result.passed ? 'passed' : 'failed'}`);
  } catch (err) {
    logger.error({ clusterId: cluster.id, code: toErrorInfo(err).code }, `preflight of ${cluster.id} could not run: ${toErrorInfo(err).message}`);
  }
}
