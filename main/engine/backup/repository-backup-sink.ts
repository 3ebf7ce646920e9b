import type { Writable } from 'node:stream';
import { layout } from '../catalog/layout.js';
import type { BaseBackupArchive, BaseBackupEnd, BaseBackupSink, BaseBackupStart } from '../replication/base-backup.js';
import type { Repository } from '../repository/repository.js';
import type { ZonePutResult } from '../repository/zones/zone-set.js';

/** An archive (or the manifest) as it went into the repository. */
export interface StoredBackupObject {
  key: string;
  /** bytes as received from the server (compressed, before encryption) */
  bytes: number;
  result: ZonePutResult;
}

export interface RepositoryBackupSinkOptions {
  repository: Repository;
  clusterId: string;
  nodeId: string;
  backupId: string;
  /** bytes each object's encryption stream buffers on either side (default 1 MiB: more buys no speed, only RSS) */
  bufferBytes?: number;
  signal?: AbortSignal;
  onStart?: (info: BaseBackupStart) => void;
  onProgress?: (bytesDone: number, bytesTotal: number | null) => void;
}

/**
 * A base-backup sink that streams each archive and the manifest straight into the repository
 * (encrypted once, fanned out to every zone). Nothing is buffered beyond `bufferBytes` plus the
 * zones' own buffers: a slow zone pauses the server through the Writable's backpressure.
 * A put that fails destroys its Writable, which fails the backup at once (a Writable that no
 * longer drains would otherwise stall the server's socket forever).
 */
export class RepositoryBackupSink implements BaseBackupSink {
  /** its Writables are encryption streams: a buffer is encrypted, and let go, before its write callback */
  readonly buffersFreeAfterWrite = true;
  readonly archives: (BaseBackupArchive & { stored: StoredBackupObject })[] = [];
  manifest: StoredBackupObject | null = null;
  start: BaseBackupStart | null = null;
  end: BaseBackupEnd | null = null;
  bytesDone = 0;
  bytesTotal: number | null = null;
  private readonly puts: Promise<void>[] = [];

  constructor(private readonly options: RepositoryBackupSinkOptions) {}

  onStart(info: BaseBackupStart): void {
    this.start = info;
    this.options.onStart?.(info);
  }

  openArchive(archive: BaseBackupArchive): Writable {
    const key = layout.backupArchive(this.options.clusterId, this.options.nodeId, this.options.backupId, archive.name);
    return this.open(key, (stored) => this.archives.push({ ...archive, stored }));
  }

  openManifest(): Writable {
    const key = layout.backupManifest(this.options.clusterId, this.options.nodeId, this.options.backupId);
    return this.open(key, (stored) => {
      this.manifest = stored;
    });
  }

  onProgress(bytesDone: number, bytesTotal: number | null): void {
    this.bytesDone = bytesDone;
    this.bytesTotal = bytesTotal;
    this.options.onProgress?.(bytesDone, bytesTotal);
  }

  /** Called once every Writable finished: the uploads may still be completing, so wait for them. */
  async onEnd(info: BaseBackupEnd): Promise<void> {
    await Promise.all(this.puts);
    this.end = info;
  }

  /** Zones that missed any object of this backup. */
  degradedZones(): string[] {
    const objects = [...this.archives.map((a) => a.stored), ...(this.manifest ? [this.manifest] : [])];
    return [...new Set(objects.flatMap((o) => o.result.missed.map((m) => m.zoneId)))].sort();
  }

  private open(key: string, onStored: (stored: StoredBackupObject) => void): Writable {
    const { input, stored } = this.options.repository.writeObject(key, {
      bufferBytes: this.options.bufferBytes ?? 1024 * 1024,
      ...(this.options.signal ? { signal: this.options.signal } : {}),
    });
    const put = stored
      .then((result) => onStored({ key, bytes: input.plaintextBytes, result }))
      .catch((err: unknown) => {
        input.destroy(err instanceof Error ? err : new Error(String(err)));
        throw err;
      });
    // the failure reaches runBaseBackup through the Writable; onEnd rethrows it too
    put.catch(() => undefined);
    this.puts.push(put);
    return input;
  }
}
