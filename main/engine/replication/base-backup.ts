import type { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { TidemarkError } from '../errors.js';
import { buildBaseBackupCommand, type BaseBackupCommandOptions } from './base-backup-command.js';
import { CopyCoalescer } from './copy-coalescer.js';
import type { ReplicationQuery, ResultSet } from './copy-submittable.js';
import { parseLsn } from './lsn.js';
import { parseBaseBackupMessage } from './protocol-messages.js';
import type { ReplicationConnection } from './replication-connection.js';

export interface BaseBackupOptions extends BaseBackupCommandOptions {
  signal?: AbortSignal;
  /** bytes received but not yet accepted by the sink before the server is paused (default 4 MB) */
  maxQueuedBytes?: number;
}

export interface TablespaceInfo {
  /** null for the main data directory */
  oid: number | null;
  /** the tablespace's directory on the node; null for the main data directory */
  location: string | null;
  /** estimated size (PROGRESS), null if unknown */
  sizeBytes: number | null;
}

export interface BaseBackupStart {
  startLsn: bigint;
  timeline: number;
  /** tablespaces first, the main data directory last */
  tablespaces: TablespaceInfo[];
}

export interface BaseBackupArchive {
  /** `base.tar[.lz4|.zst|.gz]` or `<oid>.tar[...]` */
  name: string;
  /** the tablespace's OID; null for the main data directory */
  tablespaceOid: number | null;
  /** the tablespace's directory on the node; null for the main data directory */
  tablespacePath: string | null;
}

export interface BaseBackupEnd {
  endLsn: bigint;
  timeline: number;
}

/**
 * Where the backup goes. Each Writable's backpressure pauses the server. Writables are ended only
 * once the server has completed the command (checksum failures arrive at the very end); on any
 * failure every Writable is destroyed with the error, so nothing downstream looks complete.
 */
export interface BaseBackupSink {
  /**
   * True when the Writables this sink opens are done with a written buffer once its write
   * callback ran (they copy or encrypt it, never pass it on): the transfer then reuses the buffer.
   */
  readonly buffersFreeAfterWrite?: boolean;
  onStart(info: BaseBackupStart): void | Promise<void>;
  openArchive(archive: BaseBackupArchive): Writable | Promise<Writable>;
  /** the backup manifest (JSON, always uncompressed), after all archives */
  openManifest(): Writable | Promise<Writable>;
  /** uncompressed bytes sent by the server so far, and the server's estimate of the total */
  onProgress?(bytesDone: number, bytesTotal: number | null): void;
  /** every Writable has finished; the backup is complete when runBaseBackup resolves */
  onEnd(info: BaseBackupEnd): void | Promise<void>;
}

export interface BaseBackupResult extends BaseBackupStart, BaseBackupEnd {
  archives: BaseBackupArchive[];
  /** archive and manifest bytes received (after server-side compression) */
  bytesReceived: number;
}

type Step =
  | { kind: 'start'; info: BaseBackupStart }
  | { kind: 'archive'; archive: BaseBackupArchive }
  | { kind: 'manifest' }
  | { kind: 'data'; bytes: Buffer };

const defaultMaxQueuedBytes = 4 * 1024 * 1024;

/**
 * Runs BASE_BACKUP (PostgreSQL 15+) on `conn` into `sink`. Resolves only when the server completed
 * the command and every Writable finished. On failure or abort the connection is closed when the
 * COPY was still running (that is the only way to stop it).
 */
export async function runBaseBackup(
  conn: ReplicationConnection,
  options: BaseBackupOptions,
  sink: BaseBackupSink,
): Promise<BaseBackupResult> {
  const text = buildBaseBackupCommand(options);
  if (options.signal?.aborted) throw cancelled(conn.node);
  return new BaseBackupTransfer(conn, sink, options).run(text);
}

class BaseBackupTransfer {
  private query: ReplicationQuery | undefined;
  private readonly steps: Step[] = [];
  private queuedBytes = 0;
  /** set while pump() runs; pump() may finish synchronously, so this is not the promise */
  private pumpActive = false;
  private pumpDone: Promise<void> = Promise.resolve();
  private releaseHold: (() => void) | undefined;
  private readonly writables: Writable[] = [];
  private current: Writable | undefined;
  private failure: Error | undefined;
  private copyStarted = false;
  private start: BaseBackupStart | undefined;
  private startRow: (string | null)[] | undefined;
  private end: BaseBackupEnd | undefined;
  private readonly archives: BaseBackupArchive[] = [];
  private manifestSeen = false;
  private bytesReceived = 0;
  private readonly maxQueuedBytes: number;
  private readonly coalescer = new CopyCoalescer();

  constructor(
    private readonly conn: ReplicationConnection,
    private readonly sink: BaseBackupSink,
    private readonly options: BaseBackupOptions,
  ) {
    this.maxQueuedBytes = options.maxQueuedBytes ?? defaultMaxQueuedBytes;
  }

  async run(text: string): Promise<BaseBackupResult> {
    const onAbort = (): void => this.fail(cancelled(this.conn.node));
    this.options.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const { query, done } = this.conn.startCommand(text, 'the base backup', {
        onResultSet: (set) => this.onResultSet(set),
        onCopyStart: () => {
          this.copyStarted = true;
        },
        onCopyData: (chunk) => this.onCopyData(chunk),
      });
      this.query = query;
      try {
        await done;
      } catch (err) {
        throw this.failure ?? err;
      }
      this.flushData();
      while (this.pumpActive) await this.pumpDone;
      if (this.failure) throw this.failure;
      const result = this.checkComplete();
      for (const writable of this.writables) writable.end();
      await Promise.all(this.writables.map((w) => finished(w)));
      if (this.failure) throw this.failure;
      await this.sink.onEnd({ endLsn: result.endLsn, timeline: result.timeline });
      if (this.failure) throw this.failure;
      return result;
    } catch (err) {
      this.fail(err instanceof Error ? err : new Error(String(err)));
      throw this.failure ?? err;
    } finally {
      this.options.signal?.removeEventListener('abort', onAbort);
    }
  }

  private onResultSet(set: ResultSet): void {
    if (this.copyStarted) {
      const row = set.rows[0];
      if (!row?.[0] || !row[1]) throw this.protocolError('an end position without values');
      this.end = { endLsn: parseLsn(row[0]), timeline: Number.parseInt(row[1], 10) };
    } else if (!this.startRow) {
      this.startRow = set.rows[0];
      if (!this.startRow?.[0] || !this.startRow[1])
        throw this.protocolError('a start position without values');
    } else {
      const [startText, timelineText] = this.startRow as [string, string];
      const tablespaces = set.rows.map((row): TablespaceInfo => ({
        oid: row[0] ? Number.parseInt(row[0], 10) : null,
        location: row[1] ?? null,
        sizeBytes: row[2] ? Number.parseInt(row[2], 10) * 1024 : null,
      }));
      this.start = {
        startLsn: parseLsn(startText),
        timeline: Number.parseInt(timelineText, 10),
        tablespaces,
      };
      this.enqueue({ kind: 'start', info: this.start });
    }
  }

  /** Runs inside pg's parser: everything kept is copied (pg-protocol reuses the chunk's buffer). */
  private onCopyData(chunk: Buffer): void {
    if (this.failure) return;
    const message = parseBaseBackupMessage(chunk);
    switch (message.type) {
      case 'archive': {
        const oid = /^(\d+)\.tar/.exec(message.name)?.[1];
        const archive: BaseBackupArchive = {
          name: message.name,
          tablespaceOid: oid ? Number.parseInt(oid, 10) : null,
          tablespacePath: message.tablespacePath === '' ? null : message.tablespacePath,
        };
        this.archives.push(archive);
        this.flushData();
        this.enqueue({ kind: 'archive', archive });
        break;
      }
      case 'manifest':
        this.manifestSeen = true;
        this.flushData();
        this.enqueue({ kind: 'manifest' });
        break;
      case 'data':
        this.bytesReceived += message.bytes.length;
        // whole blocks only until the archive ends: each is one encryption chunk, and reusable
        for (const block of this.coalescer.append(message.bytes))
          this.enqueue({ kind: 'data', bytes: block });
        break;
      case 'progress': {
        const total =
          this.start?.tablespaces.reduce<number | null>(
            (sum, t) => (sum === null || t.sizeBytes === null ? null : sum + t.sizeBytes),
            0,
          ) ?? null;
        this.sink.onProgress?.(Number(message.bytesDone), total);
        break;
      }
    }
  }

  private flushData(): void {
    const bytes = this.coalescer.take();
    if (bytes && !this.failure) this.enqueue({ kind: 'data', bytes });
  }

  private enqueue(step: Step): void {
    this.steps.push(step);
    if (step.kind === 'data') this.queuedBytes += step.bytes.length;
    this.updateHold();
    this.startPump();
  }

  private startPump(): void {
    if (this.pumpActive) return;
    this.pumpActive = true;
    this.pumpDone = this.pump();
  }

  /** Applies steps in order; awaits the sink only when it asks to (a promise or a full Writable). */
  private async pump(): Promise<void> {
    try {
      for (let step = this.steps.shift(); step && !this.failure; step = this.steps.shift()) {
        if (step.kind === 'data') this.queuedBytes -= step.bytes.length;
        this.updateHold();
        const pending = this.apply(step);
        if (pending) await pending;
      }
    } catch (err) {
      this.fail(err instanceof Error ? err : new Error(String(err)));
    } finally {
      this.pumpActive = false;
    }
  }

  private apply(step: Step): Promise<void> | undefined {
    switch (step.kind) {
      case 'start': {
        const result = this.sink.onStart(step.info);
        return result instanceof Promise ? result : undefined;
      }
      case 'archive':
        return this.open(() => this.sink.openArchive(step.archive));
      case 'manifest':
        return this.open(() => this.sink.openManifest());
      case 'data': {
        const writable = this.current;
        if (!writable) throw this.protocolError('archive data before any archive');
        const bytes = step.bytes;
        const reuse = this.sink.buffersFreeAfterWrite
          ? (err?: Error | null) => {
              if (!err) this.coalescer.recycle(bytes);
            }
          : undefined;
        return writable.write(bytes, reuse) ? undefined : writableReady(writable, this.conn.node);
      }
    }
  }

  private async open(openWritable: () => Writable | Promise<Writable>): Promise<void> {
    const writable = await openWritable();
    // our listener also keeps destroy(err) from becoming an uncaught exception
    writable.on('error', (err: Error) => this.fail(err));
    this.writables.push(writable);
    this.current = writable;
  }

  /** Pauses the server while more than maxQueuedBytes wait for the sink; resumes at half. */
  private updateHold(): void {
    if (
      !this.releaseHold &&
      this.queuedBytes > this.maxQueuedBytes &&
      this.query &&
      !this.failure
    ) {
      this.releaseHold = this.query.hold();
    } else if (this.releaseHold && this.queuedBytes <= this.maxQueuedBytes / 2) {
      this.releaseHold();
      this.releaseHold = undefined;
    }
  }

  private checkComplete(): BaseBackupResult {
    if (!this.start || !this.end)
      throw this.protocolError('a completed base backup without its start or end position');
    if (!this.archives.some((a) => a.tablespaceOid === null))
      throw this.protocolError('a completed base backup without the main archive');
    if (!this.manifestSeen) throw this.protocolError('a completed base backup without a manifest');
    return {
      ...this.start,
      ...this.end,
      archives: this.archives,
      bytesReceived: this.bytesReceived,
    };
  }

  /** First failure wins: stop the server's COPY and destroy every Writable with the error. */
  private fail(err: Error): void {
    if (this.failure) return;
    this.failure = err;
    this.query?.abort(err);
    this.steps.length = 0;
    this.queuedBytes = 0;
    this.releaseHold?.();
    this.releaseHold = undefined;
    for (const writable of this.writables) if (!writable.destroyed) writable.destroy(err);
  }

  private protocolError(what: string): TidemarkError {
    return new TidemarkError(
      'internal',
      `PostgreSQL at ${this.conn.node} sent ${what} during the base backup; the backup is not usable. Retry it.`,
    );
  }
}

/**
 * Resolves when `writable` wants more data. A Writable that ends, closes or fails first would
 * otherwise leave the socket paused forever (and a truncated archive): that rejects.
 */
function writableReady(writable: Writable, node: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const cleanup = (): void => {
      writable.off('drain', onDrain);
      writable.off('error', onError);
      writable.off('close', onGone);
      writable.off('finish', onGone);
    };
    const onDrain = (): void => {
      cleanup();
      resolve();
    };
    const onError = (err: Error): void => {
      cleanup();
      reject(err);
    };
    const onGone = (): void => {
      cleanup();
      reject(
        new TidemarkError(
          'internal',
          `The destination of the base backup of ${node} closed before the backup ended; the backup is incomplete.`,
        ),
      );
    };
    writable.on('drain', onDrain);
    writable.on('error', onError);
    writable.on('close', onGone);
    writable.on('finish', onGone);
  });
}

function cancelled(node: string): TidemarkError {
  return new TidemarkError('cancelled', `The base backup of ${node} was cancelled.`, {
    retryable: true,
  });
}
