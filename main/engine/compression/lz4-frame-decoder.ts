import { TidemarkError } from '../errors.js';
import { QueuedPullDecoder } from './pull-decoder.js';

const FRAME_MAGIC = 0x184d2204;
const SKIPPABLE_MASK = 0xfffffff0;
const SKIPPABLE_MAGIC = 0x184d2a50;
/** LZ4 matches reach at most 64 KiB back, across blocks when blocks are linked. */
const WINDOW = 64 * 1024;
/** Size of the buffers blocks are decoded into (larger for frames with larger blocks). */
const arenaBytes = 1024 * 1024;
/** Literal runs and matches shorter than this are copied byte by byte: cheaper than a copy call. */
const shortRun = 16;
const BLOCK_MAX: Record<number, number> = {
  4: 64 * 1024,
  5: 256 * 1024,
  6: 1024 * 1024,
  7: 4 * 1024 * 1024,
};

type State =
  | { kind: 'magic' }
  | { kind: 'header' }
  | { kind: 'block' }
  | { kind: 'skip'; remaining: number }
  | { kind: 'content-checksum' };

/**
 * Decoder for the LZ4 frame format (what PostgreSQL's server-side `lz4` compression emits),
 * linked or independent blocks, concatenated and skippable frames, one block per read().
 * Checksums inside the frame are skipped: every byte was already authenticated by AES-GCM
 * before it got here. Memory: the queued input, one block and the 64 KiB window.
 */
export class Lz4FrameDecoder extends QueuedPullDecoder {
  private state: State = { kind: 'magic' };
  private blockChecksum = false;
  private contentChecksum = false;
  private blockMax = 0;
  /**
   * Blocks are decoded one after another into an arena and handed out as views of it; the
   * 64 KiB of history the next block may refer to is whatever precedes `pos`. Only when the
   * arena is full does that history move, to a fresh arena: the views handed out are never
   * written again.
   */
  private arena: Buffer = Buffer.alloc(0);
  private pos = 0;
  /** matches never reach before this: the start of the frame, or of history that was cut */
  private historyStart = 0;
  private framesSeen = 0;

  read(): Buffer | null {
    const output = this.step();
    if (output === null && this.ended && (this.input.length > 0 || this.state.kind !== 'magic' || this.framesSeen === 0)) {
      throw new TidemarkError('corrupt_object', 'The LZ4 stream ended in the middle of a frame.');
    }
    return output;
  }

  /** Parses until a block's output is ready (returned) or more input is needed (null). */
  private step(): Buffer | null {
    const input = this.input;
    for (;;) {
      const s = this.state;
      if (s.kind === 'magic') {
        if (input.length < 4) return null;
        const magic = input.peek(4).readUInt32LE(0);
        if (magic === FRAME_MAGIC) {
          input.skip(4);
          this.state = { kind: 'header' };
        } else if ((magic & SKIPPABLE_MASK) >>> 0 === SKIPPABLE_MAGIC) {
          if (input.length < 8) return null;
          this.state = { kind: 'skip', remaining: input.peek(8).readUInt32LE(4) };
          input.skip(8);
        } else {
          throw new TidemarkError('corrupt_object', 'Not an LZ4 frame (bad magic number).');
        }
      } else if (s.kind === 'skip') {
        const n = Math.min(s.remaining, input.length);
        input.skip(n);
        s.remaining -= n;
        if (s.remaining > 0) return null;
        this.state = { kind: 'magic' };
      } else if (s.kind === 'header') {
        if (input.length < 2) return null;
        const head = input.peek(2);
        const flg = head[0]!;
        const bd = head[1]!;
        const hasContentSize = (flg & 0x08) !== 0;
        const hasDictId = (flg & 0x01) !== 0;
        const length = 2 + (hasContentSize ? 8 : 0) + (hasDictId ? 4 : 0) + 1;
        if (input.length < length) return null;
        if (flg >> 6 !== 1) throw new TidemarkError('corrupt_object', 'Unsupported LZ4 frame version.');
        if (hasDictId) throw new TidemarkError('unsupported', 'LZ4 frames with a dictionary are not supported.');
        const max = BLOCK_MAX[(bd >> 4) & 0x07];
        if (max === undefined) throw new TidemarkError('corrupt_object', 'Invalid LZ4 block size.');
        this.blockMax = max;
        this.blockChecksum = (flg & 0x10) !== 0;
        this.contentChecksum = (flg & 0x04) !== 0;
        this.historyStart = this.pos;
        this.framesSeen++;
        input.skip(length);
        this.state = { kind: 'block' };
      } else if (s.kind === 'block') {
        if (input.length < 4) return null;
        const word = input.peek(4).readUInt32LE(0);
        if (word === 0) {
          input.skip(4);
          this.state = this.contentChecksum ? { kind: 'content-checksum' } : { kind: 'magic' };
          continue;
        }
        const size = word & 0x7fffffff;
        if (size > this.blockMax) throw new TidemarkError('corrupt_object', 'LZ4 block larger than the frame allows.');
        const total = 4 + size + (this.blockChecksum ? 4 : 0);
        if (input.length < total) return null;
        // A view of the input when the block lies in one chunk; copied only when it straddles two.
        const data = input.peek(4 + size).subarray(4);
        const output = word & 0x80000000 ? this.storedBlock(data) : this.decodeBlock(data);
        input.skip(total);
        return output;
      } else {
        if (input.length < 4) return null;
        input.skip(4);
        this.state = { kind: 'magic' };
      }
    }
  }

