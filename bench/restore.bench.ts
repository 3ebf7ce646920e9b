/**
 * Point-in-time restore against the public-tools baseline, side by side in one run on the same
 * data: time from "start" to a promoted (and to a ready) cluster.
 *
 * Tidemark: the real product path. The source (the Citus-compatible fixture) is backed up by the
 * engine (`engine.backups`: encrypted, lz4 base backup and streamed WAL in a folder zone), a
 * named point is made with `engine.clusters.restorePoints.create`, and the restore runs
 * `engine.restores.start(...)` with the local provisioner, in a child process (bundled, as the
 * app runs) for its own peak RSS.
 * Baseline: `pg_basebackup -Ft -X fetch -c fast` taken at the same moment, WAL copied by
 * `archive_command = 'cp %p <dir>/%f'`; extract the tar, `restore_command = 'cp <dir>/%f %p'`,
 * `recovery_target_name` = the same point, `recovery_target_action = 'promote'`, wait until the
 * server answers out of recovery.
 *
 * 1. One node: pgbench scale 50 plus ~300 MB of random bytes (> 1 GB), ≥ 256 MB of WAL written by
 *    pgbench after the base backups. Target: ratio ≤ 1.0.
 * 2. Three nodes (coordinator + 2 workers, a few hundred MB each): Tidemark to a ready cluster
 *    vs the baseline restoring the three nodes in parallel.
 * Rounds alternate the two sides; medians. The page cache cannot be dropped: every input is read
 * once, untimed, before the rounds. Both restores must hold the same data (checked each round).
 *
 * Run: npm run bench:restore [-- --runs 3 --scale 50 --random-mb 300 --wal-mb 320
 *        --cluster-scale 20 --cluster-wal-mb 96 --only single|cluster --fsync on|off --keep-logs <dir>]
 */
import { copyFile, mkdir, rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';
import { workerEntries } from '../scripts/worker-entries.mjs';
import pg from 'pg';
import { createEngine, type Engine } from '../main/engine/engine.js';
import { MemoryJobStore } from '../main/engine/jobs/job-store.js';
import { createLogger } from '../main/engine/log/logger.js';
import { parseLsn } from '../main/engine/replication/lsn.js';
import { EnvFileSecretStore } from '../main/engine/secrets/env-file-secret-store.js';
import { JsonFileSettingsStore } from '../main/engine/settings/settings-store.js';
import { CitusTestCluster } from '../test/support/citus-cluster.js';
import { postgresWritableDir, waitArchived } from '../test/support/folder-restore-source.js';
import { pgBinDir, type PgInstance, testPassword } from '../test/support/postgres.js';
import { tempDir } from '../test/support/temp-dir.js';
import { CleanupList, describeLoad, diskBytes, formatTable, machineLoad, MB, median, megabytes, mustRun, runCommand, seconds, stopServersUnder, warmRead } from './support/bench-kit.js';
import { restoreWithPublicTools } from './support/public-tools-restore.js';
import { readServerLog, recoveryMilestones, type RecoveryMilestones } from './support/server-log.js';
import { currentWalLsn, databaseBytes, generateWal, loadRandomBytes } from './support/source-data.js';
import { SpoolSampler } from './support/spool-sampler.js';
import type { JobPhaseEvent, TidemarkRestoreRequest, TidemarkRestoreRun } from './support/tidemark-restore-child.js';

const { values: args } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    scale: { type: 'string', default: '50' },
    'random-mb': { type: 'string', default: '300' },
    'wal-mb': { type: 'string', default: '320' },
    'cluster-scale': { type: 'string', default: '20' },
    'cluster-wal-mb': { type: 'string', default: '96' },
    only: { type: 'string' },
    fsync: { type: 'string', default: 'on' },
    /** copy every restored server's log into this folder (for a closer look at the phases) */
    'keep-logs': { type: 'string' },
  },
});

const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const clusterId = 'bench';
const repositoryId = 'bench';
const passphrase = 'restore benchmark passphrase';
const cleanup = new CleanupList();

