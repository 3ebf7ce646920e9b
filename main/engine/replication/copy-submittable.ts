import type { Connection, Submittable } from 'pg';

/** One result set, values as the server's text (no type parsing: a walsender's bytea is raw). */
export interface ResultSet {
  columns: string[];
  rows: (string | null)[][];
}

export interface CopyHandlers {
  /** CopyOutResponse (`out`, BASE_BACKUP) or CopyBothResponse (`both`, START_REPLICATION) */
  onCopyStart?(kind: 'out' | 'both'): void;
  /**
   * One CopyData payload. `chunk` is a view into a buffer pg-protocol reuses: copy anything kept
   * beyond this call. A throw aborts the command.
   */
  onCopyData?(chunk: Buffer): void;
  /** the server sent CopyDone */
  onCopyDone?(): void;
  /** CopyInResponse (PG 17 UPLOAD_MANIFEST): send with `sendCopyData`, finish with `endCopy` */
  onCopyIn?(): void;
  /** each result set as it completes, before and after the COPY */
  onResultSet?(set: ResultSet): void;
}

interface RowDescriptionLike {
  fields: { name: string }[];
}
interface DataRowLike {
  fields: (string | null)[];
}
interface CopyDataLike {
  chunk: Buffer;
}

/**
 * A `pg` Submittable that runs one replication command in the simple-query protocol and drives
 * the COPY modes `pg`'s own Query leaves unhandled. Holds pause the socket (TCP then slows the
 * server); messages already parsed from the current socket read still arrive while paused.
 */
export class ReplicationQuery implements Submittable {
  readonly done: Promise<ResultSet[]>;
  private resolveDone!: (sets: ResultSet[]) => void;
  private rejectDone!: (err: Error) => void;
  private connection: Connection | undefined;
  private readonly resultSets: ResultSet[] = [];
  private current: ResultSet | undefined;
  private settled = false;
  private holds = 0;
  private paused = false;
  private copyOpen = false;
  private readonly listeners: [string, (...args: unknown[]) => void][] = [];

  constructor(
    readonly text: string,
    private readonly handlers: CopyHandlers = {},
  ) {
    this.done = new Promise((resolve, reject) => {
      this.resolveDone = resolve;
      this.rejectDone = reject;
    });
    // the owner awaits `done`; an abort before that must not surface as an unhandled rejection
    this.done.catch(() => undefined);
  }

  /** Whether the command has finished (successfully or not). */
  get isSettled(): boolean {
    return this.settled;
  }

  /** Whether CopyData may still be sent to the server. */
  get canSendCopyData(): boolean {
    return this.copyOpen && !this.settled;
  }

  submit(connection: Connection): void {
    this.connection = connection;
    this.listen('copyOutResponse', () => this.startCopy('out'));
    this.listen('replicationStart', () => this.startCopy('both'));
    this.listen('copyDone', () => {
      if (!this.settled) this.guard(() => this.handlers.onCopyDone?.());
    });
    connection.query(this.text);
  }

  handleRowDescription(msg: RowDescriptionLike): void {
    this.current = { columns: msg.fields.map((f) => f.name), rows: [] };
  }

  handleDataRow(msg: DataRowLike): void {
    this.current?.rows.push(msg.fields);
  }

  handleCommandComplete(): void {
    const set = this.current;
    this.current = undefined;
    if (!set || this.settled) return;
    this.resultSets.push(set);
    this.guard(() => this.handlers.onResultSet?.(set));
  }

  handleCopyData(msg: CopyDataLike): void {
    if (this.settled) return;
    this.guard(() => this.handlers.onCopyData?.(msg.chunk));
  }

  handleCopyInResponse(connection: Connection): void {
    this.copyOpen = true;
    if (this.handlers.onCopyIn) this.guard(() => this.handlers.onCopyIn?.());
    else connection.sendCopyFail('the client does not send data for this command');
  }

  handleEmptyQuery(): void {}

  handlePortalSuspended(): void {}

  handleError(err: Error): void {
    this.settle(err);
  }

  handleReadyForQuery(): void {
    this.settle(undefined);
  }

  /** Sends CopyData to the server (CopyBoth / CopyIn). */
  sendCopyData(chunk: Buffer): void {
    if (!this.canSendCopyData || !this.connection) return;
    this.connection.sendCopyFromChunk(chunk);
  }

  /** Sends CopyDone: ends the client's side of the COPY. */
  endCopy(): void {
    if (!this.canSendCopyData || !this.connection) return;
    this.copyOpen = false;
    this.connection.endCopyFrom();
  }

  /**
   * Pauses reading from the server until the returned release is called (idempotent). Holds
   * count: the socket flows again when all are released, or when the command ends.
   */
  hold(): () => void {
    if (this.settled) return () => undefined;
    this.holds += 1;
    this.updatePause();
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.holds -= 1;
      this.updatePause();
    };
  }

  /**
   * Fails the command now and closes the socket: a COPY from the server cannot be stopped
   * otherwise. The connection is unusable afterwards.
   */
  abort(err: Error): void {
    if (this.settled) return;
    this.settle(err);
    this.connection?.stream.destroy();
  }

  private startCopy(kind: 'out' | 'both'): void {
    if (this.settled) return;
    this.copyOpen = kind === 'both';
    this.guard(() => this.handlers.onCopyStart?.(kind));
  }

  /** A throwing handler must not unwind into pg's parser: it aborts the command instead. */
  private guard(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.abort(err instanceof Error ? err : new Error(String(err)));
    }
  }

  private listen(event: string, fn: (...args: unknown[]) => void): void {
    this.connection?.on(event, fn);
    this.listeners.push([event, fn]);
  }

  private settle(err: Error | undefined): void {
    if (this.settled) return;
    this.settled = true;
    this.copyOpen = false;
    for (const [event, fn] of this.listeners) this.connection?.off(event, fn);
    this.listeners.length = 0;
    this.holds = 0;
    this.updatePause();
    if (err) this.rejectDone(err);
    else this.resolveDone(this.resultSets);
  }

  private updatePause(): void {
    const stream = this.connection?.stream;
    if (!stream) return;
    const shouldPause = this.holds > 0 && !this.settled;
    if (shouldPause && !this.paused) {
      this.paused = true;
      stream.pause();
    } else if (!shouldPause && this.paused) {
      this.paused = false;
      stream.resume();
    }
  }
}
