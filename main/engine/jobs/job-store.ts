import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { z } from 'zod';
import { jobSchema, type Job } from './job-types.js';

/** Where finished and running jobs are kept across restarts. */
export interface JobStore {
  load(): Promise<Job[]>;
  save(jobs: Job[]): Promise<void>;
}

export class MemoryJobStore implements JobStore {
  private jobs: Job[] = [];
  async load(): Promise<Job[]> {
    return structuredClone(this.jobs);
  }
  async save(jobs: Job[]): Promise<void> {
    this.jobs = structuredClone(jobs);
  }
}

/** One JSON file, replaced atomically, so a crash mid-write never loses the history. */
export class FileJobStore implements JobStore {
  constructor(private readonly path: string) {}

  async load(): Promise<Job[]> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    const parsed = z.array(jobSchema).safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : [];
  }

  async save(jobs: Job[]): Promise<void> {
    await mkdir(dirname(this.path), { recursive: true });
    const tmp = `${this.path}.tmp-${process.pid}`;
    await writeFile(tmp, JSON.stringify(jobs), { mode: 0o600 });
    await rename(tmp, this.path);
  }
}