  /** An uncompressed block is handed out as it came; the window keeps its last 64 KiB. */
  private storedBlock(data: Buffer): Buffer {
    const tail = Math.min(data.length, WINDOW);
    this.makeRoom(tail);
    data.copy(this.arena, this.pos, data.length - tail);
    // Bytes before the tail are out of reach when the tail is a whole window; otherwise the tail is all of it.
    if (tail === WINDOW) this.historyStart = this.pos;
    this.pos += tail;
    return data;
  }

  /** Ensures `bytes` fit after `pos`, moving the history to a fresh arena if they do not. */
  private makeRoom(bytes: number): void {
    if (this.pos + bytes <= this.arena.length) return;
    const next = Buffer.allocUnsafeSlow(Math.max(arenaBytes, WINDOW + 2 * Math.max(bytes, this.blockMax)));
    const keep = Math.min(this.pos - this.historyStart, WINDOW);
    this.arena.copy(next, 0, this.pos - keep, this.pos);
    this.arena = next;
    this.pos = keep;
    this.historyStart = 0;
  }

  private decodeBlock(src: Buffer): Buffer {
    this.makeRoom(this.blockMax);
    const out = this.arena;
    const base = this.pos;
    const floor = this.historyStart;
    let op = base;
    let ip = 0;
    const end = src.length;
    const limit = base + this.blockMax;
    while (ip < end) {
      const token = src[ip++]!;
      let literals = token >>> 4;
      if (literals === 15) {
        let b: number;
        do {
          b = src[ip++]!;
          literals += b;
        } while (b === 255 && ip < end);
      }
      if (ip + literals > end || op + literals > limit) throw corrupt();
      if (literals < shortRun) {
        for (let i = 0; i < literals; i++) out[op + i] = src[ip + i]!;
      } else {
        src.copy(out, op, ip, ip + literals);
      }
      ip += literals;
      op += literals;
      if (ip >= end) break; // the last sequence has literals only
      const offset = src[ip]! | (src[ip + 1]! << 8);
      ip += 2;
      if (offset === 0 || offset > op - floor) throw corrupt();
      let matchLength = token & 0x0f;
      if (matchLength === 15) {
        let b: number;
        do {
          b = src[ip++]!;
          matchLength += b;
        } while (b === 255 && ip < end);
      }
      matchLength += 4;
      if (op + matchLength > limit) throw corrupt();
      let from = op - offset;
      if (matchLength < shortRun) {
        const stop = op + matchLength;
        while (op < stop) out[op++] = out[from++]!;
      } else if (offset >= matchLength) {
        out.copyWithin(op, from, from + matchLength);
        op += matchLength;
      } else {
        // Overlapping: the pattern of `offset` bytes repeats; copy it in doubling steps.
        const stop = op + matchLength;
        let step = offset;
        while (op < stop) {
          const n = Math.min(step, stop - op);
          out.copyWithin(op, from, from + n);
          op += n;
          step += n;
        }
      }
    }
    this.pos = op;
    return out.subarray(base, op);
  }
}

function corrupt(): TidemarkError {
  return new TidemarkError('corrupt_object', 'The LZ4 data is corrupt.');
}
