import { Transform, type TransformCallback } from 'node:stream';
import { TidemarkError } from '../errors.js';

const FRAME_MAGIC = 0x184d2204;
const SKIPPABLE_MASK = 0xfffffff0;
const SKIPPABLE_MAGIC = 0x184d2a50;
/** LZ4 matches reach at most 64 KiB back, across blocks when blocks are linked. */
const WINDOW = 64 * 1024;
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
 * Streaming decoder for the LZ4 frame format (what PostgreSQL's server-side `lz4` compression
 * emits), linked or independent blocks, concatenated and skippable frames. Checksums inside
 * the frame are skipped: every byte was already authenticated by AES-GCM before it got here.
 * Memory: one block plus the 64 KiB window.
 */
export class Lz4FrameDecoder extends Transform {
  private input: Buffer = Buffer.alloc(0);
  /** chunks received while too few bytes were there to make progress */
  private pending: Buffer[] = [];
  private pendingLength = 0;
  /** bytes needed at the start of `input` before decoding can go on */
  private needed = 1;
  private state: State = { kind: 'magic' };
  private blockChecksum = false;
  private contentChecksum = false;
  private blockMax = 0;
  /** history window followed by the block being decoded */
  private out: Buffer = Buffer.alloc(0);
  private historyLength = 0;
  private framesSeen = 0;

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    // Gather small chunks until a whole block is there, so each byte is copied once.
    this.pending.push(chunk);
    this.pendingLength += chunk.length;
    if (this.input.length + this.pendingLength < this.needed) {
      done();
      return;
    }
    this.input = Buffer.concat([this.input, ...this.pending]);
    this.pending = [];
    this.pendingLength = 0;
    try {
      this.drain();
      done();
    } catch (err) {
      done(err as Error);
    }
  }

  override _flush(done: TransformCallback): void {
    if (
      this.input.length + this.pendingLength > 0 ||
      this.state.kind !== 'magic' ||
      this.framesSeen === 0
    ) {
      done(new TidemarkError('corrupt_object', 'The LZ4 stream ended in the middle of a frame.'));
      return;
    }
    done();
  }

  private drain(): void {
    let pos = 0;
    const buf = this.input;
    for (;;) {
      const s = this.state;
      if (s.kind === 'magic') {
        if (buf.length - pos < 4) {
          this.needed = 4;
          break;
        }
        const magic = buf.readUInt32LE(pos);
        if (magic === FRAME_MAGIC) {
          pos += 4;
          this.state = { kind: 'header' };
        } else if ((magic & SKIPPABLE_MASK) >>> 0 === SKIPPABLE_MAGIC) {
          if (buf.length - pos < 8) {
            this.needed = 8;
            break;
          }
          this.state = { kind: 'skip', remaining: buf.readUInt32LE(pos + 4) };
          pos += 8;
        } else {
          throw new TidemarkError('corrupt_object', 'Not an LZ4 frame (bad magic number).');
        }
      } else if (s.kind === 'skip') {
        const n = Math.min(s.remaining, buf.length - pos);
        pos += n;
        s.remaining -= n;
        if (s.remaining > 0) {
          this.needed = 1;
          break;
        }
        this.state = { kind: 'magic' };
      } else if (s.kind === 'header') {
        if (buf.length - pos < 2) {
          this.needed = 2;
          break;
        }
        const flg = buf[pos]!;
        const bd = buf[pos + 1]!;
        const hasContentSize = (flg & 0x08) !== 0;
        const hasDictId = (flg & 0x01) !== 0;
        const length = 2 + (hasContentSize ? 8 : 0) + (hasDictId ? 4 : 0) + 1;
        if (buf.length - pos < length) {
          this.needed = length;
          break;
        }
        if (flg >> 6 !== 1)
          throw new TidemarkError('corrupt_object', 'Unsupported LZ4 frame version.');
        if (hasDictId)
          throw new TidemarkError('unsupported', 'LZ4 frames with a dictionary are not supported.');
        const max = BLOCK_MAX[(bd >> 4) & 0x07];
        if (max === undefined) throw new TidemarkError('corrupt_object', 'Invalid LZ4 block size.');
        this.blockMax = max;
        this.blockChecksum = (flg & 0x10) !== 0;
        this.contentChecksum = (flg & 0x04) !== 0;
        if (this.out.length < WINDOW + max) this.out = Buffer.allocUnsafe(WINDOW + max);
        this.historyLength = 0;
        this.framesSeen++;
        pos += length;
        this.state = { kind: 'block' };
      } else if (s.kind === 'block') {
        if (buf.length - pos < 4) {
          this.needed = 4;
          break;
        }
        const word = buf.readUInt32LE(pos);
        if (word === 0) {
          pos += 4;
          this.state = this.contentChecksum ? { kind: 'content-checksum' } : { kind: 'magic' };
          continue;
        }
        const size = word & 0x7fffffff;
        if (size > this.blockMax)
          throw new TidemarkError('corrupt_object', 'LZ4 block larger than the frame allows.');
        const total = 4 + size + (this.blockChecksum ? 4 : 0);
        if (buf.length - pos < total) {
          this.needed = total;
          break;
        }
        const data = buf.subarray(pos + 4, pos + 4 + size);
        if (word & 0x80000000) this.emitBlock(data);
        else this.decodeBlock(data);
        pos += total;
      } else {
        if (buf.length - pos < 4) {
          this.needed = 4;
          break;
        }
        pos += 4;
        this.state = { kind: 'magic' };
      }
    }
    this.input = pos === buf.length ? Buffer.alloc(0) : buf.subarray(pos);
  }

  /** Appends decoded bytes to the window and passes a copy downstream. */
  private emitBlock(data: Buffer): void {
    this.push(Buffer.from(data));
    this.remember(data, 0, data.length);
  }

  private remember(src: Buffer, start: number, end: number): void {
    const n = end - start;
    if (n >= WINDOW) {
      src.copy(this.out, 0, end - WINDOW, end);
      this.historyLength = WINDOW;
    } else {
      const keep = Math.min(this.historyLength, WINDOW - n);
      this.out.copy(this.out, 0, this.historyLength - keep, this.historyLength);
      src.copy(this.out, keep, start, end);
      this.historyLength = keep + n;
    }
  }

  private decodeBlock(src: Buffer): void {
    const out = this.out;
    const base = this.historyLength;
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
      // Most literal runs and matches are short: a plain loop beats Buffer.copy's call cost.
      if (literals < 16) {
        for (let i = 0; i < literals; i++) out[op + i] = src[ip + i]!;
      } else {
        src.copy(out, op, ip, ip + literals);
      }
      ip += literals;
      op += literals;
      if (ip >= end) break; // the last sequence has literals only
      const offset = src[ip]! | (src[ip + 1]! << 8);
      ip += 2;
      if (offset === 0 || offset > op) throw corrupt();
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
      if (offset >= matchLength && matchLength >= 16) {
        out.copy(out, op, from, from + matchLength);
        op += matchLength;
      } else {
        // Short or overlapping match (the source is being written as it is read, run-length style).
        const stop = op + matchLength;
        while (op < stop) out[op++] = out[from++]!;
      }
    }
    this.push(Buffer.from(out.subarray(base, op)));
    this.historyLength = op;
    if (op > WINDOW) {
      out.copy(out, 0, op - WINDOW, op);
      this.historyLength = WINDOW;
    }
  }
}

function corrupt(): TidemarkError {
  return new TidemarkError('corrupt_object', 'The LZ4 data is corrupt.');
}
