import { TidemarkError } from '../errors.js';
import { isSegmentStart } from '../replication/lsn.js';
import { WalSegmenter } from '../replication/wal-segmenter.js';
import type { ZonePutResult } from '../repository/zones/zone-set.js';
import type { NodeWalObjects } from './wal-objects.js';

export interface WalSegmentStoreOptions {
  objects: NodeWalObjects;
  segmentSize: number;
  /** store the growing segment as a partial object at least this often (default 10 s) */
  flushIntervalMs?: number;
  /** after each object is stored (e.g. to update restorability or report a degraded zone) */
  onStored?: (event: WalStoredEvent) => void;
  /** the first upload that failed: nothing after it is stored until the store begins again */
  onError?: (err: Error) => void;
}

export interface WalStoredEvent {
  kind: 'segment' | 'partial';
  segment: string;
  timeline: number;
  /** the position after the last byte now stored */
  storedLsn: bigint;
  result: ZonePutResult;
}

/**
 * Turns a node's WAL stream into repository objects: complete segments, plus the segment being
 * filled as a partial object, stored at least every `flushIntervalMs` while it grows.
 *
 * Memory stays bounded: the segment being filled plus ONE upload in flight. Uploads run one at
 * a time and in order (a segment's partial can never land after the segment itself); `push`
 * returns a promise, which pauses the stream, only when a completed segment must wait for the
 * upload before it.
 *
 * `storedLsn` is the position after the last byte in the repository (≥ minZones zones): the
 * only position the archiver may report to the server as flushed.
 */
export class WalSegmentStore {
  readonly segmentSize: number;
  private readonly objects: NodeWalObjects;
  private readonly flushIntervalMs: number;
  private segmenter: WalSegmenter | undefined;
  private buffer: Buffer;
  private filled = 0;
  /** plaintext bytes of the current segment already stored as its partial */
  private partialStored = 0;
  private stored = 0n;
  /** uploads run one after the other on this chain */
  private chain: Promise<void> = Promise.resolve();
  /** uploads queued or running */
  private pending = 0;
  private failure: Error | null = null;
  private timer: NodeJS.Timeout | undefined;
  private nextPartialDue = 0;
  /** someone waits for the WAL (waitUntilStored): store the partial at every chance */
  private urgent = false;
  private lastStoredAt: Date | null = null;
  private readonly listeners = new Set<() => void>();

  constructor(private readonly options: WalSegmentStoreOptions) {
    this.objects = options.objects;
    this.segmentSize = options.segmentSize;
    this.flushIntervalMs = options.flushIntervalMs ?? 10_000;
    this.buffer = Buffer.allocUnsafe(0);
  }

  get timeline(): number | null {
    return this.segmenter?.timeline ?? null;
  }

  /** The position after the last byte received. */
  get receivedLsn(): bigint {
    return this.segmenter?.position ?? 0n;
  }

  /** The position after the last byte stored in the repository on the current timeline. */
  get storedLsn(): bigint {
    return this.stored;
  }

  get storedAt(): Date | null {
    return this.lastStoredAt;
  }

  /** The first upload failure: the stream must stop (the slot keeps the WAL for a retry). */
  get error(): Error | null {
    return this.failure;
  }

  /**
   * Starts a timeline at `startLsn` (a segment boundary), after `flush()` stored everything of
   * the previous one. `alreadyStored` bytes of that segment are in the repository as its
   * partial (a resumed stream): they are not stored again until the segment grew past them.
   */
  begin(timeline: number, startLsn: bigint, alreadyStored = 0): void {
    if (!isSegmentStart(startLsn, this.segmentSize)) {
      throw new TidemarkError('internal', 'The WAL store must begin at a segment boundary.');
    }
    if (this.pending > 0 || this.filled > this.partialStored) {
      throw new TidemarkError('internal', 'The WAL store began a timeline before the previous one was stored.');
    }
    this.segmenter = new WalSegmenter({ segmentSize: this.segmentSize, timeline, startLsn });
    this.buffer = this.nextBuffer();
    this.filled = 0;
    this.partialStored = alreadyStored;
    this.stored = startLsn + BigInt(alreadyStored);
    this.failure = null;
    this.nextPartialDue = Date.now() + this.flushIntervalMs;
    if (!this.timer) {
      this.timer = setInterval(() => this.tick(), Math.min(this.flushIntervalMs, 1000));
      this.timer.unref();
    }
  }

