/** What a node's restore is doing, for the UI and the job's per-node parts. */
export type RestorePhase =
  | 'waiting'
  | 'preparing'
  | 'extracting'
  | 'starting'
  | 'replaying'
  | 'paused'
  | 'promoting'
  | 'rewriting-metadata'
  | 'restarting'
  | 'checking'
  | 'ready'
  | 'failed'
  | 'cancelled';

export interface NodeRestoreProgress {
  nodeId: string;
  phase: RestorePhase;
  /** base-backup bytes written to the node (uncompressed) */
  bytesWritten: number;
  bytesTotal: number | null;
  walFilesDelivered: number;
  walFilesPlanned: number;
  /** WAL replayed since the backup's start, in bytes */
  walReplayedBytes: number | null;
  /** WAL from the backup's start to the node's restore-point LSN, in bytes */
  walNeededBytes: number | null;
  replayLsn: string | null;
  message?: string;
}

export type ProgressListener = (progress: NodeRestoreProgress) => void;

/** Keeps one node's progress and reports it, at most every `intervalMs` unless the phase changes. */
export class NodeProgressReporter {
  private readonly state: NodeRestoreProgress;
  private lastEmit = 0;

  constructor(
    nodeId: string,
    init: { bytesTotal: number | null; walFilesPlanned: number; walNeededBytes: number | null },
    private readonly listener: ProgressListener | undefined,
    private readonly intervalMs = 250,
  ) {
    this.state = {
      nodeId,
      phase: 'waiting',
      bytesWritten: 0,
      bytesTotal: init.bytesTotal,
      walFilesDelivered: 0,
      walFilesPlanned: init.walFilesPlanned,
      walReplayedBytes: null,
      walNeededBytes: init.walNeededBytes,
      replayLsn: null,
    };
  }

  get current(): Readonly<NodeRestoreProgress> {
    return this.state;
  }

  phase(phase: RestorePhase, message?: string): void {
    this.state.phase = phase;
    if (message === undefined) delete this.state.message;
    else this.state.message = message;
    this.emit(true);
  }

  update(change: Partial<Omit<NodeRestoreProgress, 'nodeId' | 'phase'>>): void {
    Object.assign(this.state, change);
    this.emit(false);
  }

  addBytes(bytes: number): void {
    this.state.bytesWritten += bytes;
    this.emit(false);
  }

  private emit(force: boolean): void {
    if (!this.listener) return;
    const now = Date.now();
    if (!force && now - this.lastEmit < this.intervalMs) return;
    this.lastEmit = now;
    this.listener({ ...this.state });
  }
}