interface SourceNode {
  nodeId: string;
  role: 'coordinator' | 'worker';
  instance: PgInstance;
  archiveDir: string;
  baseTar: string;
  /** where each side's replay starts, and the node's LSN at the point */
  baselineStartLsn: string;
  tidemarkStartLsn: string;
  pointLsn: string;
  dataBytes: number;
  walWritten: number;
  tidemarkArchiveBytes: number;
  walFiles: number;
}

interface Scenario {
  name: string;
  dir: string;
  /** Tidemark's config/data/logs/secrets */
  home: string;
  zoneDir: string;
  pointName: string;
  nodes: SourceNode[];
}

/** Milestones of one side of one round, in ms since its start (max over the nodes: when the last node got there). */
interface SideTimes {
  extracted: number;
  serverStart: number;
  redoStart: number;
  targetReached: number;
  promoted: number;
  ready: number;
}

interface TidemarkRound extends SideTimes {
  validated: number;
  maxRssKb: number;
  restoreRssPeakBytes: number;
  openMs: number;
  /** prefetch: was the spool ever empty while replay needed WAL */
  spool: string;
  /** CPU time of the Tidemark process by phase */
  cpu: string;
}

async function openEngine(home: string): Promise<Engine> {
  const paths = { config: join(home, 'config'), data: join(home, 'data'), logs: join(home, 'logs') };
  return createEngine({
    paths,
    settings: new JsonFileSettingsStore(join(paths.config, 'settings.json')),
    secrets: new EnvFileSecretStore(join(home, 'secrets')),
    logger: createLogger(),
    shell: 'web',
    version: 'bench',
    jobStore: new MemoryJobStore(),
  });
}

async function backupLabelStart(baseTar: string): Promise<string> {
  const label = await mustRun('tar', ['-xOf', baseTar, 'backup_label']);
  const match = /START WAL LOCATION: ([0-9A-F]+\/[0-9A-F]+)/.exec(label);
  if (!match) throw new Error(`no START WAL LOCATION in the backup_label of ${baseTar}`);
  return match[1]!;
}

const lsnBytes = (from: string, to: string): number => Number(parseLsn(to) - parseLsn(from));

