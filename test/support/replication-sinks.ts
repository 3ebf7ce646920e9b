import { createWriteStream } from 'node:fs';
import { open, rename, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import type {
  BaseBackupEnd,
  BaseBackupSink,
  BaseBackupStart,
} from '../../main/engine/replication/base-backup.js';
import { WalSegmenter } from '../../main/engine/replication/wal-segmenter.js';

export interface DirectorySink extends BaseBackupSink {
  readonly writables: Writable[];
  /** onStart, archive:<name>, manifest, onEnd in the order they happened */
  readonly events: string[];
  readonly progress: { done: number; total: number | null }[];
  start?: BaseBackupStart;
  end?: BaseBackupEnd;
}

/** Writes each archive to `<dir>/<name>` and the manifest to `<dir>/backup_manifest`. */
export function directorySink(
  dir: string,
  options: { highWaterMark?: number } = {},
): DirectorySink {
  const highWaterMark = options.highWaterMark ?? 4 * 1024 * 1024;
  const sink: DirectorySink = {
    writables: [],
    events: [],
    progress: [],
    onStart(info) {
      sink.start = info;
      sink.events.push('onStart');
    },
    openArchive(archive) {
      sink.events.push(`archive:${archive.name}`);
      const w = createWriteStream(join(dir, archive.name), { highWaterMark });
      sink.writables.push(w);
      return w;
    },
    openManifest() {
      sink.events.push('manifest');
      const w = createWriteStream(join(dir, 'backup_manifest'), { highWaterMark });
      sink.writables.push(w);
      return w;
    },
    onProgress(done, total) {
      sink.progress.push({ done, total });
    },
    onEnd(info) {
      sink.end = info;
      sink.events.push('onEnd');
    },
  };
  return sink;
}

/**
 * Writes streamed WAL into `dir` as pg_receivewal does: `<segment>.partial` while it fills,
 * renamed to `<segment>` when complete. `flushedLsn` is the end of the last complete segment.
 */
export class WalDirectoryWriter {
  private segmenter: WalSegmenter;
  private file: { name: string; handle: FileHandle } | undefined;
  private flushed = 0n;
  readonly completed: string[] = [];

  constructor(
    readonly dir: string,
    readonly segmentSize: number,
    timeline: number,
    startLsn: bigint,
  ) {
    this.segmenter = new WalSegmenter({ segmentSize, timeline, startLsn });
  }

  get flushedLsn(): bigint {
    return this.flushed;
  }

  get position(): bigint {
    return this.segmenter.position;
  }

  readonly onData = async (walStart: bigint, bytes: Buffer): Promise<void> => {
    for (const slice of this.segmenter.push(walStart, bytes)) {
      if (this.file?.name !== slice.fileName) {
        await this.file?.handle.close();
        this.file = {
          name: slice.fileName,
          handle: await open(join(this.dir, `${slice.fileName}.partial`), 'w'),
        };
      }
      await this.file.handle.write(slice.bytes, 0, slice.bytes.length, slice.offset);
      if (slice.completesSegment) {
        await this.file.handle.close();
        this.file = undefined;
        await rename(join(this.dir, `${slice.fileName}.partial`), join(this.dir, slice.fileName));
        this.completed.push(slice.fileName);
        this.flushed = slice.segmentStartLsn + BigInt(this.segmentSize);
      }
    }
  };

  /** Closes the segment being filled (it stays `.partial`) and continues on a new timeline. */
  async switchTimeline(timeline: number, startLsn: bigint): Promise<void> {
    await this.close();
    this.segmenter = new WalSegmenter({ segmentSize: this.segmentSize, timeline, startLsn });
  }

  async close(): Promise<void> {
    await this.file?.handle.close();
    this.file = undefined;
  }
}
