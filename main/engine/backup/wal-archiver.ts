import type pg from 'pg';
import type { Catalog } from '../catalog/catalog.js';
import { formatBytes } from '../catalog/verify-summary.js';
import type { WalGapRecord } from '../catalog/records.js';
import { TidemarkError, toErrorInfo, type ErrorInfo } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { formatLsn, segmentStartOf } from '../replication/lsn.js';
import { ReplicationConnection } from '../replication/replication-connection.js';
import { startWalStream, type WalStreamEnd } from '../replication/wal-receiver.js';
import type { Repository } from '../repository/repository.js';
import { ensureCatalogNode } from './catalog-records.js';
import { atNode, connectNodeSql, describeEndpoint, hostPort, replicationConfig, type NodeEndpoint } from './node-endpoint.js';
import { readSlotBacklog, readSlotHolder, slotInUseError } from './slot-queries.js';
import { walApplicationName, walSlotName } from './slot-name.js';
import { NodeWalObjects } from './wal-objects.js';
import { findWalResumePoint } from './wal-resume.js';
import { WalSegmentStore, type WalStoredEvent } from './wal-segment-store.js';

export type WalArchiverState = 'starting' | 'streaming' | 'reconnecting' | 'stopped' | 'failed';

/** What `wal status` shows for one node. LSNs in PostgreSQL's notation. */
export interface WalStatus {
  clusterId: string;
  nodeId: string;
  /** host:port this machine streams from */
  node: string;
  slot: string;
  state: WalArchiverState;
  timeline: number | null;
  /** the position after the last byte received from the server */
  receivedLsn: string | null;
  /** the position after the last byte stored in the repository (reported to the server as flushed) */
  storedLsn: string | null;
  /** received but not yet stored */
  lagBytes: number;
  lastStoredAt: string | null;
  /** WAL the server keeps for the slot (pg_current_wal_lsn() - restart_lsn), at the last check */
  backlogBytes: number | null;
  lastError: ErrorInfo | null;
}

export type WalArchiverEvent =
  | { type: 'wal.gap'; clusterId: string; nodeId: string; gap: WalGapRecord; message: string }
  | { type: 'wal.backlog'; clusterId: string; nodeId: string; slot: string; backlogBytes: number; thresholdBytes: number; message: string }
  | { type: 'wal.status'; status: WalStatus }
  | { type: 'wal.stored'; clusterId: string; nodeId: string; stored: WalStoredEvent }
  | { type: 'wal.warning'; clusterId: string; nodeId: string; message: string };

export interface WalArchiverOptions {
  endpoint: NodeEndpoint;
  repository: Repository;
  catalog: Catalog;
  /** store the growing segment at least this often (default 10 s) */
  flushIntervalMs?: number;
  /** standby status updates to the server (default 5 s) */
  statusIntervalMs?: number;
  /** how often the slot's retained WAL is checked (default 60 s) */
  backlogIntervalMs?: number;
  /** warn above this much retained WAL (default 1 GiB) */
  backlogThresholdBytes?: number;
  /** repeat the warning at most this often while it lasts (default 15 min) */
  backlogRepeatMs?: number;
  /** reconnect backoff (default 1 s doubling to 60 s) */
  reconnectInitialMs?: number;
  reconnectMaxMs?: number;
  /** how long a slot held by a vanished predecessor may take to be released (default 5 s) */
  slotReleaseWaitMs?: number;
  connectTimeoutMs?: number;
  logger?: Logger;
  onEvent?: (event: WalArchiverEvent) => void;
}

const gib = 1024 ** 3;

/**
 * Streams one node's WAL into the repository, for as long as it runs: through the node's own
 * physical slot, resuming exactly where the repository's WAL ends, reconnecting with backoff,
 * following timeline switches, and recording (never hiding) WAL the server no longer has.
 */
