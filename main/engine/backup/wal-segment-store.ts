import { PassThrough } from 'node:stream';
import { TidemarkError } from '../errors.js';
import { isSegmentStart, segmentNumberOf, segmentStartLsn } from '../replication/lsn.js';
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

/** A segment's upload, fed as its WAL arrives. */
interface SegmentUpload {
  segmentNumber: bigint;
  name: string;
  input: PassThrough;
  /** settles once stored and noted (or failed, which is recorded as the store's failure) */
  done: Promise<void>;
  settled: boolean;
  /** given up on purpose (the timeline ended or the store stops before the segment is complete) */
  abandoned: boolean;
}

/** bytes the upload of the growing segment may hold before the stream waits */
const uploadBufferBytes = 1024 * 1024;

/**
 * Turns a node's WAL stream into repository objects: complete segments, plus the segment being
 * filled as a partial object, stored at least every `flushIntervalMs` while it grows.
 *
 * Each segment's upload starts with its first byte and is fed as WAL arrives, so encryption and
 * writing keep pace with the stream and a completed segment only has to be finished (e.g.
 * fsynced). The pieces of the segment being filled are kept, uncopied, for its partials. Memory
 * stays bounded: that segment plus the uploads' own buffers; `push` returns a promise, which
 * pauses the stream, when the upload falls behind or when a completed segment would otherwise
 * finish while the one before still does.
 *
 * `storedLsn` is the position after the last byte in the repository (≥ minZones zones) with
 * nothing missing before it: the only position the archiver may report to the server as flushed.
 * A segment's partial never lands after the segment itself.
 */
export class WalSegmentStore {
  readonly segmentSize: number;
  private readonly objects: NodeWalObjects;
  private readonly flushIntervalMs: number;
  private segmenter: WalSegmenter | undefined;
  /** the WAL of the segment being filled, as received (pieces are never changed: no copy needed) */
  private pieces: Buffer[] = [];
  private filled = 0;
  /** the upload of the segment being filled, opened at its first byte */
  private streaming: SegmentUpload | null = null;
  /** the upload of the segment completed last, until it is stored */
  private finishing: SegmentUpload | null = null;
  /** the partial upload in flight, at most one */
  private partial: { segmentNumber: bigint; done: Promise<void> } | null = null;
  /** the end of the stored complete segments, without holes */
  private completedEnd = 0n;
  /** segment number → plaintext bytes of its stored partial (only segments not stored complete) */
  private readonly partialBytes = new Map<bigint, number>();
  /** segments stored complete while one before them was not yet: they count once it is */
  private readonly storedAhead = new Set<bigint>();
  private failure: Error | null = null;
  private timer: NodeJS.Timeout | undefined;
  private nextPartialDue = 0;
  /** someone waits for the WAL up to here (waitUntilStored): once it has arrived, store the partial at once */
  private urgentTarget: bigint | null = null;
  private lastStoredAt: Date | null = null;

  constructor(private readonly options: WalSegmentStoreOptions) {
    this.objects = options.objects;
    this.segmentSize = options.segmentSize;
    this.flushIntervalMs = options.flushIntervalMs ?? 10_000;
  }

  get timeline(): number | null {
    return this.segmenter?.timeline ?? null;
  }

  /** The position after the last byte received. */
  get receivedLsn(): bigint {
    return this.segmenter?.position ?? 0n;
  }

  /** The position after the last byte stored in the repository on the current timeline, with no hole before it. */
  get storedLsn(): bigint {
    const segment = segmentNumberOf(this.completedEnd, this.segmentSize);
    return this.completedEnd + BigInt(this.partialBytes.get(segment) ?? 0);
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
    if ((this.finishing && !this.finishing.settled) || this.partial || this.filled > this.currentPartialBytes()) {
      throw new TidemarkError('internal', 'The WAL store began a timeline before the previous one was stored.');
    }
    this.abandonStreaming();
    this.segmenter = new WalSegmenter({ segmentSize: this.segmentSize, timeline, startLsn });
    this.pieces = [];
    this.filled = 0;
    this.completedEnd = startLsn;
    this.partialBytes.clear();
    this.storedAhead.clear();
    if (alreadyStored > 0) this.partialBytes.set(segmentNumberOf(startLsn, this.segmentSize), alreadyStored);
    this.failure = null;
    this.nextPartialDue = Date.now() + this.flushIntervalMs;
    if (!this.timer) {
      this.timer = setInterval(() => this.tick(), Math.min(this.flushIntervalMs, 1000));
      this.timer.unref();
    }
  }

  /**
   * Takes the next piece of WAL (it must follow the last one; it belongs to the store now).
   * Returns a promise, and the stream pauses, while the upload cannot take more.
   */
  push = (walStart: bigint, bytes: Buffer): Promise<void> | undefined => {
    if (this.failure) throw this.failure;
    const segmenter = this.requireSegmenter();
    const waits: Promise<void>[] = [];
    for (const slice of segmenter.push(walStart, bytes)) {
      this.pieces.push(slice.bytes);
      this.filled = slice.offset + slice.bytes.length;
      const upload = this.streaming ?? this.openUpload(slice.segmentNumber, slice.fileName, segmenter);
      // an upload that failed stops reading: its settling ends the wait (the failure then stops the stream)
      if (!upload.input.write(slice.bytes)) waits.push(Promise.race([writable(upload.input), upload.done]));
      if (!slice.completesSegment) continue;
      upload.input.end();
      this.streaming = null;
      // partial uploads still in flight keep their own list of these pieces
      this.pieces = [];
      this.filled = 0;
      // two segments finishing at once would be one too many: the stream waits for the older
      const previous = this.finishing;
      this.finishing = upload;
      if (previous && !previous.settled) waits.push(previous.done);
    }
    this.flushIfUrgent();
    if (waits.length === 0) return undefined;
    return Promise.all(waits).then(() => undefined);
  };

