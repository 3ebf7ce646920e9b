import {
  formatLsn,
  isSegmentStart,
  segmentNumberOf,
  segmentStartLsn,
  walSegmentFileName,
} from './lsn.js';

export interface WalSegmenterOptions {
  segmentSize: number;
  timeline: number;
  /** the first byte of a segment: only then does a completed segment hold all of its bytes */
  startLsn: bigint;
}

/** A part of a WAL piece that falls into one segment. */
export interface WalSegmentSlice {
  segmentNumber: bigint;
  /** e.g. 000000010000000000000003 (on the segmenter's timeline) */
  fileName: string;
  segmentStartLsn: bigint;
  /** where `bytes` go inside the segment file */
  offset: number;
  /** a view into the piece given to push() */
  bytes: Buffer;
  /** with this slice the segment holds all of its bytes */
  completesSegment: boolean;
}

export interface PartialSegment {
  segmentNumber: bigint;
  fileName: string;
  segmentStartLsn: bigint;
  /** bytes of the segment received so far (from its start) */
  bytesFilled: number;
}

/**
 * Cuts a contiguous stream of XLogData pieces on one timeline into WAL segment files: which
 * bytes go where, and when a segment is complete. Pure: it keeps no bytes.
 */
export class WalSegmenter {
  readonly segmentSize: number;
  readonly timeline: number;
  private next: bigint;

  constructor(options: WalSegmenterOptions) {
    if (!isSegmentStart(options.startLsn, options.segmentSize)) {
      throw new RangeError(
        `The WAL segmenter must start at a segment boundary, not ${formatLsn(options.startLsn)}.`,
      );
    }
    walSegmentFileName(options.timeline, 0n, options.segmentSize);
    this.segmentSize = options.segmentSize;
    this.timeline = options.timeline;
    this.next = options.startLsn;
  }

  /** The position after the last byte pushed: where the next piece must start. */
  get position(): bigint {
    return this.next;
  }

  /** Splits a piece that starts exactly at `position` into per-segment slices. */
  push(walStart: bigint, bytes: Buffer): WalSegmentSlice[] {
    if (walStart !== this.next) {
      throw new RangeError(
        `WAL piece starts at ${formatLsn(walStart)} but ${formatLsn(this.next)} was expected: the stream has a gap or an overlap.`,
      );
    }
    const slices: WalSegmentSlice[] = [];
    let consumed = 0;
    while (consumed < bytes.length) {
      const segmentNumber = segmentNumberOf(this.next, this.segmentSize);
      const start = segmentStartLsn(segmentNumber, this.segmentSize);
      const offset = Number(this.next - start);
      const length = Math.min(this.segmentSize - offset, bytes.length - consumed);
      slices.push({
        segmentNumber,
        fileName: walSegmentFileName(this.timeline, segmentNumber, this.segmentSize),
        segmentStartLsn: start,
        offset,
        bytes: bytes.subarray(consumed, consumed + length),
        completesSegment: offset + length === this.segmentSize,
      });
      consumed += length;
      this.next += BigInt(length);
    }
    return slices;
  }

  /** The segment being filled, or null when `position` is at a segment boundary. */
  get partial(): PartialSegment | null {
    const bytesFilled = Number(this.next % BigInt(this.segmentSize));
    if (bytesFilled === 0) return null;
    const segmentNumber = segmentNumberOf(this.next, this.segmentSize);
    return {
      segmentNumber,
      fileName: walSegmentFileName(this.timeline, segmentNumber, this.segmentSize),
      segmentStartLsn: segmentStartLsn(segmentNumber, this.segmentSize),
      bytesFilled,
    };
  }
}
