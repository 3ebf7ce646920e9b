import type { Readable } from 'node:stream';
import type { ServerConfig } from '../catalog/records.js';
import type { CompressionKind } from '../compression/decompressor.js';

/** One archive of a node's base backup, as PostgreSQL produced it (`base.tar.lz4`, `16385.tar`). */
export interface RestoreArchive {
  name: string;
  /** null for the main data directory */
  tablespaceOid: number | null;
  /** the tablespace's location on the source (informational; the restore puts it elsewhere) */
  tablespacePath: string | null;
  compression: CompressionKind;
  /** compressed size, when known (progress) */
  bytes: number | null;
}

/**
 * Everything the restore reads for ONE node: its base backup, the WAL the plan needs and the
 * server configuration captured at backup time. The repository implements it (decrypting and
 * failing over between zones); tests implement it over plain folders. It never connects to a
 * source server.
 */
export interface NodeRestoreSource {
  /** Tidemark's node id in the source cluster */
  readonly nodeId: string;
  readonly serverConfig: ServerConfig;
  readonly walSegmentSize: number;
  /** LSN where the base backup started (WAL progress is measured from it) */
  readonly backupStartLsn: string;
  /** uncompressed size of the base backup, when known (progress) */
  readonly dataBytes: number | null;
  readonly archives: readonly RestoreArchive[];
  /**
   * The WAL files replay needs, in replay order: segment names and `.history` files, from the
   * backup's start to the restore point's LSN on this node, along its timeline path. Computed by
   * the planner; the restore delivers exactly these and answers "not found" for anything else.
   */
  readonly walFiles: readonly string[];
  /** The archive's compressed bytes, exactly as PostgreSQL produced them. */
  openArchive(name: string, signal?: AbortSignal): Promise<Readable>;
  /**
   * A WAL segment or `.history` file; null when it does not exist. A segment that exists only as
   * a partial comes back padded with zeros to `walSegmentSize`.
   */
  openWal(fileName: string, signal?: AbortSignal): Promise<Readable | null>;
}
