import { setMaxListeners } from 'node:events';
import { userInfo } from 'node:os';
import { posix } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { TidemarkError, isAbortError, throwIfAborted } from '../errors.js';
import { compareLsn, parseLsn } from '../replication/lsn.js';
import { finalHba, type AccessRules } from './access-config.js';
import { clusterNodeHealth, hasCitusMetadata, recoverPreparedTransactions, rewriteCitusMetadata, type HealthPair, type MetadataRewrite, type NodeAddress } from './citus-metadata.js';
import { connectNode, isNotReady, listDatabases, maintenanceDatabase, withNodeClient } from './node-connection.js';
import { recoverNodeToPoint, walBytesBetween, type PausedNode } from './node-recovery.js';
import { buildChecklist, type ChecklistItem } from './post-restore-checklist.js';
import type { NodeSpec, ProvisionedNode, Provisioner } from './provisioner.js';
import { carryParameters, finalSettings, renderAutoConf } from './recovery-config.js';
import { NodeProgressReporter, type ProgressListener } from './restore-progress.js';
import type { NodeRestoreSource } from './restore-source.js';
import { disableSubscriptions, type DisabledSubscription } from './subscriptions.js';
import { defaultSpoolWindow } from './wal-spool.js';

export interface ClusterRestoreNode {
  source: NodeRestoreSource;
  /** where the node goes; tablespaces without a location go under `<baseDir>/tablespaces/<oid>` */
  spec: NodeSpec;
  role: 'coordinator' | 'worker';
  /** pg_dist_node.nodeid of the source node; null for a cluster without Citus metadata */
  distNodeId: number | null;
}

export interface RestorePointTarget {
  name: string;
  /** what citus_create_restore_point (or pg_create_restore_point) returned on the coordinator */
  coordinatorLsn: string | null;
  /** per node: an LSN at or after the point */
  nodeLsns: Readonly<Record<string, string>>;
}

export interface ClusterRestoreOptions {
  /** nodes recovered at the same time (default 4) */
  nodeConcurrency?: number;
  /** WAL files fetched at the same time per node (default 4) */
  prefetchConcurrency?: number;
  /** most WAL segments waiting in a node's spool (default 64) */
  spoolWindow?: number;
  /** on failure keep the created nodes (stopped) for inspection instead of removing them */
  keepFailedNodes?: boolean;
  /** prefixed to the source's cluster_name (default `restored-`) */
  clusterNamePrefix?: string;
  /** access rules of the finished nodes (default: local peer, localhost with scram-sha-256) */
  access?: AccessRules;
  /** listen_addresses of the finished nodes (default `localhost` when every node is on loopback, else `*`) */
  listenAddresses?: string;
  /** how long a restarted node may take to accept connections (default 120 s) */
  readyTimeoutMs?: number;
}

export interface ClusterRestoreRequest {
  point: RestorePointTarget;
  nodes: readonly ClusterRestoreNode[];
  provisioner: Provisioner;
  options?: ClusterRestoreOptions;
  signal?: AbortSignal;
  onProgress?: ProgressListener;
}

export interface RestoredNodeInfo {
  nodeId: string;
  role: 'coordinator' | 'worker';
  host: string;
  port: number;
  dataDir: string;
  socketDir: string;
  /** where replay paused: the restore point on this node */
  pausedAtLsn: string;
}

export interface ClusterRestoreResult {
  point: string;
  nodes: RestoredNodeInfo[];
  connectionString: string;
  citus: { metadata: MetadataRewrite[]; preparedTransactionsRecovered: number; health: HealthPair[] } | null;
  checklist: ChecklistItem[];
}

interface RestoringNode {
  plan: ClusterRestoreNode;
  spec: NodeSpec;
  superuser: string;
  progress: NodeProgressReporter;
  node: ProvisionedNode | null;
}

const promoteTimeoutMs = 120_000;

/**
 * Restores a whole cluster to one restore point, into new nodes: every node recovered and paused
 * AT the point (verified), only then all promoted; Citus metadata rewritten to the new nodes
 * while Citus is not loaded; then the source's libraries and the final access rules, a restart,
 * and Citus's own checks. Nothing ever connects to a source node. Cancel or failure removes
 * every node created (unless asked to keep failed nodes).
 */
