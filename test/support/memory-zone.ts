import { Readable } from 'node:stream';
import { TidemarkError, throwIfAborted } from '../../main/engine/errors.js';
import type { Zone, ZoneObjectInfo, ZoneProbe } from '../../main/engine/repository/zone.js';

interface StoredObject {
  bytes: Buffer;
  modified: Date;
}

/**
 * A Zone over a Map, for tests of code above the zones (failover, catalog). Besides the Zone
 * interface it can damage what it holds: flip bits, truncate, fail a `get`, or break a read
 * stream after some bytes. `reads` records every `get` with its offset.
 */
export class MemoryZone implements Zone {
  readonly kind = 'folder' as const;
  readonly reads: { key: string; offset: number }[] = [];
  private readonly objects = new Map<string, StoredObject>();
  private getFailure: TidemarkError | undefined;
  private streamFailure: { afterBytes: number; error: Error } | undefined;

  constructor(
    readonly id: string,
    /** size of the pieces `get` streams, to exercise readers that reassemble chunks */
    private readonly pieceSize = 64 * 1024,
  ) {}

  async put(
    key: string,
    body: Readable | Buffer,
    options: { signal?: AbortSignal } = {},
  ): Promise<void> {
    throwIfAborted(options.signal);
    const parts: Buffer[] = [];
    if (Buffer.isBuffer(body)) parts.push(body);
    else for await (const part of body) parts.push(Buffer.from(part as Buffer));
    this.objects.set(key, { bytes: Buffer.concat(parts), modified: new Date() });
  }

  async get(
    key: string,
    options: { signal?: AbortSignal; offset?: number } = {},
  ): Promise<Readable> {
    throwIfAborted(options.signal);
    const offset = options.offset ?? 0;
    this.reads.push({ key, offset });
    if (this.getFailure) throw this.getFailure;
    const stored = this.objects.get(key);
    if (!stored)
      throw new TidemarkError('not_found', `Zone "${this.id}" has no object ${key}.`, {
        details: { zoneId: this.id, key },
      });
    if (offset < 0 || offset > stored.bytes.length) {
      throw new TidemarkError(
        'invalid_input',
        `Zone "${this.id}" cannot read ${key} from byte ${offset}; it has ${stored.bytes.length} bytes.`,
      );
    }
    const bytes = stored.bytes.subarray(offset);
    const failure = this.streamFailure;
    const pieceSize = this.pieceSize;
    async function* pieces(): AsyncGenerator<Buffer> {
      for (let at = 0; at < bytes.length; at += pieceSize) {
        const piece = bytes.subarray(at, Math.min(at + pieceSize, bytes.length));
        if (failure && at + piece.length > failure.afterBytes) {
          if (failure.afterBytes > at)
            yield Buffer.from(piece.subarray(0, failure.afterBytes - at));
          throw failure.error;
        }
        yield Buffer.from(piece);
      }
    }
    return Readable.from(pieces(), { objectMode: false });
  }

  async stat(key: string): Promise<ZoneObjectInfo | null> {
    const stored = this.objects.get(key);
    return stored ? { key, size: stored.bytes.length, modified: stored.modified } : null;
  }

  async *list(prefix: string): AsyncIterable<ZoneObjectInfo> {
    const keys = [...this.objects.keys()]
      .filter((key) => key.startsWith(prefix))
      .sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    for (const key of keys) {
      const info = await this.stat(key);
      if (info) yield info;
    }
  }

  async delete(key: string): Promise<void> {
    this.objects.delete(key);
  }

  async probe(): Promise<ZoneProbe> {
    return this.getFailure
      ? { reachable: false, latencyMs: null, error: this.getFailure.message }
      : { reachable: true, latencyMs: 0 };
  }

  /** The stored bytes (a copy). */
  bytesOf(key: string): Buffer {
    const stored = this.objects.get(key);
    if (!stored) throw new Error(`MemoryZone ${this.id}: no object ${key}`);
    return Buffer.from(stored.bytes);
  }

  /** Replaces the stored bytes without any checks, to plant damaged copies. */
  setBytes(key: string, bytes: Buffer): void {
    this.objects.set(key, { bytes: Buffer.from(bytes), modified: new Date() });
  }

  /** Flips one bit of the byte at `offset`. */
  flipBit(key: string, offset: number, bit = 0): void {
    const bytes = this.bytesOf(key);
    if (offset < 0 || offset >= bytes.length)
      throw new Error(`MemoryZone ${this.id}: offset ${offset} is outside ${key}`);
    bytes[offset] = (bytes[offset] as number) ^ (1 << bit);
    this.setBytes(key, bytes);
  }

  truncate(key: string, length: number): void {
    this.setBytes(key, this.bytesOf(key).subarray(0, length));
  }

  /** Every `get` rejects with `error` (e.g. zone_unavailable) until called with undefined. */
  failGets(error: TidemarkError | undefined): void {
    this.getFailure = error;
  }

  /** Streams from later `get`s error after delivering `afterBytes` bytes, until called with undefined. */
  breakStreams(failure: { afterBytes: number; error: Error } | undefined): void {
    this.streamFailure = failure;
  }
}
