import { TidemarkError } from '../errors.js';
import type { ReplicationQuery, ResultSet } from './copy-submittable.js';
import { formatLsn, isSegmentStart, parseLsn } from './lsn.js';
import { encodeStandbyStatus, parseWalSenderMessage } from './protocol-messages.js';
import type { ReplicationConnection } from './replication-connection.js';

export interface WalStreamOptions {
  /** physical replication slot (recommended: the server then keeps WAL until it is flushed) */
  slot?: string;
  /** where to start: the first byte of a WAL segment, as pg_receivewal does */
  startLsn: bigint;
  timeline: number;
  /** how often a standby status update is sent (default 5 s; keep it well under wal_sender_timeout) */
  statusIntervalMs?: number;
  /**
   * Called in order for each contiguous piece of WAL; `bytes` belongs to the callee. Reading from
   * the server pauses until a returned promise resolves; a rejection ends the stream with it.
   */
  onData(walStart: bigint, bytes: Buffer): Promise<void> | void;
  /**
   * The position after the last WAL byte that is safely stored (0n: none yet). Reported as
   * `flushed`: the slot's restart_lsn follows it, so the server keeps everything after it.
   */
  getFlushedLsn(): bigint;
  signal?: AbortSignal;
}

/** The server finished streaming a timeline that is no longer its current one. */
export interface WalStreamEnd {
  timeline: number;
  /** the position after the last byte received on `timeline` */
  endLsn: bigint;
  nextTimeline: number;
  /** where `nextTimeline` branched off (fetch its TIMELINE_HISTORY, restart on it from its segment) */
  nextTimelineStartLsn: bigint;
}

const defaultStatusIntervalMs = 5000;

/**
 * START_REPLICATION (physical) on `conn`: delivers WAL to `onData` with backpressure, answers
 * keepalives, reports progress, and resolves at the end of the timeline. Never resolves while
 * the timeline is current: it ends by abort (rejects `cancelled`) or by error (a lost
 * connection rejects `connection_failed`, retryable). The connection is closed after an abort
 * or error; after a timeline end it can run the next command.
 */
export async function startWalStream(
  conn: ReplicationConnection,
  options: WalStreamOptions,
): Promise<WalStreamEnd> {
  const segmentSize = await conn.walSegmentSize();
  if (!isSegmentStart(options.startLsn, segmentSize)) {
    throw new TidemarkError(
      'invalid_input',
      `WAL streaming must start at a segment boundary; ${formatLsn(options.startLsn)} is not one (segments of ${segmentSize} bytes).`,
    );
  }
  if (!Number.isInteger(options.timeline) || options.timeline < 1) {
    throw new TidemarkError('invalid_input', `Not a timeline: ${options.timeline}.`);
  }
  if (options.slot !== undefined && !/^[a-z0-9_]{1,63}$/.test(options.slot)) {
    throw new TidemarkError(
      'invalid_input',
      `"${options.slot}" is not a valid replication slot name.`,
    );
  }
  if (options.signal?.aborted) throw cancelled(conn.node, options.timeline);
  return new WalStream(conn, options).run();
}

class WalStream {
  private query: ReplicationQuery | undefined;
  private readonly pieces: { walStart: bigint; bytes: Buffer }[] = [];
  /** set while pump() runs; pump() may finish synchronously, so this is not the promise */
  private pumpActive = false;
  private pumpDone: Promise<void> = Promise.resolve();
  private releaseHold: (() => void) | undefined;
  /** the position after the last byte received from the server */
  private received: bigint;
  /** the position after the last byte onData accepted */
  private written: bigint;
  private statusTimer: NodeJS.Timeout | undefined;
  private failure: Error | undefined;
  private serverEnded = false;
  private next: { timeline: number; startLsn: bigint } | undefined;

  constructor(
    private readonly conn: ReplicationConnection,
    private readonly options: WalStreamOptions,
  ) {
    this.received = options.startLsn;
    this.written = options.startLsn;
  }

