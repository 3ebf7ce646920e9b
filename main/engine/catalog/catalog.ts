import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { TidemarkError } from '../errors.js';
import type { Repository } from '../repository/repository.js';
import type { ZonePutResult } from '../repository/zones/zone-set.js';
import { catalogIndexSchema, compareRestorePoints, lowerBound, upsertSorted, type CatalogIndex, type ClusterIndex, type NodeIndex } from './catalog-index.js';
import { parseCatalogKey } from './key-parser.js';
import { layout } from './layout.js';
import {
  gapKey,
  baseBackupRecordSchema,
  clusterRecordSchema,
  nodeRecordSchema,
  restorePointRecordSchema,
  walGapRecordSchema,
  type BaseBackupRecord,
  type ClusterRecord,
  type NodeRecord,
  type RestorePointRecord,
  type WalGapRecord,
} from './records.js';
import { mapPool } from '../run-pool.js';

const compareText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** What retention removed from one node; gaps are named by `gapKey`. */
export interface NodeForget {
  cluster: string;
  node: string;
  backups?: string[];
  walSegments?: string[];
  walPartials?: string[];
  histories?: number[];
  gaps?: string[];
}

export interface RestorePointQuery {
  from?: Date;
  to?: Date;
  status?: RestorePointRecord['status'];
  limit?: number;
}

/**
 * The catalog of one repository: typed records written to the zones, and a local index
 * that makes listing fast. The zones are the truth; `rebuild()` recreates the index from
 * any one of them.
 */
export class Catalog {
  private index: CatalogIndex;
  private saveTimer: NodeJS.Timeout | null = null;
  private saving: Promise<void> = Promise.resolve();

  private constructor(
    readonly repository: Repository,
    private readonly indexPath: string,
    index: CatalogIndex,
  ) {
    this.index = index;
  }

  /** Loads the local index, or rebuilds it from the zones when missing or unreadable. */
  static async open(repository: Repository, indexPath: string): Promise<Catalog> {
    const catalog = new Catalog(repository, indexPath, emptyIndex(repository.id));
    const loaded = await readIndex(indexPath, repository.id);
    if (loaded) catalog.index = loaded;
    else await catalog.rebuild();
    return catalog;
  }

  // ----- writes: to the zones first, then the index -----

  async putCluster(record: ClusterRecord): Promise<ZonePutResult> {
    const result = await this.repository.putRecord(layout.cluster(record.clusterId), clusterRecordSchema.parse(record));
    const existing = this.index.clusters[record.clusterId];
    this.index.clusters[record.clusterId] = existing ? { ...existing, record } : { record, nodes: {}, restorePoints: [] };
    this.changed();
    return result;
  }

  async putNode(record: NodeRecord): Promise<ZonePutResult> {
    const result = await this.repository.putRecord(layout.node(record.clusterId, record.nodeId), nodeRecordSchema.parse(record));
    const cluster = this.requireCluster(record.clusterId);
    const existing = cluster.nodes[record.nodeId];
    cluster.nodes[record.nodeId] = existing ? { ...existing, record } : emptyNode(record);
    this.changed();
    return result;
  }

  /** Writes the completion record of a base backup: only now does the backup exist. */
  async putBackup(record: BaseBackupRecord): Promise<ZonePutResult> {
    const result = await this.repository.putRecord(layout.backupRecord(record.clusterId, record.nodeId, record.backupId), baseBackupRecordSchema.parse(record));
    const node = this.requireNode(record.clusterId, record.nodeId);
    upsertSorted(node.backups, record, (a, b) => compareText(a.startedAt, b.startedAt) || compareText(a.backupId, b.backupId));
    this.changed();
    return result;
  }

  async putRestorePoint(record: RestorePointRecord): Promise<ZonePutResult> {
    const result = await this.repository.putRecord(layout.restorePoint(record.clusterId, new Date(record.createdAt), record.name), restorePointRecordSchema.parse(record));
    upsertSorted(this.requireCluster(record.clusterId).restorePoints, record, compareRestorePoints);
    this.changed();
    return result;
  }

  async putGap(record: WalGapRecord): Promise<ZonePutResult> {
    const fromHex = record.fromLsn.replace('/', '-');
    const result = await this.repository.putRecord(layout.walGap(record.clusterId, record.nodeId, record.timeline, fromHex), walGapRecordSchema.parse(record));
    const node = this.requireNode(record.clusterId, record.nodeId);
    node.gaps = [...node.gaps.filter((g) => !(g.timeline === record.timeline && g.fromLsn === record.fromLsn)), record];
    this.changed();
    return result;
  }

  /** Records WAL objects the archiver stored (it writes the objects itself). */
  noteWalSegment(cluster: string, node: string, segment: string): void {
    const n = this.requireNode(cluster, node);
    upsertSorted(n.walSegments, segment, compareText);
    delete n.walPartials[segment];
    this.changed();
  }