  /**
   * Takes the next piece of WAL (it must follow the last one). Returns a promise (the stream
   * pauses) only when a completed segment has to wait for the upload in flight.
   */
  push = (walStart: bigint, bytes: Buffer): Promise<void> | undefined => {
    if (this.failure) throw this.failure;
    const segmenter = this.requireSegmenter();
    let wait: Promise<void> | undefined;
    for (const slice of segmenter.push(walStart, bytes)) {
      slice.bytes.copy(this.buffer, slice.offset);
      this.filled = slice.offset + slice.bytes.length;
      if (!slice.completesSegment) continue;
      const full = this.buffer;
      const name = slice.fileName;
      const end = slice.segmentStartLsn + BigInt(this.segmentSize);
      // another buffer: the full one stays untouched until its upload is done
      this.buffer = this.nextBuffer();
      this.filled = 0;
      this.partialStored = 0;
      const previous = this.chain;
      const busy = this.pending > 0;
      void this.schedule(() => this.storeSegment(segmenter, name, full, end));
      // one upload in flight at most: while one runs, this segment waits and so does the stream
      if (busy) wait = previous;
    }
    if (this.urgent) this.flushPartialIfIdle();
    return wait;
  };

  /** Stores the partial now if it grew (after the uploads queued before), and waits for it. */
  async flush(): Promise<void> {
    await this.chain;
    if (this.failure) throw this.failure;
    if (this.filled > this.partialStored) await this.schedule(this.partialUpload());
    if (this.failure) throw this.failure;
  }

  /** While urgent, the partial is stored whenever the queue is free (a base backup waits for WAL). */
  setUrgent(urgent: boolean): void {
    this.urgent = urgent;
    if (urgent) this.flushPartialIfIdle();
  }

  /** Waits for every queued upload (errors are kept in `error`). */
  async drain(): Promise<void> {
    await this.chain;
  }

  /** Calls `listener` after every stored object; returns the unsubscribe function. */
  onProgress(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private tick(): void {
    if (this.urgent || Date.now() >= this.nextPartialDue) this.flushPartialIfIdle();
  }

  /** Partials go only on an idle queue, so the stored WAL always grows without holes. */
  private flushPartialIfIdle(): void {
    if (this.pending === 0 && !this.failure && this.segmenter && this.filled > this.partialStored) {
      void this.schedule(this.partialUpload());
    }
  }

  private schedule(upload: () => Promise<void>): Promise<void> {
    this.pending += 1;
    const run = this.chain.then(async () => {
      if (this.failure) return;
      try {
        await upload();
      } catch (err) {
        if (!this.failure) {
          this.failure = err instanceof Error ? err : new Error(String(err));
          this.options.onError?.(this.failure);
        }
      }
    });
    this.chain = run.finally(() => {
      this.pending -= 1;
      if (this.urgent) this.flushPartialIfIdle();
    });
    return this.chain;
  }

  /**
   * A new segment buffer: allocUnsafe touches no pages, so memory grows only as WAL arrives. (A
   * reused spare would keep a second, fully touched segment resident all the time.)
   */
  private nextBuffer(): Buffer {
    return Buffer.allocUnsafe(this.segmentSize);
  }

  private async storeSegment(segmenter: WalSegmenter, name: string, full: Buffer, end: bigint): Promise<void> {
    const result = await this.objects.putSegment(name, full);
    if (segmenter === this.segmenter && end > this.stored) this.stored = end;
    this.notify(result, 'segment', name, segmenter.timeline);
  }

  /** The upload of the partial as it is NOW: [0, filled) of this buffer never changes again. */
  private partialUpload(): () => Promise<void> {
    const segmenter = this.requireSegmenter();
    const partial = segmenter.partial;
    const buffer = this.buffer;
    const length = this.filled;
    return async () => {
      if (!partial || length === 0) return;
      const result = await this.objects.putPartial(partial.fileName, buffer.subarray(0, length));
      const current = segmenter === this.segmenter && segmenter.partial?.segmentNumber === partial.segmentNumber;
      if (current) this.partialStored = Math.max(this.partialStored, length);
      const end = partial.segmentStartLsn + BigInt(length);
      if (segmenter === this.segmenter && end > this.stored) this.stored = end;
      this.nextPartialDue = Date.now() + this.flushIntervalMs;
      this.notify(result, 'partial', partial.fileName, segmenter.timeline);
    };
  }

  private notify(result: ZonePutResult, kind: 'segment' | 'partial', segment: string, timeline: number): void {
    this.lastStoredAt = new Date();
    this.options.onStored?.({ kind, segment, timeline, storedLsn: this.stored, result });
    for (const listener of this.listeners) listener();
  }

  private requireSegmenter(): WalSegmenter {
    if (!this.segmenter) throw new TidemarkError('internal', 'The WAL store has no timeline yet.');
    return this.segmenter;
  }
}