export async function restoreCluster(request: ClusterRestoreRequest): Promise<ClusterRestoreResult> {
  validateRequest(request);
  const { provisioner, signal, point } = request;
  const options = request.options ?? {};
  const nodes: RestoringNode[] = request.nodes.map((plan) => {
    const spec = completeSpec(plan);
    return {
      plan,
      spec,
      superuser: plan.source.serverConfig.bootstrapSuperuser,
      node: null,
      progress: new NodeProgressReporter(
        spec.nodeId,
        { bytesTotal: plan.source.dataBytes, walFilesPlanned: plan.source.walFiles.length, walNeededBytes: walBytesBetween(plan.source.backupStartLsn, point.nodeLsns[spec.nodeId] ?? null) },
        request.onProgress,
      ),
    };
  });

  await preflight(request, nodes);
  try {
    for (const entry of nodes) {
      throwIfAborted(signal);
      entry.node = await provisioner.createNode(entry.spec);
    }
    const socketOsUsers = provisioner.socketOsUsers ? await provisioner.socketOsUsers() : [userInfo().username];

    const paused = await recoverAll(request, nodes, socketOsUsers);
    verifyPausedAtPoint(request, nodes, paused);

    await forEachNode(nodes, signal, (entry) => promote(entry));
    const addresses: NodeAddress[] = nodes.flatMap((e) => (e.plan.distNodeId === null ? [] : [{ distNodeId: e.plan.distNodeId, host: live(e).host, port: live(e).port }]));
    const subscriptions: DisabledSubscription[] = [];
    const metadata = new Map<string, MetadataRewrite[]>();
    for (const entry of nodes) {
      throwIfAborted(signal);
      entry.progress.phase('rewriting-metadata');
      const fixed = await isolatedFixup(entry, addresses);
      subscriptions.push(...fixed.subscriptions);
      metadata.set(entry.spec.nodeId, fixed.metadata);
    }

    const listenAddresses = options.listenAddresses ?? (nodes.every((e) => isLoopback(live(e).host)) ? 'localhost' : '*');
    const access = options.access ?? {};
    await forEachNode(nodes, signal, (entry) => finishNode(entry, nodes, listenAddresses, access, options));

    const citus = await citusChecks(nodes, metadata, signal);
    const coordinator = nodes.find((e) => e.plan.role === 'coordinator') ?? (nodes[0] as RestoringNode);
    const database = citus?.metadata[0]?.database ?? 'postgres';
    const connectionString = connectionUri(coordinator.superuser, live(coordinator).host, live(coordinator).port, database);
    for (const entry of nodes) entry.progress.phase('ready');
    return {
      point: point.name,
      nodes: nodes.map((e) => ({
        nodeId: e.spec.nodeId,
        role: e.plan.role,
        host: live(e).host,
        port: live(e).port,
        dataDir: live(e).dataDir,
        socketDir: live(e).socketDir,
        pausedAtLsn: paused.get(e.spec.nodeId)?.replayLsn ?? '',
      })),
      connectionString,
      citus,
      checklist: buildChecklist({
        connectionString,
        superuser: coordinator.superuser,
        access,
        nodeAddresses: nodes.map((e) => `${live(e).host}:${live(e).port}`),
        configNotes: dedupeNotes(nodes.flatMap((e) => carryParameters(e.plan.source.serverConfig).notes)),
        disabledSubscriptions: subscriptions,
        extensions: [...new Set(nodes.flatMap((e) => e.plan.source.serverConfig.extensions.map((x) => x.name)))],
        metadata: [...metadata.values()].flat(),
      }),
    };
  } catch (err) {
    const cancelled = signal?.aborted || isAbortError(err) || (err instanceof TidemarkError && err.code === 'cancelled');
    await cleanUp(nodes, cancelled || !options.keepFailedNodes);
    for (const entry of nodes) entry.progress.phase(cancelled ? 'cancelled' : 'failed');
    if (cancelled) throw new TidemarkError('cancelled', 'The restore was cancelled; every node it had created was removed.', { retryable: true });
    if (options.keepFailedNodes && err instanceof TidemarkError) {
      const kept = nodes.filter((e) => e.node).map((e) => `${e.spec.nodeId}: ${e.spec.baseDir}`);
      throw new TidemarkError(err.code, `${err.message}\nThe nodes were kept (stopped) for inspection: ${kept.join('; ')}. Remove them when done.`, { retryable: err.retryable, details: { ...err.details, keptNodes: kept }, cause: err });
    }
    throw err;
  }
}