  noteWalPartial(cluster: string, node: string, segment: string, bytes: number): void {
    this.requireNode(cluster, node).walPartials[segment] = bytes;
    this.changed();
  }

  noteHistory(cluster: string, node: string, timeline: number): void {
    const n = this.requireNode(cluster, node);
    if (!n.histories.includes(timeline)) n.histories = [...n.histories, timeline].sort((a, b) => a - b);
    this.changed();
  }

  /** Forgets deleted objects (after retention removed them from the zones). */
  forget(change: NodeForget | { cluster: string; restorePoints: string[] }): void {
    const cluster = this.requireCluster(change.cluster);
    if ('restorePoints' in change) {
      const gone = new Set(change.restorePoints);
      cluster.restorePoints = cluster.restorePoints.filter((p) => !gone.has(p.name));
    } else {
      const node = this.requireNode(change.cluster, change.node);
      const backups = new Set(change.backups ?? []);
      const segments = new Set(change.walSegments ?? []);
      const histories = new Set(change.histories ?? []);
      const gaps = new Set(change.gaps ?? []);
      node.backups = node.backups.filter((b) => !backups.has(b.backupId));
      node.walSegments = node.walSegments.filter((s) => !segments.has(s));
      for (const segment of change.walPartials ?? []) delete node.walPartials[segment];
      node.histories = node.histories.filter((t) => !histories.has(t));
      node.gaps = node.gaps.filter((g) => !gaps.has(gapKey(g)));
    }
    this.changed();
  }

  // ----- reads: from the index -----

  clusters(): ClusterRecord[] {
    return Object.values(this.index.clusters).map((c) => c.record);
  }

  cluster(clusterId: string): ClusterIndex | undefined {
    return this.index.clusters[clusterId];
  }

  nodes(clusterId: string): NodeIndex[] {
    return Object.values(this.index.clusters[clusterId]?.nodes ?? {});
  }

  node(clusterId: string, nodeId: string): NodeIndex | undefined {
    return this.index.clusters[clusterId]?.nodes[nodeId];
  }

  /** Restore points in time order; `from`/`to` are inclusive; found by binary search. */
  restorePoints(clusterId: string, query: RestorePointQuery = {}): RestorePointRecord[] {
    const points = this.index.clusters[clusterId]?.restorePoints ?? [];
    const start = query.from ? lowerBound(points, (p) => p.createdAt >= query.from!.toISOString()) : 0;
    const end = query.to ? lowerBound(points, (p) => p.createdAt > query.to!.toISOString()) : points.length;
    const out: RestorePointRecord[] = [];
    for (let i = start; i < end; i++) {
      const p = points[i]!;
      if (query.status && p.status !== query.status) continue;
      out.push(p);
      if (query.limit !== undefined && out.length >= query.limit) break;
    }
    return out;
  }

  countRestorePoints(clusterId: string, from?: Date, to?: Date): number {
    const points = this.index.clusters[clusterId]?.restorePoints ?? [];
    const start = from ? lowerBound(points, (p) => p.createdAt >= from.toISOString()) : 0;
    const end = to ? lowerBound(points, (p) => p.createdAt > to.toISOString()) : points.length;
    return Math.max(0, end - start);
  }

  /** The newest point created at or before `at` with the given status. */
  latestRestorePointAtOrBefore(clusterId: string, at: Date, status: RestorePointRecord['status'] = 'restorable'): RestorePointRecord | undefined {
    const points = this.index.clusters[clusterId]?.restorePoints ?? [];
    for (let i = lowerBound(points, (p) => p.createdAt > at.toISOString()) - 1; i >= 0; i--) {
      if (points[i]!.status === status) return points[i];
    }
    return undefined;
  }

  // ----- the index itself -----