export class WalArchiver {
  readonly slot: string;
  readonly endpoint: NodeEndpoint;
  private readonly objects: NodeWalObjects;
  private readonly applicationName: string;
  private state: WalArchiverState = 'stopped';
  private running: Promise<void> | null = null;
  private stopping = false;
  private wake: (() => void) | null = null;
  private store: WalSegmentStore | null = null;
  private streamAbort: AbortController | null = null;
  private sessionFailure: Error | null = null;
  private lastError: TidemarkError | null = null;
  /** sessions that ended in an error */
  private failures = 0;
  private backlogBytes: number | null = null;
  private lastBacklogAlert = 0;
  /** timeline → the stored end of a timeline the stream has left */
  private readonly endedTimelines = new Map<number, bigint>();
  private readonly waiters = new Set<() => void>();
  /** positions waitUntilStored callers wait for (with their timeline) */
  private readonly storeTargets = new Set<{ lsn: bigint; timeline: number }>();

  constructor(private readonly options: WalArchiverOptions) {
    this.endpoint = options.endpoint;
    this.slot = walSlotName(options.endpoint.clusterId, options.endpoint.nodeId);
    this.applicationName = walApplicationName(options.endpoint.clusterId, options.endpoint.nodeId);
    this.objects = new NodeWalObjects(options.repository, options.catalog, options.endpoint.clusterId, options.endpoint.nodeId);
  }

  get isRunning(): boolean {
    return this.running !== null;
  }

  /** Starts streaming in the background (no-op when already running). */
  start(): void {
    if (this.running) return;
    this.stopping = false;
    this.lastError = null;
    this.setState('starting');
    this.running = this.loop().finally(() => {
      this.running = null;
      this.notifyWaiters();
    });
  }

  /**
   * Stops gracefully: the WAL received so far is stored (as a partial), the server is told it
   * is flushed, then the connection closes. The slot stays, keeping WAL for the next start.
   */
  async stop(): Promise<void> {
    const running = this.running;
    if (!running) return;
    this.stopping = true;
    this.wake?.();
    if (this.store && this.state === 'streaming') await this.store.flush().catch(() => undefined);
    this.streamAbort?.abort();
    await running;
  }

  status(): WalStatus {
    const store = this.store;
    const received = store?.timeline ? store.receivedLsn : null;
    const stored = store?.timeline ? store.storedLsn : null;
    return {
      clusterId: this.endpoint.clusterId,
      nodeId: this.endpoint.nodeId,
      node: hostPort(this.endpoint.address),
      slot: this.slot,
      state: this.state,
      timeline: store?.timeline ?? null,
      receivedLsn: received === null ? null : formatLsn(received),
      storedLsn: stored === null ? null : formatLsn(stored),
      lagBytes: received !== null && stored !== null && received > stored ? Number(received - stored) : 0,
      lastStoredAt: store?.storedAt?.toISOString() ?? null,
      backlogBytes: this.backlogBytes,
      lastError: this.lastError ? this.lastError.toInfo() : null,
    };
  }

  /** A stream waiting to reconnect tries again now (e.g. a backup wants it). */
  retryNow(): void {
    if (this.state === 'reconnecting') this.wake?.();
  }

  /**
   * Resolves once the stream runs (slot in place, WAL flowing); rejects if the archiver fails
   * first, or with `failFast` as soon as an attempt made after this call failed (the archiver
   * keeps retrying in the background).
   */
  waitUntilStreaming(options: { timeoutMs?: number; signal?: AbortSignal; failFast?: boolean } = {}): Promise<void> {
    const failuresBefore = this.failures;
    return this.waitFor(() => this.state === 'streaming', `start streaming`, {
      ...options,
      failIf: options.failFast ? () => this.failures > failuresBefore : undefined,
    });
  }

