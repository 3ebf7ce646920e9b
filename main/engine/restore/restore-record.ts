import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { TidemarkError } from '../errors.js';
import { acquireFileLock, holderLiveness, readLockHolder, type HeldLock } from '../schedule/run-lock.js';
import { restoreRecordSchema, type RestoreRecord } from './restore-record-schema.js';

export { restoreRecordSchema, type RestoreRecord };

/**
 * One JSON file per restore under `<data>/restores/`, written atomically. A running restore
 * holds `<id>.lock` (a lock that survives crashes): a record still "running" whose lock has no
 * live holder belongs to a process that stopped mid-way, and is reported as interrupted.
 */
export class RestoreRecordStore {
  constructor(private readonly dir: string) {}

  /** Held by the process running restore `id` until it ends. */
  lock(id: string): Promise<HeldLock> {
    return acquireFileLock({
      path: this.lockPath(id),
      purpose: `restore ${id}`,
      busyError: (holder) => new TidemarkError('conflict', `Restore ${id} is already running in process ${holder.pid} on ${holder.hostname}.`),
    });
  }

  async save(record: RestoreRecord): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const path = join(this.dir, `${record.id}.json`);
    const tmp = `${path}.tmp-${process.pid}`;
    await writeFile(tmp, JSON.stringify(restoreRecordSchema.parse(record), null, 2), { mode: 0o600 });
    await rename(tmp, path);
  }

  async get(id: string): Promise<RestoreRecord | null> {
    let record: RestoreRecord;
    try {
      record = restoreRecordSchema.parse(JSON.parse(await readFile(join(this.dir, `${id}.json`), 'utf8')));
    } catch {
      return null;
    }
    return record.state === 'running' ? this.settleIfAbandoned(record) : record;
  }

  private async settleIfAbandoned(record: RestoreRecord): Promise<RestoreRecord> {
    const holder = await readLockHolder(this.lockPath(record.id));
    if (holder && holderLiveness(holder) !== 'dead') return record;
    const where = record.targets.map((t) => `${t.nodeId} at ${t.location}`).join(', ');
    record.state = 'interrupted';
    record.error =
      `Tidemark stopped while this restore was running, so it could not remove what it had created.` +
      (where ? ` Nodes it may have created (none of them connects to the source): ${where}. Stop any server there (pg_ctl -D <folder>/data stop -m fast) and remove the folders, then restore again.` : ' Restore again.');
    await this.save(record);
    await rm(this.lockPath(record.id), { force: true });
    return record;
  }

  private lockPath(id: string): string {
    return join(this.dir, `${id}.lock`);
  }

  async list(): Promise<RestoreRecord[]> {
    let names: string[];
    try {
      names = (await readdir(this.dir)).filter((n) => n.endsWith('.json'));
    } catch {
      return [];
    }
    const records = await Promise.all(names.map((n) => this.get(n.slice(0, -5))));
    return records.filter((r): r is RestoreRecord => r !== null).sort((a, b) => b.startedAt.localeCompare(a.startedAt));
  }
}
