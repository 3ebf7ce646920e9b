import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A fresh directory under the OS temp dir, open to the postgres user, removed by `cleanup`. */
export async function tempDir(prefix = 'tidemark-test-'): Promise<{ path: string; cleanup: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  await chmod(path, 0o777);
  return { path, cleanup: () => rm(path, { recursive: true, force: true }) };
}
