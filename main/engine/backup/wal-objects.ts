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

  /** A complete segment; then the partial of that segment, if any, is removed. */
  async putSegment(name: string, bytes: Buffer, signal?: AbortSignal): Promise<ZonePutResult> {
    const result = await this.repository.putObject(layout.walSegment(this.clusterId, this.nodeId, name), bytes, signal ? { signal } : {});
    const hadPartial = this.catalog.node(this.clusterId, this.nodeId)?.walPartials[name] !== undefined;
    this.catalog.noteWalSegment(this.clusterId, this.nodeId, name);
    if (hadPartial) await this.deletePartial(name);
    return result;
  }

  /** The segment being filled: the prefix received so far, replacing the previous one. */
  async putPartial(name: string, prefix: Buffer, signal?: AbortSignal): Promise<ZonePutResult> {
    const result = await this.repository.putObject(layout.walPartial(this.clusterId, this.nodeId, name), prefix, signal ? { signal } : {});
    this.catalog.noteWalPartial(this.clusterId, this.nodeId, name, prefix.length);
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