/** Source cluster, data, both backups, WAL, one restore point that both sides can reach. */
async function prepareScenario(root: string, name: string, options: { workers: number; scale: number; randomMb: number; walMb: number; sharedBuffers: string }): Promise<Scenario> {
  const dir = join(root, name);
  await mkdir(dir);
  const count = options.workers + 1;
  const archiveDirs = await Promise.all(Array.from({ length: count }, (_, i) => postgresWritableDir(join(dir, `archive-${i}`))));
  const archiving = (i: number) => ({ conf: { archive_command: `'cp %p ${archiveDirs[i]}/%f'` } });
  console.log(`[${name}] starting ${count} source node(s)…`);
  const cluster = await CitusTestCluster.create({
    dir: join(dir, 'source'),
    workers: options.workers,
    conf: {
      archive_mode: 'on',
      fsync: args.fsync === 'off' ? 'off' : 'on',
      synchronous_commit: 'off',
      shared_buffers: `'${options.sharedBuffers}'`,
      max_wal_size: `'4GB'`,
      checkpoint_timeout: `'30min'`,
      log_connections: 'off',
    },
    coordinator: archiving(0),
    workerNodes: Array.from({ length: options.workers }, (_, i) => archiving(i + 1)),
  });
  const stopSources = cleanup.add(`${name} source servers`, () => Promise.all(cluster.nodes.map((n) => n.stop('immediate'))));

  console.log(`[${name}] loading pgbench scale ${options.scale} per node${options.randomMb ? ` and ${options.randomMb} MB of random bytes` : ''}…`);
  for (const node of cluster.nodes) await node.pgbench(['-i', '-s', String(options.scale), '-q']);
  if (options.randomMb > 0) await loadRandomBytes(cluster.coordinator, options.randomMb);
  for (const node of cluster.nodes) await node.query('CHECKPOINT');

  const home = join(dir, 'tidemark');
  const zoneDir = join(dir, 'zone');
  await mkdir(zoneDir, { recursive: true });
  const engine = await openEngine(home);
  const closeEngine = cleanup.add(`${name} engine`, () => engine.close());
  await engine.repositories.create({ id: repositoryId, name: 'Restore benchmark', zones: [{ kind: 'folder', id: 'disk', name: 'Disk', path: zoneDir }] }, { passphrase });
  const coordinator = cluster.coordinator;
  await engine.clusters.add({ id: clusterId, name: 'Restore benchmark', coordinator: { host: coordinator.host, port: coordinator.port, database: 'postgres', user: 'postgres', sslmode: 'disable' }, password: testPassword, repositoryId });
  await engine.backups.startWalStreams(clusterId);

  console.log(`[${name}] base backups, at the same moment: Tidemark (engine.backups) and pg_basebackup -Ft -X fetch…`);
  const baseDirs = cluster.nodes.map((_, i) => join(dir, `pg_basebackup-${i}`));
  const backupJob = engine.backups.backupCluster(clusterId);
  const [backup] = await Promise.all([
    engine.jobs.wait(backupJob.id),
    Promise.all(
      cluster.nodes.map((node, i) =>
        mustRun(join(pgBinDir(), 'pg_basebackup'), ['-h', node.host, '-p', String(node.port), '-U', 'postgres', '-D', baseDirs[i]!, '-Ft', '-X', 'fetch', '-c', 'fast'], { env: { ...process.env, PGPASSWORD: testPassword } }),
      ),
    ),
  ]);
  if (backup.state !== 'succeeded') throw new Error(`the Tidemark backup ${backup.state}: ${JSON.stringify(backup.error)}`);
  for (const d of baseDirs) await mustRun('chmod', ['-R', 'a+rX', d]); // the baseline's tar runs as the server's user

  console.log(`[${name}] writing ≥ ${options.walMb} MB of WAL per node with pgbench…`);
  if (options.workers > 0) for (let id = 1; id <= 20; id++) await cluster.distributedWrite(id, `before-point-${id}`);
  const walWritten = await generateWal(cluster.nodes, options.walMb);
  const point = await engine.clusters.restorePoints.create(clusterId, { label: 'restore benchmark' });
  // pg_switch_wal, then wait until archive_command copied the segment holding the point
  await Promise.all(cluster.nodes.map(async (n) => waitArchived(n, await currentWalLsn(n))));
  const deadline = Date.now() + 300_000;
  for (;;) {
    await engine.clusters.restorePoints.updateRestorability(clusterId);
    const found = (await engine.clusters.restorePoints.list(clusterId, {})).find((p) => p.name === point.name);
    if (found?.status === 'restorable') break;
    if (Date.now() > deadline) throw new Error(`restore point ${point.name} did not become restorable (Tidemark's WAL streams did not store past it)`);
    await new Promise((r) => setTimeout(r, 500));
  }
  const plan = await engine.restores.plan(clusterId, { kind: 'point', name: point.name });
  await engine.backups.stopWalStreams(clusterId);
  await closeEngine();

  const nodes: SourceNode[] = [];
  for (const [i, instance] of cluster.nodes.entries()) {
    const planned = plan.nodes.find((n) => n.sourcePort === instance.port);
    if (!planned) throw new Error(`the restore plan has no node for source port ${instance.port}`);
    const baseTar = join(baseDirs[i]!, 'base.tar');
    nodes.push({
      nodeId: planned.nodeId,
      role: planned.role,
      instance,
      archiveDir: archiveDirs[i]!,
      baseTar,
      baselineStartLsn: await backupLabelStart(baseTar),
      tidemarkStartLsn: planned.backup.startLsn,
      pointLsn: planned.role === 'coordinator' && plan.point.coordinatorLsn ? plan.point.coordinatorLsn : planned.targetLsn,
      dataBytes: await databaseBytes(instance),
      walWritten: walWritten[i]!,
      tidemarkArchiveBytes: planned.backupBytes,
      walFiles: planned.walFiles.length,
    });
  }
  // Restores never touch the source: stopped, it cannot take CPU from the timed rounds.
  await stopSources();
  return { name, dir, home, zoneDir, pointName: point.name, nodes };
}

