/**
 * Log sequence numbers (byte positions in the WAL) as bigint, and the file names PostgreSQL
 * derives from them. Mirrors the server's `XLogFileName`/`XLogFromFileName` and `%X/%X`.
 */

/** The largest LSN: 64 bits. */
export const maxLsn = 0xffff_ffff_ffff_ffffn;

const lsnPattern = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/;
const segmentNamePattern = /^([0-9A-F]{8})([0-9A-F]{8})([0-9A-F]{8})$/;
const historyNamePattern = /^([0-9A-F]{8})\.history$/;
const minSegmentSize = 1024 * 1024;
const maxSegmentSize = 1024 * 1024 * 1024;

/** Parses PostgreSQL's `16/B374D848` notation. Throws RangeError on anything else. */
export function parseLsn(text: string): bigint {
  const match = lsnPattern.exec(text.trim());
  if (!match) throw new RangeError(`Not an LSN: "${text}" (expected the form 16/B374D848).`);
  return (BigInt(`0x${match[1]}`) << 32n) | BigInt(`0x${match[2]}`);
}

/** Formats like PostgreSQL (`%X/%X`): upper-case hex, no padding. */
export function formatLsn(lsn: bigint): string {
  assertLsn(lsn);
  return `${(lsn >> 32n).toString(16).toUpperCase()}/${(lsn & 0xffff_ffffn).toString(16).toUpperCase()}`;
}

export function compareLsn(a: bigint, b: bigint): -1 | 0 | 1 {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** A WAL segment size PostgreSQL accepts: a power of two from 1 MB to 1 GB. */
export function isValidSegmentSize(size: number): boolean {
  return (
    Number.isInteger(size) &&
    size >= minSegmentSize &&
    size <= maxSegmentSize &&
    (size & (size - 1)) === 0
  );
}

/** The segment number (`XLByteToSeg`) holding the byte at `lsn`. */
export function segmentNumberOf(lsn: bigint, segmentSize: number): bigint {
  assertLsn(lsn);
  return lsn / segmentBig(segmentSize);
}

/** The first LSN of the segment that holds `lsn`. */
export function segmentStartOf(lsn: bigint, segmentSize: number): bigint {
  return segmentNumberOf(lsn, segmentSize) * segmentBig(segmentSize);
}

/** Whether `lsn` is the first byte of a segment. */
export function isSegmentStart(lsn: bigint, segmentSize: number): boolean {
  return segmentStartOf(lsn, segmentSize) === lsn;
}

/** The byte offset of `lsn` inside its segment. */
export function segmentOffsetOf(lsn: bigint, segmentSize: number): number {
  return Number(lsn - segmentStartOf(lsn, segmentSize));
}

/** The first LSN of segment number `segmentNumber`. */
export function segmentStartLsn(segmentNumber: bigint, segmentSize: number): bigint {
  if (segmentNumber < 0n) throw new RangeError('A segment number cannot be negative.');
  const lsn = segmentNumber * segmentBig(segmentSize);
  assertLsn(lsn);
  return lsn;
}

/** `000000010000001600000083`: the WAL file holding segment `segmentNumber` on `timeline`. */
export function walSegmentFileName(
  timeline: number,
  segmentNumber: bigint,
  segmentSize: number,
): string {
  assertTimeline(timeline);
  segmentStartLsn(segmentNumber, segmentSize);
  const perXLogId = segmentsPerXLogId(segmentSize);
  return hex8(BigInt(timeline)) + hex8(segmentNumber / perXLogId) + hex8(segmentNumber % perXLogId);
}

/** The WAL file name for the segment holding `lsn`. */
export function walSegmentFileNameForLsn(
  timeline: number,
  lsn: bigint,
  segmentSize: number,
): string {
  return walSegmentFileName(timeline, segmentNumberOf(lsn, segmentSize), segmentSize);
}

export interface WalSegmentName {
  timeline: number;
  segmentNumber: bigint;
  /** first LSN of the segment */
  startLsn: bigint;
}

/** Parses a WAL segment file name; null when it is not one for this segment size. */
export function parseWalSegmentFileName(name: string, segmentSize: number): WalSegmentName | null {
  const match = segmentNamePattern.exec(name);
  if (!match) return null;
  const timeline = Number.parseInt(match[1] as string, 16);
  const high = BigInt(`0x${match[2]}`);
  const low = BigInt(`0x${match[3]}`);
  const perXLogId = segmentsPerXLogId(segmentSize);
  if (timeline === 0 || low >= perXLogId) return null;
  const segmentNumber = high * perXLogId + low;
  return { timeline, segmentNumber, startLsn: segmentStartLsn(segmentNumber, segmentSize) };
}

/** `00000002.history`: the history file that describes how `timeline` branched off. */
export function timelineHistoryFileName(timeline: number): string {
  assertTimeline(timeline);
  return `${hex8(BigInt(timeline))}.history`;
}

/** The timeline a `.history` file name describes; null when it is not one. */
export function parseTimelineHistoryFileName(name: string): number | null {
  const match = historyNamePattern.exec(name);
  if (!match) return null;
  const timeline = Number.parseInt(match[1] as string, 16);
  return timeline === 0 ? null : timeline;
}

function segmentsPerXLogId(segmentSize: number): bigint {
  return 0x1_0000_0000n / segmentBig(segmentSize);
}

function segmentBig(segmentSize: number): bigint {
  if (!isValidSegmentSize(segmentSize)) {
    throw new RangeError(
      `Not a WAL segment size: ${segmentSize} (a power of two from 1 MB to 1 GB).`,
    );
  }
  return BigInt(segmentSize);
}

function assertLsn(lsn: bigint): void {
  if (lsn < 0n || lsn > maxLsn) throw new RangeError(`Not an LSN: ${lsn} is outside 64 bits.`);
}

function assertTimeline(timeline: number): void {
  if (!Number.isInteger(timeline) || timeline < 1 || timeline > 0xffff_ffff) {
    throw new RangeError(`Not a timeline: ${timeline} (an integer from 1 to FFFFFFFF).`);
  }
}

function hex8(value: bigint): string {
  return value.toString(16).toUpperCase().padStart(8, '0');
}
