import { appendFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { runAgentCommand } from '../../main/cli/commands/agent.js';
import type { AgentPlugin } from '../../main/engine/agent/agent-runtime.js';
import { taskKinds } from '../../main/engine/schedule/schedule-config.js';

/**
 * `tidemark agent` with a harmless real task in place of the backup tasks: each run appends
 * a line (kind, cluster, slot, start and end time, job id) to `<dataDir>/task-runs.jsonl`,
 * taking `TASK_MS` milliseconds (cancellable) so overlaps and graceful stops can be seen.
 * Usage: npx tsx test/support/agent-child.ts <config> [kinds, comma-separated]
 */
const [configFile, kindList] = process.argv.slice(2);
if (!configFile) throw new Error('usage: agent-child.ts <config> [kinds]');
const kinds = kindList ? kindList.split(',') : [...taskKinds];
const taskMs = Number(process.env.TASK_MS ?? '100');

const recordRuns: AgentPlugin = (agent) => {
  const dataDir = agent.engine.paths.data;
  for (const kind of taskKinds.filter((k) => kinds.includes(k))) {
    agent.registerTask(kind, async (task, job) => {
      const startedAt = new Date().toISOString();
      job.setPhase('recording');
      let outcome = 'done';
      try {
        await sleep(taskMs, undefined, { signal: job.signal });
      } catch (err) {
        outcome = 'cancelled';
        throw err;
      } finally {
        const line = { kind, clusterId: task.cluster.id, scheduledFor: task.scheduledFor.toISOString(), catchUp: task.catchUp, startedAt, endedAt: new Date().toISOString(), jobId: job.jobId, outcome };
        await appendFile(join(dataDir, 'task-runs.jsonl'), `${JSON.stringify(line)}\n`);
      }
    });
  }
};

await runAgentCommand(configFile, [recordRuns]).catch((err: unknown) => {
  console.error(`error: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
});