async function fingerprint(config: pg.ClientConfig): Promise<string> {
  const client = new pg.Client(config);
  await client.connect();
  try {
    const { rows } = await client.query<{ n: string; s: string }>('SELECT count(*)::text AS n, coalesce(sum(delta), 0)::text AS s FROM pgbench_history');
    return `${rows[0]!.n} rows/${rows[0]!.s}`;
  } finally {
    await client.end();
  }
}

/** With --keep-logs: keeps a restored server's log before its folder is removed. */
async function keepLog(logFile: string, name: string): Promise<void> {
  if (!args['keep-logs']) return;
  await mkdir(args['keep-logs'], { recursive: true });
  await copyFile(logFile, join(args['keep-logs'], `${name}.log`)).catch(() => undefined);
}

const relative = (epoch: number | null, startEpoch: number): number => (epoch === null ? Number.NaN : epoch - startEpoch);
const latest = (values: number[]): number => Math.max(...values);

function milestoneTimes(milestones: RecoveryMilestones[], startEpoch: number): Pick<SideTimes, 'serverStart' | 'redoStart' | 'targetReached'> & { promotedLog: number } {
  return {
    serverStart: latest(milestones.map((m) => relative(m.serverStart, startEpoch))),
    redoStart: latest(milestones.map((m) => relative(m.redoStart, startEpoch))),
    targetReached: latest(milestones.map((m) => relative(m.targetReached, startEpoch))),
    promotedLog: latest(milestones.map((m) => relative(m.promotedReady, startEpoch))),
  };
}

async function timeBaseline(scenario: Scenario, dir: string): Promise<{ times: SideTimes; data: Map<string, string> }> {
  await postgresWritableDir(dir);
  const remove = cleanup.add(`baseline ${dir}`, async () => {
    await stopServersUnder(dir);
    await rm(dir, { recursive: true, force: true });
  });
  const startEpoch = Date.now();
  const startedAt = performance.now();
  const results = await Promise.all(
    scenario.nodes.map((n) => restoreWithPublicTools({ baseTar: n.baseTar, walArchiveDir: n.archiveDir, pointName: scenario.pointName, dir: join(dir, n.nodeId), startedAt })),
  );
  const promoted = latest(results.map((r) => r.promotedMs));
  const milestones = await Promise.all(results.map((r) => readServerLog(r.logFile).then(recoveryMilestones)));
  for (const [i, r] of results.entries()) await keepLog(r.logFile, `${basename(dir)}-${scenario.name}-${scenario.nodes[i]!.nodeId}`);
  const data = new Map<string, string>();
  for (const [i, r] of results.entries()) data.set(scenario.nodes[i]!.nodeId, await fingerprint({ host: r.socketDir, port: r.port, user: 'postgres', database: 'postgres' }));
  await remove();
  const log = milestoneTimes(milestones, startEpoch);
  return { times: { extracted: latest(results.map((r) => r.extractedMs)), ...log, promoted, ready: promoted }, data };
}

/** A node's phases in the order a restore goes through them (restore-progress.ts). */
const nodePhaseOrder = ['preparing', 'extracting', 'starting', 'replaying', 'paused', 'promoting', 'rewriting-metadata', 'restarting', 'checking', 'ready'];