function validateRequest(request: ClusterRestoreRequest): void {
  const { point, nodes } = request;
  if (nodes.length === 0) throw new TidemarkError('invalid_input', 'A restore needs at least one node.');
  if (point.name === '' || Buffer.byteLength(point.name) >= 64) throw new TidemarkError('invalid_input', `"${point.name}" is not a restore point name (1 to 63 bytes).`);
  const ids = new Set<string>();
  for (const { spec, source } of nodes) {
    if (ids.has(spec.nodeId)) throw new TidemarkError('invalid_input', `Node ${spec.nodeId} appears twice in the restore.`);
    ids.add(spec.nodeId);
    if (source.nodeId !== spec.nodeId) throw new TidemarkError('invalid_input', `Node ${spec.nodeId} was given the backup of node ${source.nodeId}.`);
    if (!point.nodeLsns[spec.nodeId]) {
      throw new TidemarkError('invalid_input', `Restore point "${point.name}" has no recorded LSN for node ${spec.nodeId}, so reaching it cannot be verified there; choose a restore point that covers every node.`);
    }
  }
  if (nodes.filter((n) => n.role === 'coordinator').length > 1) throw new TidemarkError('invalid_input', 'A restore has at most one coordinator.');
  const majors = new Set(nodes.map((n) => majorOf(n.source.serverConfig.serverVersionNum)));
  if (majors.size > 1) throw new TidemarkError('invalid_input', `The nodes' backups are of different PostgreSQL major versions (${[...majors].join(', ')}); a cluster restore needs one.`);
}

function completeSpec(plan: ClusterRestoreNode): NodeSpec {
  const tablespaces: Record<number, string> = { ...plan.spec.tablespaces };
  for (const archive of plan.source.archives) {
    if (archive.tablespaceOid !== null && !tablespaces[archive.tablespaceOid]) {
      tablespaces[archive.tablespaceOid] = posix.join(plan.spec.baseDir, 'tablespaces', String(archive.tablespaceOid));
    }
  }
  return { ...plan.spec, tablespaces };
}

async function preflight(request: ClusterRestoreRequest, nodes: RestoringNode[]): Promise<void> {
  const first = nodes[0] as RestoringNode;
  const window = request.options?.spoolWindow ?? defaultSpoolWindow;
  const bytesNeeded: Record<string, number> = {};
  for (const { plan, spec } of nodes) {
    bytesNeeded[spec.nodeId] = (plan.source.dataBytes ?? 0) + window * plan.source.walSegmentSize;
  }
  const problems = await request.provisioner.check({
    majorVersion: majorOf(first.plan.source.serverConfig.serverVersionNum),
    sharedPreloadLibraries: [...new Set(nodes.flatMap((e) => e.plan.source.serverConfig.sharedPreloadLibraries))],
    extensions: [...new Set(nodes.flatMap((e) => e.plan.source.serverConfig.extensions.map((x) => x.name)))].filter((name) => name !== 'plpgsql'),
    nodes: nodes.map((e) => e.spec),
    bytesNeeded,
  });
  if (problems.length > 0) {
    const lines = problems.map((p) => (p.nodeId ? `node ${p.nodeId}: ${p.message}` : p.message));
    throw new TidemarkError('preflight_failed', `The restore cannot start; nothing was created:\n- ${lines.join('\n- ')}`, { details: { problems } });
  }
}

/** Recovers every node to the point in parallel; the first failure stops the others. */
async function recoverAll(request: ClusterRestoreRequest, nodes: RestoringNode[], socketOsUsers: string[]): Promise<Map<string, PausedNode>> {
  const options = request.options ?? {};
  const internal = new AbortController();
  // Shared by every node's recovery, each listening several times (streams, sleeps, its own forwarding).
  setMaxListeners(1000, internal.signal);
  const forward = (): void => internal.abort();
  request.signal?.addEventListener('abort', forward, { once: true });
  const paused = new Map<string, PausedNode>();
  let firstError: unknown = null;
  try {
    await runBounded(nodes, options.nodeConcurrency ?? 4, async (entry) => {
      if (internal.signal.aborted) return;
      try {
        const result = await recoverNodeToPoint({
          node: live(entry),
          source: entry.plan.source,
          tablespaces: entry.spec.tablespaces,
          pointName: request.point.name,
          targetLsn: request.point.nodeLsns[entry.spec.nodeId] ?? null,
          socketOsUsers,
          progress: entry.progress,
          // every poll reads the server log: cheap on this machine, a round trip over SSH
          pollIntervalMs: request.provisioner.kind === 'local' ? 100 : 500,
          signal: internal.signal,
          prefetch: {
            ...(options.prefetchConcurrency === undefined ? {} : { concurrency: options.prefetchConcurrency }),
            ...(options.spoolWindow === undefined ? {} : { window: options.spoolWindow }),
          },
          ...(options.clusterNamePrefix === undefined ? {} : { clusterNamePrefix: options.clusterNamePrefix }),
        });
        paused.set(entry.spec.nodeId, result);
      } catch (err) {
        if (!internal.signal.aborted || request.signal?.aborted) firstError ??= err;
        internal.abort();
      }
    });
  } finally {
    request.signal?.removeEventListener('abort', forward);
  }
  throwIfAborted(request.signal);
  if (firstError) throw firstError;
  return paused;
}

