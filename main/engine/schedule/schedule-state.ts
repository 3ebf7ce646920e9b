import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { z } from 'zod';
import { TidemarkError } from '../errors.js';
import { taskKinds, type TaskKind } from './schedule-config.js';

export const runOutcomes = ['succeeded', 'failed', 'cancelled'] as const;
export type RunOutcome = (typeof runOutcomes)[number];

const taskStateSchema = z.object({
  /** when Tidemark began scheduling this task: the catch-up anchor until a slot has run */
  since: z.iso.datetime(),
  /** the latest slot whose run ended (whatever its outcome) */
  lastScheduledFor: z.iso.datetime().optional(),
  lastStartedAt: z.iso.datetime().optional(),
  lastEndedAt: z.iso.datetime().optional(),
  lastOutcome: z.enum(runOutcomes).optional(),
  lastError: z.object({ code: z.string(), message: z.string() }).optional(),
  /** set while a run is under way; still set after a crash, so that slot is caught up */
  running: z
    .object({
      scheduledFor: z.iso.datetime(),
      startedAt: z.iso.datetime(),
      pid: z.number().int(),
      /** the scheduler instance that started it (a restarted container may reuse the pid) */
      instance: z.string().optional(),
    })
    .optional(),
  /** a slot whose run was cancelled (Tidemark stopped): the next start catches it up */
  cancelledSlot: z.iso.datetime().optional(),
});
export type TaskState = z.infer<typeof taskStateSchema>;

const stateFileSchema = z.object({
  version: z.literal(1),
  clusters: z.record(z.string(), z.partialRecord(z.enum(taskKinds), taskStateSchema)),
});
type StateFile = z.infer<typeof stateFileSchema>;

/**
 * The scheduler's memory across restarts: per cluster and task kind, the last run and its
 * outcome. One small JSON file replaced atomically (temp file, then rename), writes
 * serialized, so a crash leaves either the old or the new state, never half of one.
 */
export class ScheduleStateFile {
  private state: StateFile = { version: 1, clusters: {} };
  private chain: Promise<void> = Promise.resolve();

  constructor(private readonly path: string) {}

  async load(): Promise<void> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch (err) {
      throw new TidemarkError('corrupt_object', `The schedule state file ${this.path} is not valid JSON; delete it to start the schedules afresh (missed runs are then not caught up once).`, { cause: err });
    }
    const parsed = stateFileSchema.safeParse(raw);
    if (!parsed.success) {
      throw new TidemarkError('corrupt_object', `The schedule state file ${this.path} is not in the expected format; delete it to start the schedules afresh (missed runs are then not caught up once).`);
    }
    this.state = parsed.data;
  }

  get(clusterId: string, kind: TaskKind): TaskState | undefined {
    const task = this.state.clusters[clusterId]?.[kind];
    return task ? structuredClone(task) : undefined;
  }

  /** Every recorded task, for status displays. */
  all(): { clusterId: string; kind: TaskKind; state: TaskState }[] {
    return Object.entries(this.state.clusters).flatMap(([clusterId, kinds]) =>
      taskKinds.flatMap((kind) => {
        const state = kinds[kind];
        return state ? [{ clusterId, kind, state: structuredClone(state) }] : [];
      }),
    );
  }

  /** Changes one task's state and writes the file; resolves once it is on disk. */
  update(clusterId: string, kind: TaskKind, change: (current: TaskState | undefined) => TaskState): Promise<void> {
    const cluster = (this.state.clusters[clusterId] ??= {});
    cluster[kind] = change(cluster[kind] ? structuredClone(cluster[kind]) : undefined);
    return this.save();
  }

  /** Forgets a cluster (it was removed from the configuration). */
  remove(clusterId: string): Promise<void> {
    delete this.state.clusters[clusterId];
    return this.save();
  }

  /** Resolves when every write so far is on disk. */
  flushed(): Promise<void> {
    return this.chain;
  }

  private save(): Promise<void> {
    const snapshot = `${JSON.stringify(this.state, null, 2)}\n`;
    const write = this.chain.then(async () => {
      await mkdir(dirname(this.path), { recursive: true, mode: 0o700 });
      const tmp = `${this.path}.tmp-${process.pid}`;
      try {
        await writeFile(tmp, snapshot, { mode: 0o600 });
        await rename(tmp, this.path);
      } catch (err) {
        await rm(tmp, { force: true });
        throw err;
      }
    });
    this.chain = write.catch(() => undefined);
    return write;
  }
}
