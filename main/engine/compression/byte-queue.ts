/**
 * Bytes received in chunks, consumed from the front. Reads that fall inside one chunk are
 * views of it (no copy); only a read that straddles chunks is gathered into a new buffer.
 */
export class ByteQueue {
  private chunks: Buffer[] = [];
  /** offset into chunks[0] */
  private head = 0;
  private total = 0;

  get length(): number {
    return this.total;
  }

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.total += chunk.length;
  }

  /** The first `n` bytes (n ≤ length), without consuming them. */
  peek(n: number): Buffer {
    const first = this.chunks[0]!;
    if (first.length - this.head >= n) return first.subarray(this.head, this.head + n);
    const out = Buffer.allocUnsafe(n);
    let copied = 0;
    for (let i = 0; copied < n; i++) {
      const chunk = this.chunks[i]!;
      const from = i === 0 ? this.head : 0;
      copied += chunk.copy(out, copied, from, Math.min(chunk.length, from + n - copied));
    }
    return out;
  }

  /** Consumes `n` bytes (n ≤ length). */
  skip(n: number): void {
    this.total -= n;
    while (n > 0) {
      const available = this.chunks[0]!.length - this.head;
      if (n < available) {
        this.head += n;
        return;
      }
      n -= available;
      this.chunks.shift();
      this.head = 0;
    }
  }

  /** Takes up to `n` bytes from the front, as views of the chunks they are in. */
  take(n: number): Buffer {
    const first = this.chunks[0]!;
    const piece = first.subarray(this.head, this.head + Math.min(n, first.length - this.head));
    this.skip(piece.length);
    return piece;
  }
}
