import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { restoreRecordSchema, type RestoreRecord } from './restore-record-schema.js';

export { restoreRecordSchema, type RestoreRecord };

/** One JSON file per restore under `<data>/restores/`, written atomically. */
export class RestoreRecordStore {
  constructor(private readonly dir: string) {}

  async save(record: RestoreRecord): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const path = join(this.dir, `${record.id}.json`);
    const tmp = `${path}.tmp-${process.pid}`;
    await writeFile(tmp, JSON.stringify(restoreRecordSchema.parse(record), null, 2), { mode: 0o600 });
    await rename(tmp, path);
  }

  async get(id: string): Promise<RestoreRecord | null> {
    try {
      return restoreRecordSchema.parse(JSON.parse(await readFile(join(this.dir, `${id}.json`), 'utf8')));
    } catch {
      return null;
    }
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
