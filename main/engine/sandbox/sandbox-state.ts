import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { TidemarkError } from '../errors.js';

export const sandboxNodeSchema = z.object({
  /** `coordinator`, `worker-1`, `worker-2` */
  name: z.string(),
  role: z.enum(['coordinator', 'worker']),
  baseDir: z.string(),
  port: z.number().int(),
});
export type SandboxNode = z.infer<typeof sandboxNodeSchema>;

export const sandboxStateSchema = z.object({
  version: z.literal(1),
  clusterId: z.string(),
  repositoryId: z.string(),
  createdAt: z.iso.datetime(),
  postgres: z.object({ binDir: z.string(), major: z.number().int(), version: z.string() }),
  /** the OS user the servers run as */
  serverUser: z.string(),
  nodes: z.array(sandboxNodeSchema),
  writerPid: z.number().int().nullable(),
});
export type SandboxState = z.infer<typeof sandboxStateSchema>;

/** Where the sandbox keeps its nodes and its state, under the app's data folder. */
export function sandboxDir(dataDir: string): string {
  return join(dataDir, 'sandbox');
}

export function sandboxStatePath(dataDir: string): string {
  return join(sandboxDir(dataDir), 'sandbox.json');
}

export async function readSandboxState(dataDir: string): Promise<SandboxState | null> {
  const path = sandboxStatePath(dataDir);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  const parsed = sandboxStateSchema.safeParse(JSON.parse(text));
  if (!parsed.success) {
    throw new TidemarkError(
      'corrupt_object',
      `The sandbox state ${path} is damaged; stop its servers by hand if they run, then delete ${sandboxDir(dataDir)}.`,
    );
  }
  return parsed.data;
}

export async function writeSandboxState(dataDir: string, state: SandboxState): Promise<void> {
  const path = sandboxStatePath(dataDir);
  await mkdir(dirname(path), { recursive: true, mode: 0o755 });
  const tmp = `${path}.tmp-${process.pid}`;
  await writeFile(tmp, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  await rename(tmp, path);
}

export async function removeSandboxState(dataDir: string): Promise<void> {
  await rm(sandboxStatePath(dataDir), { force: true });
}