async function timeTidemark(scenario: Scenario, dir: string, bundle: string): Promise<{ times: TidemarkRound; data: Map<string, string> }> {
  const remove = cleanup.add(`Tidemark restore ${dir}`, async () => {
    await stopServersUnder(dir);
    await rm(dir, { recursive: true, force: true });
  });
  const request: TidemarkRestoreRequest = { home: scenario.home, clusterId, repositoryId, pointName: scenario.pointName, restoreDir: dir };
  const sampler = new SpoolSampler(dir);
  sampler.start();
  const result = await runCommand(process.execPath, [bundle, JSON.stringify(request)], { echoStderr: true });
  sampler.stop();
  const line = result.stdout.split('\n').find((l) => l.startsWith('RESULT '));
  if (!line) throw new Error(`the Tidemark restore process printed no result (exit ${result.code}): ${result.stdout.slice(-2000)}`);
  const run = JSON.parse(line.slice('RESULT '.length)) as TidemarkRestoreRun;
  if (!run.ok) throw new Error(`the Tidemark restore failed: ${run.error}`);

  const milestones = await Promise.all(scenario.nodes.map((n) => readServerLog(join(dir, n.nodeId, 'server.log')).then(recoveryMilestones)));
  for (const n of scenario.nodes) await keepLog(join(dir, n.nodeId, 'server.log'), `${basename(dir)}-${scenario.name}-${n.nodeId}`);
  const data = new Map<string, string>();
  for (const node of run.nodes) data.set(node.nodeId, await fingerprint({ host: node.host, port: node.port, user: 'postgres', password: testPassword, database: 'postgres' }));
  await remove();

  // When a node was first seen at (or past: throttled events skip short phases) a phase: the earliest or the latest node.
  const nodePhase = (phase: string, pick: 'first' | 'last'): JobPhaseEvent | null => {
    const rank = nodePhaseOrder.indexOf(phase);
    const perNode = new Map<string, JobPhaseEvent>();
    for (const event of [...run.phases].sort((a, b) => a.at - b.at)) {
      if (event.part === null || perNode.has(event.part) || nodePhaseOrder.indexOf(event.phase) < rank) continue;
      perNode.set(event.part, event);
    }
    const hits = [...perNode.values()].sort((a, b) => a.at - b.at);
    return (pick === 'first' ? hits[0] : hits.at(-1)) ?? null;
  };
  const cpuBetween = (from: JobPhaseEvent | null, to: JobPhaseEvent | null): string =>
    from && to ? `${((to.cpuMs - from.cpuMs) / 1000).toFixed(1)} s CPU in ${((to.at - from.at) / 1000).toFixed(1)} s` : '?';
  const log = milestoneTimes(milestones, run.startedAtEpochMs);
  const spool = scenario.nodes
    .map((n, i) => {
      const m = milestones[i]!;
      const s = sampler.starvation(n.nodeId, m.redoStart ?? 0, m.targetReached ?? 0);
      const delivered = sampler.deliveredAt(n.nodeId);
      return `${n.nodeId} empty in ${s.empty}/${s.samples} samples of its replay, up to ${s.maxWaiting} waiting, all delivered at ${seconds(relative(delivered, run.startedAtEpochMs))}`;
    })
    .join('; ');
  const cpu = `extracting ${cpuBetween(nodePhase('extracting', 'first'), nodePhase('starting', 'last'))}, server start and replay ${cpuBetween(nodePhase('starting', 'first'), nodePhase('paused', 'last'))}, whole restore ${(run.cpuMs / 1000).toFixed(1)} s CPU`;
  return {
    times: {
      validated: nodePhase('extracting', 'first')?.at ?? Number.NaN,
      extracted: log.serverStart,
      serverStart: log.serverStart,
      redoStart: log.redoStart,
      targetReached: log.targetReached,
      promoted: log.promotedLog,
      ready: run.readyMs,
      maxRssKb: run.maxRssKb,
      restoreRssPeakBytes: run.restoreRssPeakBytes,
      openMs: run.openMs,
      spool,
      cpu,
    },
    data,
  };
}

async function bundleChild(): Promise<string> {
  const outdir = join(repoRoot, '.tmp', `tidemark-restore-child-${process.pid}`);
  await build({
    entryPoints: { 'tidemark-restore-child': join(repoRoot, 'bench', 'support', 'tidemark-restore-child.ts'), ...bundledWorkers() },
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    packages: 'external',
    outdir,
    outExtension: { '.js': '.mjs' },
    logLevel: 'warning',
  });
  cleanup.add('child bundle', () => rm(outdir, { recursive: true, force: true }));
  return join(outdir, 'tidemark-restore-child.mjs');
}

/** The engine's worker-thread entries, bundled beside the child as the app's build does. */
function bundledWorkers(): Record<string, string> {
  return Object.fromEntries(Object.entries(workerEntries).map(([name, path]) => [name, join(repoRoot, path)]));
}