  /** Stores the partial now if it grew, and waits for it and for the segment finishing before it. */
  async flush(): Promise<void> {
    if (this.partial) await this.partial.done;
    if (this.failure) throw this.failure;
    if (this.segmenter && this.filled > this.currentPartialBytes()) await this.startPartial();
    if (this.finishing) await this.finishing.done;
    if (this.failure) throw this.failure;
  }

  /**
   * Someone waits for the WAL up to `target` (a base backup's end): as soon as it has arrived,
   * the partial is stored rather than at the next interval. Null when nobody waits.
   */
  setUrgent(target: bigint | null): void {
    this.urgentTarget = target;
    this.flushIfUrgent();
  }

  /**
   * Waits for the uploads that can finish: the partial and the segment finishing. The growing
   * segment's upload is given up (its WAL is stored as the partial by `flush`).
   */
  async drain(): Promise<void> {
    this.abandonStreaming();
    if (this.partial) await this.partial.done;
    if (this.finishing) await this.finishing.done;
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.abandonStreaming();
  }

  private tick(): void {
    if (Date.now() >= this.nextPartialDue) this.flushPartialIfIdle();
    else this.flushIfUrgent();
  }

  /** Complete segments are stored anyway: the partial matters only once the target arrived within it. */
  private flushIfUrgent(): void {
    const target = this.urgentTarget;
    if (target !== null && this.receivedLsn >= target && this.storedLsn < target) this.flushPartialIfIdle();
  }

  private flushPartialIfIdle(): void {
    if (!this.partial && !this.failure && this.segmenter && this.filled > this.currentPartialBytes()) void this.startPartial();
  }

  private currentPartialBytes(): number {
    const partial = this.segmenter?.partial;
    return partial ? (this.partialBytes.get(partial.segmentNumber) ?? 0) : 0;
  }

  private openUpload(segmentNumber: bigint, name: string, segmenter: WalSegmenter): SegmentUpload {
    const input = new PassThrough({ highWaterMark: uploadBufferBytes });
    const upload: SegmentUpload = { segmentNumber, name, input, done: Promise.resolve(), settled: false, abandoned: false };
    upload.done = this.objects
      .uploadSegment(name, input)
      .then(async (result) => {
        // a partial of this segment still in flight must land before the segment is noted
        if (this.partial?.segmentNumber === segmentNumber) await this.partial.done;
        await this.objects.segmentStored(name);
        if (segmenter !== this.segmenter) return;
        this.partialBytes.delete(segmentNumber);
        this.storedAhead.add(segmentNumber);
        // the stored end grows only over segments with none missing before them
        for (let next = segmentNumberOf(this.completedEnd, this.segmentSize); this.storedAhead.delete(next); next += 1n) {
          this.completedEnd = segmentStartLsn(next + 1n, this.segmentSize);
        }
        this.notify(result, 'segment', name, segmenter.timeline);
      })
      .catch((err: unknown) => {
        if (!upload.abandoned) this.fail(err);
      })
      .finally(() => {
        upload.settled = true;
        this.flushIfUrgent();
      });
    this.streaming = upload;
    return upload;
  }

  /** The segment being filled will not complete here: its upload must not become an object. */
  private abandonStreaming(): void {
    const upload = this.streaming;
    if (!upload) return;
    this.streaming = null;
    upload.abandoned = true;
    upload.input.destroy(abandonedError);
  }

  /** The partial as it is NOW: the pieces received so far, which never change. */
  private startPartial(): Promise<void> {
    const segmenter = this.requireSegmenter();
    const partial = segmenter.partial;
    const pieces = [...this.pieces];
    const length = this.filled;
    if (!partial || length === 0) return Promise.resolve();
    const done = this.objects
      .putPartial(partial.fileName, pieces, length)
      .then((result) => {
        if (segmenter !== this.segmenter || this.failure) return;
        const stored = this.partialBytes.get(partial.segmentNumber) ?? 0;
        // the segment may have been stored complete meanwhile: then its partial no longer counts
        if (segmentStartLsn(partial.segmentNumber, this.segmentSize) >= this.completedEnd && length > stored) {
          this.partialBytes.set(partial.segmentNumber, length);
        }
        this.nextPartialDue = Date.now() + this.flushIntervalMs;
        this.notify(result, 'partial', partial.fileName, segmenter.timeline);
      })
      .catch((err: unknown) => this.fail(err))
      .finally(() => {
        if (this.partial?.done === done) this.partial = null;
        this.flushIfUrgent();
      });
    this.partial = { segmentNumber: partial.segmentNumber, done };
    return done;
  }

  private fail(err: unknown): void {
    if (this.failure) return;
    this.failure = err instanceof Error ? err : new Error(String(err));
    this.options.onError?.(this.failure);
  }

  private notify(result: ZonePutResult, kind: 'segment' | 'partial', segment: string, timeline: number): void {
    this.lastStoredAt = new Date();
    this.options.onStored?.({ kind, segment, timeline, storedLsn: this.storedLsn, result });
  }

  private requireSegmenter(): WalSegmenter {
    if (!this.segmenter) throw new TidemarkError('internal', 'The WAL store has no timeline yet.');
    return this.segmenter;
  }
}

const abandonedError = new TidemarkError('cancelled', 'The segment was not complete; its WAL is kept as a partial.', { retryable: true });

/** Resolves when `input` takes more, or is gone (the upload's failure is reported on its own). */
function writable(input: PassThrough): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      input.off('drain', done);
      input.off('close', done);
      input.off('error', done);
      resolve();
    };
    input.on('drain', done);
    input.on('close', done);
    input.on('error', done);
  });
}
