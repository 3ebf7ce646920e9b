import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdir, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FolderZone } from '../../main/engine/repository/zones/folder-zone.js';
import { tempDir } from '../support/temp-dir.js';
import {
  getBytes,
  keysOf,
  sha256,
  spawnZoneWriter,
  waitForLine,
} from '../support/zone-test-helpers.js';

const MiB = 1024 * 1024;

describe('folder zone writer killed with SIGKILL', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  beforeAll(async () => {
    dir = await tempDir('tidemark-zone-kill-');
  });
  afterAll(async () => {
    await dir?.cleanup();
  });

  it('leaves no visible object, only a temp file that sweepTemp removes; the next put succeeds', async () => {
    const root = join(dir.path, 'zone');
    await mkdir(root);
    const key = 'base/b1/data';
    const child = spawnZoneWriter(root, key, 64 * MiB);
    // the child has produced at least 3 MB (its stream buffers up to 1 MiB ahead of the put)
    await waitForLine(child, /^written ([3-9]\d{6}|\d{8,})$/);
    const exited = once(child, 'exit');
    child.kill('SIGKILL');
    const [, signal] = await exited;
    expect(signal).toBe('SIGKILL');

    const zone = new FolderZone({ id: 'local', path: root });
    expect(await zone.stat(key)).toBeNull();
    expect(await keysOf(zone, '')).toEqual([]);
    const debris = await readdir(join(root, 'base', 'b1'));
    expect(debris).toHaveLength(1);
    expect(debris[0]).toMatch(/^\.tmp-/);
    const partial = (await stat(join(root, 'base', 'b1', debris[0]!))).size;
    expect(partial).toBeGreaterThanOrEqual(MiB);
    expect(partial).toBeLessThan(64 * MiB);

    // a temp file younger than the margin may belong to a put in progress: kept
    expect((await zone.sweepTemp(60_000)).removed).toEqual([]);
    expect((await zone.sweepTemp(0)).removed).toEqual([`base/b1/${debris[0]}`]);
    expect(await readdir(join(root, 'base', 'b1'))).toEqual([]);

    const data = randomBytes(2 * MiB);
    await zone.put(key, data);
    expect(sha256(await getBytes(zone, key))).toBe(sha256(data));
    expect(await keysOf(zone, '')).toEqual([key]);
  });
});