interface ScenarioResult {
  scenario: Scenario;
  baseline: SideTimes[];
  tidemark: TidemarkRound[];
}

async function runRounds(scenario: Scenario, runs: number, bundle: string): Promise<ScenarioResult> {
  const inputs = [...scenario.nodes.flatMap((n) => [n.baseTar, n.archiveDir]), scenario.zoneDir];
  const warmed = await warmRead(inputs);
  console.log(`[${scenario.name}] warmed the page cache: read ${megabytes(warmed)} of inputs once (base tars, WAL archives, Tidemark's zone)`);
  const baseline: SideTimes[] = [];
  const tidemark: TidemarkRound[] = [];
  for (let i = 0; i < runs; i++) {
    const data: Record<string, Map<string, string>> = {};
    for (const side of i % 2 === 0 ? (['baseline', 'tidemark'] as const) : (['tidemark', 'baseline'] as const)) {
      const load = machineLoad().loadavg[0].toFixed(2);
      if (side === 'baseline') {
        const { times, data: d } = await timeBaseline(scenario, join(scenario.dir, `r${i}-b`));
        baseline.push(times);
        data.baseline = d;
        console.log(`  round ${i + 1} baseline: promoted ${seconds(times.promoted)} (extract ${seconds(times.extracted)}, replay ${seconds(times.targetReached - times.redoStart)}) [load ${load}]`);
      } else {
        const { times, data: d } = await timeTidemark(scenario, join(scenario.dir, `r${i}-t`), bundle);
        tidemark.push(times);
        data.tidemark = d;
        console.log(
          `  round ${i + 1} Tidemark: promoted ${seconds(times.promoted)}, ready ${seconds(times.ready)} (extract ${seconds(times.extracted - times.validated)}, replay ${seconds(times.targetReached - times.redoStart)}), peak RSS ${(times.maxRssKb / 1024).toFixed(0)} MB [load ${load}]\n      Tidemark process: ${times.cpu}\n      WAL spool: ${times.spool}`,
        );
      }
    }
    for (const node of scenario.nodes) {
      const b = data.baseline?.get(node.nodeId);
      const t = data.tidemark?.get(node.nodeId);
      if (!b || b !== t) throw new Error(`round ${i + 1}: node ${node.nodeId} restored different data (baseline ${b}, Tidemark ${t}): the comparison is void`);
    }
  }
  return { scenario, baseline, tidemark };
}

function report(result: ScenarioResult): string[] {
  const { scenario, baseline, tidemark } = result;
  const m = (xs: SideTimes[], f: (t: SideTimes) => number): number => median(xs.map(f));
  const walReplay = (side: 'baseline' | 'tidemark') => scenario.nodes.reduce((sum, n) => sum + lsnBytes(side === 'baseline' ? n.baselineStartLsn : n.tidemarkStartLsn, n.pointLsn), 0);
  const rows: string[][] = [
    ['median of ' + baseline.length + ' (s from start; last node)', 'baseline (tar, cp)', 'Tidemark'],
    ['plan, validate, provision', '—', seconds(median(tidemark.map((t) => t.validated)))],
    ['extract base backup', seconds(m(baseline, (t) => t.extracted)), seconds(median(tidemark.map((t) => t.extracted - t.validated)))],
    ['configure, server start → redo starts', seconds(m(baseline, (t) => t.redoStart - t.extracted)), seconds(m(tidemark, (t) => t.redoStart - t.extracted))],
    ['replay to the point', seconds(m(baseline, (t) => t.targetReached - t.redoStart)), seconds(m(tidemark, (t) => t.targetReached - t.redoStart))],
    ['point reached → promoted', seconds(m(baseline, (t) => t.promoted - t.targetReached)), seconds(m(tidemark, (t) => t.promoted - t.targetReached))],
    ['promoted → ready (metadata, final restart, checks)', '—', seconds(m(tidemark, (t) => t.ready - t.promoted))],
    ['TOTAL to promoted', seconds(m(baseline, (t) => t.promoted)), seconds(m(tidemark, (t) => t.promoted))],
    ['TOTAL to ready', seconds(m(baseline, (t) => t.ready)), seconds(m(tidemark, (t) => t.ready))],
    ['WAL replayed (all nodes)', megabytes(walReplay('baseline')), megabytes(walReplay('tidemark'))],
  ];
  const bReady = m(baseline, (t) => t.ready);
  const tPromoted = m(tidemark, (t) => t.promoted);
  const tReady = m(tidemark, (t) => t.ready);
  const verdict = (ratio: number): string => `${ratio.toFixed(2)} (target ≤ 1.00: ${ratio <= 1 ? 'met' : 'MISSED'})`;
  return [
    formatTable(rows),
    `ratio Tidemark / baseline, to promoted: ${verdict(tPromoted / bReady)}; to ready: ${verdict(tReady / bReady)}`,
    `Tidemark peak RSS: ${(Math.max(...tidemark.map((t) => t.maxRssKb)) / 1024).toFixed(0)} MB for the process (includes unlocking the repository: scrypt, ${seconds(median(tidemark.map((t) => t.openMs)))} untimed), ${(Math.max(...tidemark.map((t) => t.restoreRssPeakBytes)) / MB).toFixed(0)} MB sampled during the restore`,
  ];
}

