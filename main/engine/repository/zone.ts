import type { Readable } from 'node:stream';

export interface ZoneObjectInfo {
  key: string;
  size: number;
  modified: Date;
}

export interface ZoneProbe {
  reachable: boolean;
  latencyMs: number | null;
  error?: string;
}

/**
 * One storage location (folder, S3 bucket, Azure container) holding opaque bytes under keys
 * such as `clusters/c1/nodes/n1/wal/000000010000000000000001`. Keys use `/` and never `..`.
 * Errors are TidemarkErrors: `not_found` for a missing key, `zone_unavailable` for
 * unreachable storage, `authentication_failed`, `permission_denied`, `disk_full`.
 */
export interface Zone {
  readonly id: string;
  readonly kind: 'folder' | 's3' | 'azure';
  /** Writes an object; it becomes visible under `key` only once complete. */
  put(key: string, body: Readable | Buffer, options?: { signal?: AbortSignal }): Promise<void>;
  /**
   * Reads an object from byte `offset` (default 0) to its end; rejects with `not_found` if
   * absent. Every zone holds the same bytes, so a reader can resume in another zone.
   */
  get(key: string, options?: { signal?: AbortSignal; offset?: number }): Promise<Readable>;
  stat(key: string): Promise<ZoneObjectInfo | null>;
  /** Every object whose key starts with `prefix`, in key order. */
  list(prefix: string): AsyncIterable<ZoneObjectInfo>;
  /** Deleting a missing key is not an error. */
  delete(key: string): Promise<void>;
  probe(): Promise<ZoneProbe>;
  close?(): Promise<void>;
}
