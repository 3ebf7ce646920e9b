import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';

/** What Tidemark keeps of each restore: the plan's summary, the outcome and the checklist. */
export const restoreRecordSchema = z.object({
  id: z.string(),
  clusterId: z.string(),
  repositoryId: z.string(),
  point: z.object({ name: z.string(), createdAt: z.string(), label: z.string().nullable() }),
  provisioner: z.enum(['local', 'ssh']),
  jobId: z.string(),
  state: z.enum(['running', 'succeeded', 'failed', 'cancelled']),
  startedAt: z.string(),
  endedAt: z.string().nullable(),
  error: z.string().nullable(),
  connectionString: z.string().nullable(),
  nodes: z.array(z.object({ nodeId: z.string(), role: z.enum(['coordinator', 'worker']), host: z.string(), port: z.number(), dataDir: z.string() })),
  registeredClusterId: z.string().nullable(),
  checklist: z.array(z.object({ id: z.string(), title: z.string(), detail: z.string(), done: z.boolean() })),
});
export type RestoreRecord = z.infer<typeof restoreRecordSchema>;

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