  /** Recreates the index from the zones: lists every object and reads every record. */
  async rebuild(options: { concurrency?: number } = {}): Promise<{ objects: number; unreachableZones: string[] }> {
    const listing = await this.repository.list(layout.clustersPrefix());
    if (listing.objects.length === 0 && listing.unreachable.length === this.repository.zones.zones.length) {
      throw new TidemarkError('zone_unavailable', `No zone of repository "${this.repository.id}" could be listed; check that at least one is reachable.`, { retryable: true });
    }
    const next = emptyIndex(this.repository.id);
    const parsed = listing.objects.map((o) => ({ key: o.key, p: parseCatalogKey(o.key) }));
    const readAll = <T>(keys: string[], read: (key: string) => Promise<T>): Promise<T[]> => mapPool(keys, options.concurrency ?? 16, read);
    const keysOf = (kind: string) => parsed.filter((x) => x.p.kind === kind).map((x) => x.key);
    for (const record of await readAll(keysOf('cluster'), (k) => this.repository.readRecord(k, clusterRecordSchema))) {
      if (record) next.clusters[record.clusterId] = { record, nodes: {}, restorePoints: [] };
    }
    for (const record of await readAll(keysOf('node'), (k) => this.repository.readRecord(k, nodeRecordSchema))) {
      const cluster = record && next.clusters[record.clusterId];
      if (record && cluster) cluster.nodes[record.nodeId] = emptyNode(record);
    }
    const nodeOf = (cluster: string, node: string) => next.clusters[cluster]?.nodes[node];
    for (const record of await readAll(keysOf('backup-record'), (k) => this.repository.readRecord(k, baseBackupRecordSchema))) {
      const node = record && nodeOf(record.clusterId, record.nodeId);
      if (record && node) node.backups.push(record);
    }
    for (const record of await readAll(keysOf('gap'), (k) => this.repository.readRecord(k, walGapRecordSchema))) {
      const node = record && nodeOf(record.clusterId, record.nodeId);
      if (record && node) node.gaps.push(record);
    }
    for (const record of await readAll(keysOf('restore-point'), (k) => this.repository.readRecord(k, restorePointRecordSchema))) {
      const cluster = record && next.clusters[record.clusterId];
      if (record && cluster) cluster.restorePoints.push(record);
    }
    const partialKeys: { key: string; cluster: string; node: string; segment: string }[] = [];
    for (const { key, p } of parsed) {
      if (p.kind === 'wal-segment') nodeOf(p.cluster, p.node)?.walSegments.push(p.segment);
      else if (p.kind === 'wal-history') nodeOf(p.cluster, p.node)?.histories.push(p.timeline);
      else if (p.kind === 'wal-partial') partialKeys.push({ key, ...p });
    }
    // A partial's plaintext length says how far the WAL reaches: read it (one per node, small count).
    await readAll(partialKeys.map((x) => x.key), async (key) => {
      const entry = partialKeys.find((x) => x.key === key)!;
      const node = nodeOf(entry.cluster, entry.node);
      if (node && !node.walSegments.includes(entry.segment)) node.walPartials[entry.segment] = (await this.repository.readObject(key)).length;
    });
    for (const cluster of Object.values(next.clusters)) {
      cluster.restorePoints.sort(compareRestorePoints);
      for (const node of Object.values(cluster.nodes)) {
        node.backups.sort((a, b) => compareText(a.startedAt, b.startedAt));
        node.walSegments.sort(compareText);
        node.histories.sort((a, b) => a - b);
      }
    }
    this.index = next;
    await this.flush();
    return { objects: listing.objects.length, unreachableZones: listing.unreachable.map((u) => u.zoneId) };
  }

  /** Writes the index now (it is otherwise written a moment after each change). */
  async flush(): Promise<void> {
    if (this.saveTimer) {
      clearTimeout(this.saveTimer);
      this.saveTimer = null;
    }
    const snapshot = JSON.stringify({ ...this.index, builtAt: new Date().toISOString() });
    this.saving = this.saving.then(() => writeIndex(this.indexPath, snapshot)).catch(() => undefined);
    await this.saving;
  }

  async close(): Promise<void> {
    await this.flush();
  }

  private changed(): void {
    if (this.saveTimer) return;
    this.saveTimer = setTimeout(() => {
      this.saveTimer = null;
      void this.flush();
    }, 2000);
    this.saveTimer.unref();
  }

  private requireCluster(clusterId: string): ClusterIndex {
    const cluster = this.index.clusters[clusterId];
    if (!cluster) throw new TidemarkError('not_found', `Cluster "${clusterId}" is not in repository "${this.repository.id}".`);
    return cluster;
  }

  private requireNode(clusterId: string, nodeId: string): NodeIndex {
    const node = this.requireCluster(clusterId).nodes[nodeId];
    if (!node) throw new TidemarkError('not_found', `Node "${nodeId}" of cluster "${clusterId}" is not in repository "${this.repository.id}".`);
    return node;
  }
}

function emptyIndex(repositoryId: string): CatalogIndex {
  return { version: 1, repositoryId, builtAt: new Date().toISOString(), clusters: {} };
}

function emptyNode(record: NodeRecord): NodeIndex {
  return { record, backups: [], walSegments: [], walPartials: {}, histories: [], gaps: [] };
}

async function readIndex(path: string, repositoryId: string): Promise<CatalogIndex | null> {
  try {
    const parsed = catalogIndexSchema.safeParse(JSON.parse(await readFile(path, 'utf8')));
    return parsed.success && parsed.data.repositoryId === repositoryId ? parsed.data : null;
  } catch {
    return null;
  }
}

async function writeIndex(path: string, text: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, text, { mode: 0o600 });
  await rename(tmp, path);
}
