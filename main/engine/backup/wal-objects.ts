import { Readable } from 'node:stream';
import type { Catalog } from '../catalog/catalog.js';
import { layout } from '../catalog/layout.js';
import type { Repository } from '../repository/repository.js';
import type { ZonePutResult } from '../repository/zones/zone-set.js';

/**
 * The WAL objects of one node in the repository, written and noted in the catalog. Each put
 * resolves once the object is in at least minZones zones (else it rejects): only then may the
 * archiver report the WAL as flushed.
 */
export class NodeWalObjects {
  constructor(
    readonly repository: Repository,
    readonly catalog: Catalog,
    readonly clusterId: string,
    readonly nodeId: string,
  ) {}

  /** A complete segment, then noted (see `segmentStored`). */
  async putSegment(name: string, source: Buffer | Readable): Promise<ZonePutResult> {
    const result = await this.uploadSegment(name, source);
    await this.segmentStored(name);
    return result;
  }

  /** Writes a segment's object (a stream ends with its last byte); nothing is noted yet. */
  uploadSegment(name: string, source: Buffer | Readable): Promise<ZonePutResult> {
    return this.repository.putObject(layout.walSegment(this.clusterId, this.nodeId, name), source);
  }

  /** The segment's object is stored: it goes into the catalog, and its partial, if any, goes away. */
  async segmentStored(name: string): Promise<void> {
    const hadPartial = this.catalog.node(this.clusterId, this.nodeId)?.walPartials[name] !== undefined;
    this.catalog.noteWalSegment(this.clusterId, this.nodeId, name);
    if (hadPartial) await this.deletePartial(name);
  }

  /** The segment being filled: the prefix received so far (`length` bytes in `pieces`), replacing the previous one. */
  async putPartial(name: string, pieces: Buffer | readonly Buffer[], length = Buffer.isBuffer(pieces) ? pieces.length : sumLengths(pieces)): Promise<ZonePutResult> {
    const source = Buffer.isBuffer(pieces) ? pieces : Readable.from(pieces, { objectMode: false });
    const result = await this.repository.putObject(layout.walPartial(this.clusterId, this.nodeId, name), source);
    this.catalog.noteWalPartial(this.clusterId, this.nodeId, name, length);
    return result;
  }

  async putHistory(timeline: number, content: Buffer): Promise<ZonePutResult> {
    const result = await this.repository.putObject(layout.walHistory(this.clusterId, this.nodeId, timeline), content);
    this.catalog.noteHistory(this.clusterId, this.nodeId, timeline);
    return result;
  }

  /**
   * Removes a superseded partial. Through the zones directly: the repository's lock guards
   * backups from deletion, and this partial's bytes live on in the complete segment. A zone
   * that cannot delete keeps an orphan, which verify reports and retention removes.
   */
  private async deletePartial(name: string): Promise<void> {
    await this.repository.zones.delete(layout.walPartial(this.clusterId, this.nodeId, name)).catch(() => undefined);
  }
}

function sumLengths(pieces: readonly Buffer[]): number {
  return pieces.reduce((sum, piece) => sum + piece.length, 0);
}