  /**
   * Resolves once the WAL up to `lsn` on `timeline` is stored; meanwhile the partial segment is
   * stored at every chance rather than every flush interval.
   */
  async waitUntilStored(lsn: bigint, timeline: number, options: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<void> {
    const target = { lsn, timeline };
    this.storeTargets.add(target);
    this.updateUrgency();
    try {
      await this.waitFor(() => this.isStored(lsn, timeline), `store its WAL up to ${formatLsn(lsn)} on timeline ${timeline}`, options);
    } finally {
      this.storeTargets.delete(target);
      this.updateUrgency();
    }
  }

  /** The store flushes its partial early for the nearest position someone waits for on its timeline. */
  private updateUrgency(): void {
    const store = this.store;
    if (!store) return;
    const waiting = [...this.storeTargets].filter((t) => t.timeline === store.timeline && !this.isStored(t.lsn, t.timeline)).map((t) => t.lsn);
    store.setUrgent(waiting.length === 0 ? null : waiting.reduce((a, b) => (b < a ? b : a)));
  }

  private isStored(lsn: bigint, timeline: number): boolean {
    const ended = this.endedTimelines.get(timeline);
    if (ended !== undefined && ended >= lsn) return true;
    const store = this.store;
    if (!store?.timeline) return false;
    return store.timeline >= timeline && store.storedLsn >= lsn;
  }

  private waitFor(
    ready: () => boolean,
    what: string,
    options: { timeoutMs?: number; signal?: AbortSignal; failIf?: (() => boolean) | undefined },
  ): Promise<void> {
    const where = describeEndpoint(this.endpoint);
    const timeoutMs = options.timeoutMs ?? 300_000;
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        const last = this.lastError ? ` Last error: ${this.lastError.message}` : '';
        finish(
          new TidemarkError(
            'connection_failed',
            `The WAL stream of ${where} did not ${what} within ${Math.round(timeoutMs / 1000)} s (stream ${this.state}).${last} Check the node and the repository's zones, then retry.`,
            { retryable: true },
          ),
        );
      }, timeoutMs);
      const finish = (err?: Error): void => {
        this.waiters.delete(check);
        clearTimeout(timer);
        options.signal?.removeEventListener('abort', onAbort);
        if (err) reject(err);
        else resolve();
      };
      const check = (): void => {
        if (ready()) finish();
        else if (options.failIf?.() && this.lastError) finish(this.lastError);
        else if (this.state === 'failed' || (this.state === 'stopped' && !this.running)) {
          finish(
            this.lastError ??
              new TidemarkError('cancelled', `The WAL stream of ${where} stopped before it could ${what}.`, { retryable: true }),
          );
        }
      };
      const onAbort = (): void => finish(new TidemarkError('cancelled', `Waiting for the WAL stream of ${where} was cancelled.`, { retryable: true }));
      if (options.signal?.aborted) return onAbort();
      options.signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.add(check);
      check();
    });
  }

  private notifyWaiters(): void {
    for (const check of [...this.waiters]) check();
  }

  private setState(state: WalArchiverState): void {
    if (this.state === state) return;
    this.state = state;
    this.options.onEvent?.({ type: 'wal.status', status: this.status() });
    this.notifyWaiters();
  }

  private async loop(): Promise<void> {
    const initial = this.options.reconnectInitialMs ?? 1000;
    const max = this.options.reconnectMaxMs ?? 60_000;
    let delay = initial;
    while (!this.stopping) {
      let streamed = false;
      try {
        await this.session(() => {
          streamed = true;
          delay = initial;
        });
      } catch (err) {
        if (this.stopping && isCancelled(err)) break;
        const error = atNode(this.endpoint, err);
        this.lastError = error;
        this.failures += 1;
        this.options.logger?.warn({ clusterId: this.endpoint.clusterId, nodeId: this.endpoint.nodeId, code: error.code, message: error.message }, 'WAL stream interrupted');
        if (!error.retryable) {
          this.setState('failed');
          return;
        }
        if (this.stopping) break;
        if (this.state === 'reconnecting') this.options.onEvent?.({ type: 'wal.status', status: this.status() });
        else this.setState('reconnecting');
        this.notifyWaiters();
        if (streamed) delay = initial;
        await this.sleep(delay);
        delay = Math.min(delay * 2, max);
      }
    }
    this.setState('stopped');
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.wake = () => {
        this.wake = null;
        done();
      };
    });
  }

  /** One connection's worth of streaming; returns only when stopping, throws on any failure. */
  private async session(onStreaming: () => void): Promise<void> {
    const { endpoint } = this;
    const connectTimeoutMs = this.options.connectTimeoutMs;
    let conn = await ReplicationConnection.open(replicationConfig(endpoint, this.applicationName, connectTimeoutMs));
    let sql: pg.Client | undefined;
    let backlogTimer: NodeJS.Timeout | undefined;
    this.sessionFailure = null;
    try {
      sql = await connectNodeSql(endpoint, this.applicationName, connectTimeoutMs === undefined ? {} : { connectTimeoutMs });
      const segmentSize = await conn.walSegmentSize();
      const identity = await conn.identifySystem();
      await ensureCatalogNode(this.options.catalog, endpoint, {
        systemIdentifier: identity.systemId,
        serverVersionNum: conn.serverVersion,
        walSegmentSize: segmentSize,
      });
      const resume = await findWalResumePoint(this.objects, segmentSize);
      let slot = await conn.readSlot(this.slot);
      if (slot && slot.restartLsn === null) {
        // invalidated (max_slot_wal_keep_size): it holds nothing any more
        this.warn(`Replication slot "${this.slot}" on ${hostPort(endpoint.address)} had lost its WAL reservation (invalidated, probably by max_slot_wal_keep_size); it was recreated.`);
        await conn.dropSlot(this.slot, { wait: false });
        slot = null;
      }
      if (!slot) {
        if (resume) {
          this.warn(`Replication slot "${this.slot}" on ${hostPort(endpoint.address)} was missing although WAL was archived before; it was recreated. WAL the server removed meanwhile is recorded as a gap.`);
        }
        await conn.createPhysicalSlot(this.slot, { reserveWal: true });
        slot = await conn.readSlot(this.slot);
      }
      if (!slot?.restartLsn) {
        throw new TidemarkError('internal', `Replication slot "${this.slot}" on ${hostPort(endpoint.address)} has no restart position after it was created.`);
      }
      await this.assertSlotFree(sql);

      this.store?.close();
      const store = new WalSegmentStore({
        objects: this.objects,
        segmentSize,
        ...(this.options.flushIntervalMs === undefined ? {} : { flushIntervalMs: this.options.flushIntervalMs }),
        onStored: (stored) => this.onStored(stored),
        onError: (err) => {
          this.sessionFailure ??= err;
          this.streamAbort?.abort();
        },
      });
      this.store = store;

      let position = resume
        ? { timeline: resume.timeline, startLsn: resume.startLsn, partialBytes: resume.partialBytes }
        : { timeline: slot.restartTimeline ?? identity.timeline, startLsn: segmentStartOf(slot.restartLsn, segmentSize), partialBytes: 0 };

      const backlogClient = sql;
      void this.checkBacklog(backlogClient);
      backlogTimer = setInterval(() => void this.checkBacklog(backlogClient), this.options.backlogIntervalMs ?? 60_000);
      backlogTimer.unref();

      while (!this.stopping) {
        store.begin(position.timeline, position.startLsn, position.partialBytes);
        this.updateUrgency();
        this.setState('streaming');
        onStreaming();
        let end: WalStreamEnd;
        try {
          end = await this.stream(conn, store, position);
        } catch (err) {
          if (this.stopping && isCancelled(err)) return;
          if (this.sessionFailure) throw this.sessionFailure;
          if (!isWalRemoved(err)) throw this.slotConflict(err, sql);
          // what arrived before the server gave up is kept: the gap starts after it
          await store.flush();
          await conn.close();
          conn = await ReplicationConnection.open(replicationConfig(endpoint, this.applicationName, connectTimeoutMs));
          position = await this.recordGap(conn, store, segmentSize, identity.timeline, err);
          continue;
        }
        await store.flush();
        this.endedTimelines.set(end.timeline, store.storedLsn);
        const history = await conn.timelineHistory(end.nextTimeline);
        await this.objects.putHistory(end.nextTimeline, history.content);
        this.options.logger?.info({ clusterId: endpoint.clusterId, nodeId: endpoint.nodeId, from: end.timeline, to: end.nextTimeline }, 'WAL stream follows a new timeline');
        position = { timeline: end.nextTimeline, startLsn: segmentStartOf(end.nextTimelineStartLsn, segmentSize), partialBytes: 0 };
      }
    } finally {
      if (backlogTimer) clearInterval(backlogTimer);
      this.streamAbort = null;
      await this.store?.drain();
      this.store?.close();
      await this.options.catalog.flush().catch(() => undefined);
      await conn.close();
      await sql?.end().catch(() => undefined);
      this.notifyWaiters();
    }
  }

  private async stream(conn: ReplicationConnection, store: WalSegmentStore, position: { timeline: number; startLsn: bigint }): Promise<WalStreamEnd> {
    const abort = new AbortController();
    this.streamAbort = abort;
    if (this.stopping) abort.abort();
    return startWalStream(conn, {
      slot: this.slot,
      startLsn: position.startLsn,
      timeline: position.timeline,
      statusIntervalMs: this.options.statusIntervalMs ?? 5000,
      onData: store.push,
      getFlushedLsn: () => store.storedLsn,
      signal: abort.signal,
    });
  }

  /** The slot is ours alone. A predecessor that just died may hold it a moment longer. */
  private async assertSlotFree(sql: pg.Client): Promise<void> {
    const deadline = Date.now() + (this.options.slotReleaseWaitMs ?? 5000);
    for (;;) {
      const holder = await readSlotHolder(sql, this.slot);
      if (!holder) return;
      if (Date.now() >= deadline || this.stopping) throw slotInUseError(describeEndpoint(this.endpoint), this.slot, holder);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }

  /** START_REPLICATION lost the race for the slot: say who holds it. */
  private async slotConflict(err: unknown, sql: pg.Client): Promise<unknown> {
    const sqlstate = err instanceof TidemarkError ? (err.details?.sqlstate as string | undefined) : undefined;
    if (sqlstate !== '55006') return err;
    const holder = await readSlotHolder(sql, this.slot).catch(() => null);
    return slotInUseError(describeEndpoint(this.endpoint), this.slot, holder);
  }

  /**
   * The server no longer has WAL the repository lacks: record the hole from the stored end to
   * where the slot lets streaming resume, raise the alert, and go on from there.
   */
  private async recordGap(
    conn: ReplicationConnection,
    store: WalSegmentStore,
    segmentSize: number,
    serverTimeline: number,
    cause: unknown,
  ): Promise<{ timeline: number; startLsn: bigint; partialBytes: number }> {
    const { endpoint } = this;
    const from = store.storedLsn;
    let slot = await conn.readSlot(this.slot);
    let to = slot?.restartLsn ? segmentStartOf(slot.restartLsn, segmentSize) : null;
    if (to === null || to <= segmentStartOf(from, segmentSize)) {
      // the slot cannot lead past the hole: a fresh reservation starts at the server's oldest kept WAL it can promise
      if (slot) await conn.dropSlot(this.slot, { wait: false });
      await conn.createPhysicalSlot(this.slot, { reserveWal: true });
      slot = await conn.readSlot(this.slot);
      to = slot?.restartLsn ? segmentStartOf(slot.restartLsn, segmentSize) : null;
    }
    if (to === null || to <= from) {
      throw new TidemarkError('internal', `The server at ${hostPort(endpoint.address)} removed WAL after ${formatLsn(from)}, but its slot "${this.slot}" offers no later position to continue from. Retry.`, { retryable: true });
    }
    const timeline = slot?.restartTimeline ?? serverTimeline;
    const serverMessage = cause instanceof TidemarkError ? String(cause.details?.server ?? cause.message) : String(cause);
    const gap: WalGapRecord = {
      clusterId: endpoint.clusterId,
      nodeId: endpoint.nodeId,
      timeline,
      fromLsn: formatLsn(from),
      toLsn: formatLsn(to),
      detectedAt: new Date().toISOString(),
      reason: `The server no longer had this WAL when Tidemark asked for it (${serverMessage}).`,
    };
    await this.options.catalog.putGap(gap);
    await this.options.catalog.flush();
    const message = `WAL of ${describeEndpoint(endpoint)} from ${gap.fromLsn} to ${gap.toLsn} is missing: the server removed it before Tidemark archived it (${serverMessage}). Points in time inside this range cannot be restored, and backups taken before it cannot be rolled forward past it. Take a new base backup now; keep the slot "${this.slot}" so the server retains WAL until it is archived.`;
    this.options.logger?.error({ clusterId: endpoint.clusterId, nodeId: endpoint.nodeId, fromLsn: gap.fromLsn, toLsn: gap.toLsn }, 'WAL gap recorded');
    this.options.onEvent?.({ type: 'wal.gap', clusterId: endpoint.clusterId, nodeId: endpoint.nodeId, gap, message });
    return { timeline, startLsn: to, partialBytes: 0 };
  }

  private async checkBacklog(sql: pg.Client): Promise<void> {
    let bytes: bigint | null;
    try {
      bytes = await readSlotBacklog(sql, this.slot);
    } catch {
      return; // the session notices a lost node by itself
    }
    this.backlogBytes = bytes === null ? null : Number(bytes);
    const threshold = this.options.backlogThresholdBytes ?? gib;
    if (bytes === null || bytes <= BigInt(threshold)) return;
    const now = Date.now();
    if (now - this.lastBacklogAlert < (this.options.backlogRepeatMs ?? 15 * 60_000)) return;
    this.lastBacklogAlert = now;
    const message = `The slot "${this.slot}" holds ${formatBytes(Number(bytes))} of WAL on ${describeEndpoint(this.endpoint)}; pg_wal will fill if archiving stays stuck. Check the WAL stream's last error and the repository's zones.`;
    this.options.logger?.warn({ clusterId: this.endpoint.clusterId, nodeId: this.endpoint.nodeId, backlogBytes: Number(bytes) }, 'WAL backlog above threshold');
    this.options.onEvent?.({
      type: 'wal.backlog',
      clusterId: this.endpoint.clusterId,
      nodeId: this.endpoint.nodeId,
      slot: this.slot,
      backlogBytes: Number(bytes),
      thresholdBytes: threshold,
      message,
    });
  }

  private onStored(stored: WalStoredEvent): void {
    if (stored.result.missed.length > 0) {
      this.options.logger?.warn(
        { clusterId: this.endpoint.clusterId, nodeId: this.endpoint.nodeId, segment: stored.segment, missed: stored.result.missed.map((m) => m.zoneId) },
        'WAL object missed some zones (kept for repair)',
      );
    }
    this.options.onEvent?.({ type: 'wal.stored', clusterId: this.endpoint.clusterId, nodeId: this.endpoint.nodeId, stored });
    this.notifyWaiters();
    this.updateUrgency();
  }

  private warn(message: string): void {
    this.options.logger?.warn({ clusterId: this.endpoint.clusterId, nodeId: this.endpoint.nodeId }, message);
    this.options.onEvent?.({ type: 'wal.warning', clusterId: this.endpoint.clusterId, nodeId: this.endpoint.nodeId, message });
  }
}

function isCancelled(err: unknown): boolean {
  return toErrorInfo(err).code === 'cancelled';
}

/** `requested WAL segment ... has already been removed` (58P01), as the replication client maps it. */
function isWalRemoved(err: unknown): boolean {
  return err instanceof TidemarkError && err.details?.sqlstate === '58P01' && /has already been removed/.test(String(err.details.server ?? err.message));
}