async function describeScenario(scenario: Scenario): Promise<string> {
  const lines = [`[${scenario.name}] restore point ${scenario.pointName}`];
  for (const n of scenario.nodes) {
    lines.push(
      `  ${n.nodeId} (${n.role}): database ${megabytes(n.dataBytes)}; base.tar ${megabytes(await diskBytes(n.baseTar))}; Tidemark base backup ${megabytes(n.tidemarkArchiveBytes)} stored (lz4); ` +
        `WAL written after the backups ${megabytes(n.walWritten)}, to replay: baseline ${megabytes(lsnBytes(n.baselineStartLsn, n.pointLsn))}, Tidemark ${megabytes(lsnBytes(n.tidemarkStartLsn, n.pointLsn))} (${n.walFiles} files planned); WAL archive ${megabytes(await diskBytes(n.archiveDir))}`,
    );
  }
  lines.push(`  Tidemark's zone (encrypted, all objects): ${megabytes(await diskBytes(scenario.zoneDir))}`);
  return lines.join('\n');
}

async function main(): Promise<void> {
  const startLoad = machineLoad();
  console.log(`Machine at start: ${describeLoad(startLoad)}`);
  const runs = Number(args.runs);
  const root = await tempDir('tdm-rbench-');
  cleanup.add('temp folder', () => root.cleanup());
  cleanup.add('servers left under the temp folder', () => stopServersUnder(root.path));
  const bundle = await bundleChild();
  const summaries: string[] = [];
  try {
    if (args.only !== 'cluster') {
      const single = await prepareScenario(root.path, 'single', { workers: 0, scale: Number(args.scale), randomMb: Number(args['random-mb']), walMb: Number(args['wal-mb']), sharedBuffers: '256MB' });
      summaries.push(await describeScenario(single));
      const result = await runRounds(single, runs, bundle);
      summaries.push(...report(result));
      await rm(single.dir, { recursive: true, force: true });
    }
    if (args.only !== 'single') {
      const cluster = await prepareScenario(root.path, 'cluster', { workers: 2, scale: Number(args['cluster-scale']), randomMb: 0, walMb: Number(args['cluster-wal-mb']), sharedBuffers: '128MB' });
      summaries.push(await describeScenario(cluster));
      const result = await runRounds(cluster, runs, bundle);
      summaries.push(...report(result));
    }
    console.log(`\n${summaries.join('\n\n')}`);
    console.log(`\nMachine at start: ${describeLoad(startLoad)}; at end: ${describeLoad(machineLoad())}.`);
    console.log('Phases come from the servers\' logs (ms timestamps) and the restore job\'s events (throttled to 250 ms); fsync = ' + (args.fsync === 'off' ? 'off' : 'on') + ' on both sides (carried from the source).');
  } finally {
    await cleanup.run();
  }
}

await main();