/** Every node paused exactly where the point says: the coordinator on its LSN, the others at or before theirs. */
function verifyPausedAtPoint(request: ClusterRestoreRequest, nodes: RestoringNode[], paused: Map<string, PausedNode>): void {
  const { point } = request;
  for (const entry of nodes) {
    const id = entry.spec.nodeId;
    const at = paused.get(id);
    if (!at) throw new TidemarkError('internal', `Node ${id} did not report where it paused.`);
    const replay = parseLsn(at.replayLsn);
    const recorded = point.nodeLsns[id] as string;
    if (compareLsn(replay, parseLsn(recorded)) > 0) {
      throw new TidemarkError('target_unreachable', `Node ${id} paused at ${at.replayLsn}, after the LSN recorded for restore point "${point.name}" on it (${recorded}): it stopped at a different point of that name. Nothing was promoted; choose another restore point.`, { details: { nodeId: id, replayLsn: at.replayLsn, recordedLsn: recorded } });
    }
    if (entry.plan.role === 'coordinator' && point.coordinatorLsn && compareLsn(replay, parseLsn(point.coordinatorLsn)) !== 0) {
      throw new TidemarkError('target_unreachable', `The coordinator (node ${id}) paused at ${at.replayLsn}, but restore point "${point.name}" is at ${point.coordinatorLsn}: it stopped at another point of the same name. Nothing was promoted; choose another restore point.`, { details: { nodeId: id, replayLsn: at.replayLsn, pointLsn: point.coordinatorLsn } });
    }
  }
}

async function promote(entry: RestoringNode): Promise<void> {
  const node = live(entry);
  entry.progress.phase('promoting');
  await withNodeClient(node, entry.superuser, 'template1', async (client) => {
    await client.query('SELECT pg_catalog.pg_wal_replay_resume()');
    const deadline = Date.now() + promoteTimeoutMs;
    for (;;) {
      const { rows } = await client.query<{ r: boolean }>('SELECT pg_catalog.pg_is_in_recovery() AS r');
      if (rows[0]?.r === false) return;
      if (Date.now() > deadline) {
        throw new TidemarkError('internal', `Node ${node.nodeId} did not finish promotion within ${promoteTimeoutMs / 1000} s. Its log ends with:\n${await node.logTail(20)}`);
      }
      await sleep(100);
    }
  });
}

/** While still isolated and without Citus: subscriptions off, metadata pointing at the new nodes. */
async function isolatedFixup(entry: RestoringNode, addresses: NodeAddress[]): Promise<{ subscriptions: DisabledSubscription[]; metadata: MetadataRewrite[] }> {
  const node = live(entry);
  const su = entry.superuser;
  const database = await maintenanceDatabase(node, su);
  const { subscriptions, databases } = await withNodeClient(node, su, database, async (client) => ({
    subscriptions: await disableSubscriptions(client, (db) => connectNode(node, su, db)),
    databases: await listDatabases(client),
  }));
  const metadata: MetadataRewrite[] = [];
  for (const db of databases) {
    await withNodeClient(node, su, db, async (client) => {
      if (await hasCitusMetadata(client)) metadata.push(await rewriteCitusMetadata(client, db, addresses, `node ${node.nodeId}`));
    });
  }
  return { subscriptions, metadata };
}

/** The node's final configuration and access rules, the spool removed, a restart with its libraries. */
async function finishNode(entry: RestoringNode, all: RestoringNode[], listenAddresses: string, access: AccessRules, options: ClusterRestoreOptions): Promise<void> {
  const node = live(entry);
  const config = entry.plan.source.serverConfig;
  entry.progress.phase('restarting');
  const settings = finalSettings({
    config,
    port: node.port,
    socketDir: node.socketDir,
    listenAddresses,
    ...(options.clusterNamePrefix === undefined ? {} : { clusterNamePrefix: options.clusterNamePrefix }),
  });
  await node.writeDataFile('postgresql.auto.conf', renderAutoConf(settings, `Node ${node.nodeId}, restored by Tidemark.`));
  const peers = all.filter((e) => e !== entry).map((e) => live(e).host);
  await node.writeDataFile('pg_hba.conf', finalHba(entry.superuser, access, peers));
  await node.stop('fast');
  await node.clearSpool?.();
  await node.start();
  await waitReady(entry, options.readyTimeoutMs ?? 120_000);
}

