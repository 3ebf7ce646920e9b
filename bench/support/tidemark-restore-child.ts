/**
 * The Tidemark side of the restore benchmark, in its own process (bundled, as the app and CLI
 * run) so its peak RSS is its own: opens the engine over the benchmark's Tidemark folders,
 * unlocks the repository (the app has it open already, so that is not timed), then times
 * `engine.restores.start(...)` with the local provisioner until the job has succeeded.
 * Prints one line `RESULT <json>` (a TidemarkRestoreRun). The restored servers keep running:
 * the caller reads their logs, checks the data and stops them.
 * Usage: node <bundle> '<TidemarkRestoreRequest json>'
 */
import { join } from 'node:path';
import { createEngine } from '../../main/engine/engine.js';
import { MemoryJobStore } from '../../main/engine/jobs/job-store.js';
import { createLogger } from '../../main/engine/log/logger.js';
import { EnvFileSecretStore } from '../../main/engine/secrets/env-file-secret-store.js';
import { JsonFileSettingsStore } from '../../main/engine/settings/settings-store.js';

export interface TidemarkRestoreRequest {
  /** Tidemark's folders (config, data, logs) and its secrets folder */
  home: string;
  clusterId: string;
  repositoryId: string;
  pointName: string;
  /** the local provisioner's folder: one sub-folder per node */
  restoreDir: string;
}

export interface JobPhaseEvent {
  /** ms since the start */
  at: number;
  /** the job's phase, or a node's phase */
  part: string | null;
  phase: string;
  /** CPU time (user + system) this process used since the start, ms */
  cpuMs: number;
}

export interface TidemarkRestoreRun {
  ok: boolean;
  error: string | null;
  /** Date.now() at the start (aligns with server-log timestamps) */
  startedAtEpochMs: number;
  /** ms from the start until the job succeeded */
  readyMs: number;
  /** unlocking the repository before the timer started */
  openMs: number;
  /** first time each phase was seen in the job's change events (throttled by the job manager) */
  phases: JobPhaseEvent[];
  /** CPU time this process used from the start until the job ended, ms */
  cpuMs: number;
  nodes: { nodeId: string; role: string; host: string; port: number; dataDir: string }[];
  /** process peak (includes the repository unlock) and the peak sampled during the restore itself */
  maxRssKb: number;
  restoreRssPeakBytes: number;
  rssBeforeBytes: number;
}

export async function runTidemarkRestore(request: TidemarkRestoreRequest): Promise<TidemarkRestoreRun> {
  const paths = { config: join(request.home, 'config'), data: join(request.home, 'data'), logs: join(request.home, 'logs') };
  const engine = await createEngine({
    paths,
    settings: new JsonFileSettingsStore(join(paths.config, 'settings.json')),
    secrets: new EnvFileSecretStore(join(request.home, 'secrets')),
    logger: createLogger(),
    shell: 'web',
    version: 'bench',
    jobStore: new MemoryJobStore(),
  });
  try {
    const opening = performance.now();
    await engine.repositories.open(request.repositoryId);
    const openMs = performance.now() - opening;

    const rssBeforeBytes = process.memoryUsage().rss;
    let restoreRssPeakBytes = rssBeforeBytes;
    const sampler = setInterval(() => (restoreRssPeakBytes = Math.max(restoreRssPeakBytes, process.memoryUsage().rss)), 50);

    const phases: JobPhaseEvent[] = [];
    const seen = new Set<string>();
    let jobId: string | null = null;
    const startedAtEpochMs = Date.now();
    const started = performance.now();
    const cpuAtStart = process.cpuUsage();
    const note = (part: string | null, phase: string, at: number): void => {
      const key = `${part ?? ''}|${phase}`;
      if (seen.has(key)) return;
      seen.add(key);
      const cpu = process.cpuUsage(cpuAtStart);
      phases.push({ at, part, phase, cpuMs: (cpu.user + cpu.system) / 1000 });
    };
    engine.jobs.on('changed', (job) => {
      if (job.id !== jobId && jobId !== null) return;
      const at = performance.now() - started;
      note(null, job.phase, at);
      for (const [name, part] of Object.entries(job.parts)) note(name, part.phase, at);
    });
    try {
      const { job } = await engine.restores.start({
        clusterId: request.clusterId,
        target: { kind: 'point', name: request.pointName },
        provisioner: { kind: 'local', dir: request.restoreDir },
      });
      jobId = job.id;
      const ended = await engine.jobs.wait(job.id);
      const readyMs = performance.now() - started;
      const cpu = process.cpuUsage(cpuAtStart);
      clearInterval(sampler);
      restoreRssPeakBytes = Math.max(restoreRssPeakBytes, process.memoryUsage().rss);
      const record = await engine.restores.records.get(job.id);
      return {
        ok: ended.state === 'succeeded',
        error: ended.error ? `${ended.error.code}: ${ended.error.message}` : null,
        startedAtEpochMs,
        readyMs,
        openMs,
        phases,
        cpuMs: (cpu.user + cpu.system) / 1000,
        nodes: record?.nodes ?? [],
        maxRssKb: process.resourceUsage().maxRSS,
        restoreRssPeakBytes,
        rssBeforeBytes,
      };
    } finally {
      clearInterval(sampler);
    }
  } finally {
    await engine.close();
  }
}

const requestJson = process.argv[2];
if (requestJson && process.argv[1] && /tidemark-restore-child/.test(process.argv[1])) {
  try {
    const result = await runTidemarkRestore(JSON.parse(requestJson) as TidemarkRestoreRequest);
    process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
  } catch (err) {
    process.stdout.write(`RESULT ${JSON.stringify({ ok: false, error: (err as Error).stack ?? String(err) })}\n`);
    process.exitCode = 1;
  }
}
