/** whole blocks kept for reuse at most: about what waits between the server and the sink */
const maxSpareBlocks = 8;

/**
 * Copies CopyData payloads out of pg-protocol's reused buffer into large blocks: one allocation per
 * block instead of one per message (messages are ~27-128 kB; the allocations and garbage showed
 * up as the main cost), and none for blocks given back with `recycle`. Handed-out pieces never
 * overlap, so a block keeps filling after a take.
 */
export class CopyCoalescer {
  private block: Buffer | undefined;
  private start = 0;
  private used = 0;
  private readonly spare: Buffer[] = [];

  constructor(private readonly blockSize = 1024 * 1024) {}

  /** Whether bytes are waiting to be taken. */
  get pending(): number {
    return this.used - this.start;
  }

  /** Copies `bytes` in; returns the pieces of blocks that filled up (owned by the caller). */
  append(bytes: Buffer): Buffer[] {
    const full: Buffer[] = [];
    let offset = 0;
    while (offset < bytes.length) {
      // a block is dropped only when full, and start and used return to 0 with it
      this.block ??= this.spare.pop() ?? Buffer.allocUnsafeSlow(this.blockSize);
      const length = Math.min(this.blockSize - this.used, bytes.length - offset);
      bytes.copy(this.block, this.used, offset, offset + length);
      this.used += length;
      offset += length;
      if (this.used === this.blockSize) {
        full.push(this.block.subarray(this.start, this.used));
        this.block = undefined;
        this.start = this.used = 0;
      }
    }
    return full;
  }

  /** The bytes appended since the last take (owned by the caller), or null when none. */
  take(): Buffer | null {
    if (!this.block || this.used === this.start) return null;
    const piece = this.block.subarray(this.start, this.used);
    this.start = this.used;
    return piece;
  }

  /**
   * Takes back a piece `append` handed out, once nobody uses it any more. Only whole blocks are
   * reused: a piece cut by `take` shares its block with bytes still being appended.
   */
  recycle(piece: Buffer): void {
    if (piece.length !== this.blockSize || piece.byteOffset !== 0) return;
    if (this.spare.length < maxSpareBlocks) this.spare.push(piece);
  }
}