  async run(): Promise<WalStreamEnd> {
    const { options, conn } = this;
    const what = `WAL streaming from ${formatLsn(options.startLsn)} on timeline ${options.timeline}`;
    const slot = options.slot === undefined ? '' : `SLOT ${options.slot} `;
    const text = `START_REPLICATION ${slot}PHYSICAL ${formatLsn(options.startLsn)} TIMELINE ${options.timeline}`;
    const onAbort = (): void => this.fail(cancelled(conn.node, options.timeline), true);
    options.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const { query, done } = conn.startCommand(text, what, {
        onCopyStart: () => this.onCopyStart(),
        onCopyData: (chunk) => this.onCopyData(chunk),
        onCopyDone: () => this.onServerCopyDone(),
        onResultSet: (set) => this.onResultSet(set),
      });
      this.query = query;
      try {
        await done;
      } catch (err) {
        throw this.failure ?? err;
      }
      this.stopStatus();
      while (this.pumpActive) await this.pumpDone;
      if (this.failure) throw this.failure;
      if (!this.next) {
        throw new TidemarkError(
          'internal',
          `PostgreSQL at ${conn.node} ended ${what} without naming the next timeline. Retry.`,
        );
      }
      return {
        timeline: options.timeline,
        endLsn: this.received,
        nextTimeline: this.next.timeline,
        nextTimelineStartLsn: this.next.startLsn,
      };
    } catch (err) {
      this.fail(err instanceof Error ? err : new Error(String(err)), false);
      // the callee's current onData finishes before the caller hears of the failure
      while (this.pumpActive) await this.pumpDone;
      throw this.failure ?? err;
    } finally {
      this.stopStatus();
      options.signal?.removeEventListener('abort', onAbort);
    }
  }

  private onCopyStart(): void {
    this.sendStatus(false);
    const interval = this.options.statusIntervalMs ?? defaultStatusIntervalMs;
    this.statusTimer = setInterval(() => this.sendStatus(false), interval);
  }

  /** Runs inside pg's parser: the piece is copied because pg-protocol reuses the chunk's buffer. */
  private onCopyData(chunk: Buffer): void {
    if (this.failure) return;
    const message = parseWalSenderMessage(chunk);
    if (message.type === 'keepalive') {
      if (message.replyRequested) this.sendStatus(false);
      return;
    }
    if (message.dataStart !== this.received) {
      throw new TidemarkError(
        'internal',
        `PostgreSQL at ${this.conn.node} sent WAL from ${formatLsn(message.dataStart)} where ${formatLsn(this.received)} was expected; the stream is out of step. Retry.`,
      );
    }
    if (message.bytes.length === 0) return;
    this.received += BigInt(message.bytes.length);
    this.pieces.push({ walStart: message.dataStart, bytes: Buffer.from(message.bytes) });
    this.startPump();
  }

  /** End of timeline: the server ended its side; ending ours makes it send the next timeline. */
  private onServerCopyDone(): void {
    this.serverEnded = true;
    this.stopStatus();
    this.query?.endCopy();
  }

  private onResultSet(set: ResultSet): void {
    const tli = set.columns.indexOf('next_tli');
    const pos = set.columns.indexOf('next_tli_startpos');
    const row = set.rows[0];
    if (tli < 0 || pos < 0 || !row) return;
    const timelineText = row[tli];
    const startText = row[pos];
    if (!timelineText || !startText) return;
    this.next = { timeline: Number.parseInt(timelineText, 10), startLsn: parseLsn(startText) };
  }

  private startPump(): void {
    if (this.pumpActive) return;
    this.pumpActive = true;
    this.pumpDone = this.pump();
  }

  /** Hands pieces to onData in order; reading from the server pauses while onData is busy. */
  private async pump(): Promise<void> {
    try {
      for (let piece = this.pieces.shift(); piece && !this.failure; piece = this.pieces.shift()) {
        const pending = this.options.onData(piece.walStart, piece.bytes);
        if (pending instanceof Promise) {
          this.releaseHold ??= this.query?.hold();
          await pending;
        }
        this.written = piece.walStart + BigInt(piece.bytes.length);
      }
    } catch (err) {
      this.fail(err instanceof Error ? err : new Error(String(err)), false);
    } finally {
      this.releaseHold?.();
      this.releaseHold = undefined;
      this.pumpActive = false;
    }
  }

  private sendStatus(replyRequested: boolean): void {
    const query = this.query;
    if (!query?.canSendCopyData || this.serverEnded) return;
    let flushed: bigint;
    try {
      flushed = this.options.getFlushedLsn();
    } catch (err) {
      this.fail(err instanceof Error ? err : new Error(String(err)), false);
      return;
    }
    query.sendCopyData(
      encodeStandbyStatus({
        written: this.written,
        flushed,
        applied: 0n,
        nowMs: Date.now(),
        replyRequested,
      }),
    );
  }

  private stopStatus(): void {
    if (this.statusTimer) clearInterval(this.statusTimer);
    this.statusTimer = undefined;
  }

  /** First failure wins. A final status update tells the slot what is stored, then the socket closes. */
  private fail(err: Error, reportProgress: boolean): void {
    if (this.failure) return;
    if (reportProgress) this.sendStatus(false);
    this.failure = err;
    this.stopStatus();
    this.pieces.length = 0;
    this.query?.abort(err);
  }
}

function cancelled(node: string, timeline: number): TidemarkError {
  return new TidemarkError(
    'cancelled',
    `WAL streaming from ${node} on timeline ${timeline} was cancelled.`,
    { retryable: true },
  );
}
