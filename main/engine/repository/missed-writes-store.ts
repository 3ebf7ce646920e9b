import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { z } from 'zod';
import type { MissedWrites } from './zones/zone-set.js';

const fileSchema = z.object({
  version: z.literal(1),
  savedAt: z.iso.datetime(),
  /** zone id → keys that zone missed and a repair has not copied yet */
  zones: z.record(z.string(), z.array(z.string())),
});

/**
 * The keys each zone missed, kept on the workstation so a degraded zone stays known across
 * restarts until a repair copies what it lacks. Saves are serialised and atomic; a damaged
 * file reads as empty (a full repair finds the same objects from the catalog anyway).
 */
export class MissedWritesStore {
  private chain: Promise<void> = Promise.resolve();

  constructor(readonly path: string) {}

  async load(): Promise<MissedWrites> {
    try {
      const parsed = fileSchema.safeParse(JSON.parse(await readFile(this.path, 'utf8')));
      return parsed.success ? parsed.data.zones : {};
    } catch {
      return {};
    }
  }

  /** Replaces the stored record; resolves once it is on disk. */
  save(missed: MissedWrites): Promise<void> {
    const text = `${JSON.stringify({ version: 1, savedAt: new Date().toISOString(), zones: missed }, null, 2)}\n`;
    const next = this.chain.then(async () => {
      await mkdir(dirname(this.path), { recursive: true, mode: 0o700 });
      const tmp = `${this.path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
      await writeFile(tmp, text, { mode: 0o600 });
      await rename(tmp, this.path);
    });
    this.chain = next.catch(() => undefined);
    return next;
  }

  /** Resolves once every save started so far has finished. */
  idle(): Promise<void> {
    return this.chain;
  }
}