async function waitReady(entry: RestoringNode, timeoutMs: number): Promise<void> {
  const node = live(entry);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const inRecovery = await withNodeClient(node, entry.superuser, 'template1', async (client) => (await client.query<{ r: boolean }>('SELECT pg_catalog.pg_is_in_recovery() AS r')).rows[0]?.r);
      if (inRecovery === false) return;
    } catch (err) {
      if (!isNotReady(err)) throw new TidemarkError('internal', `Node ${node.nodeId} does not accept connections after its restart: ${(err as Error).message}. Its log ends with:\n${await node.logTail(20)}`, { cause: err });
    }
    if (!(await node.isRunning())) {
      throw new TidemarkError('internal', `The server of node ${node.nodeId} stopped after its restart with the source's libraries. Its log ends with:\n${await node.logTail(20)}`);
    }
    if (Date.now() > deadline) throw new TidemarkError('internal', `Node ${node.nodeId} did not accept connections within ${timeoutMs / 1000} s after its restart.`);
    await sleep(200);
  }
}

/** With Citus loaded again: settle 2PC transactions left prepared at the cut, then every node must reach every node. */
async function citusChecks(nodes: RestoringNode[], metadata: Map<string, MetadataRewrite[]>, signal: AbortSignal | undefined): Promise<ClusterRestoreResult['citus']> {
  const all = [...metadata.values()].flat();
  if (all.length === 0) return null;
  const coordinator = nodes.find((e) => e.plan.role === 'coordinator');
  if (!coordinator) return { metadata: all, preparedTransactionsRecovered: 0, health: [] };
  throwIfAborted(signal);
  coordinator.progress.phase('checking');
  let recovered = 0;
  const health: HealthPair[] = [];
  for (const { database } of metadata.get(coordinator.spec.nodeId) ?? []) {
    await withNodeClient(live(coordinator), coordinator.superuser, database, async (client) => {
      recovered += await recoverPreparedTransactions(client);
      health.push(...(await clusterNodeHealth(client)));
    });
  }
  const failing = health.filter((pair) => pair.result !== true);
  if (failing.length > 0) {
    throw new TidemarkError('connection_failed', `The restored nodes cannot all reach each other (citus_check_cluster_node_health): ${failing.map((p) => `${p.from} → ${p.to}`).join(', ')}. Check the nodes' pg_hba.conf and the authentication Citus uses between nodes (.pgpass or pg_dist_authinfo).`, { details: { failing } });
  }
  return { metadata: all, preparedTransactionsRecovered: recovered, health };
}

async function cleanUp(nodes: RestoringNode[], remove: boolean): Promise<void> {
  await Promise.all(
    nodes.map(async (entry) => {
      if (!entry.node) return;
      try {
        if (remove) await entry.node.destroy();
        else await entry.node.stop('fast');
      } catch {
        // best effort: the error that got us here is what the user must see
      }
    }),
  );
}

async function forEachNode(nodes: RestoringNode[], signal: AbortSignal | undefined, fn: (entry: RestoringNode) => Promise<void>): Promise<void> {
  throwIfAborted(signal);
  const results = await Promise.allSettled(nodes.map(fn));
  throwIfAborted(signal);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}

async function runBounded<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++] as T);
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
}

function live(entry: RestoringNode): ProvisionedNode {
  if (!entry.node) throw new TidemarkError('internal', `Node ${entry.spec.nodeId} was not created.`);
  return entry.node;
}

function majorOf(serverVersionNum: number): number {
  return Math.floor(serverVersionNum / 10000);
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}

function connectionUri(user: string, host: string, port: number, database: string): string {
  const h = host.includes(':') ? `[${host}]` : host;
  return `postgresql://${encodeURIComponent(user)}@${h}:${port}/${encodeURIComponent(database)}`;
}

function dedupeNotes<T extends { message: string }>(notes: T[]): T[] {
  const seen = new Set<string>();
  return notes.filter((n) => (seen.has(n.message) ? false : (seen.add(n.message), true)));
}
