import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, readdir, readlink, stat, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TidemarkError } from '../../main/engine/errors.js';
import { extractArchiveOffThread } from '../../main/engine/restore/archive-extract.js';
import { startWorker } from '../../main/engine/threads/worker-entry.js';
import { tempDir } from '../support/temp-dir.js';

/* Unpacking a stored base-backup archive on a worker thread (the sources' entry, through tsx):
   real tar archives made by the system's tar, compressed by the reference lz4 and zstd tools. */

const exec = promisify(execFile);
const pieces = (data: Buffer, size: number): Readable => Readable.from(Array.from({ length: Math.ceil(data.length / size) }, (_, i) => Buffer.from(data.subarray(i * size, (i + 1) * size))));

describe('extractArchiveOffThread', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  let archive: Buffer;
  let fileBytes = 0;

  beforeAll(async () => {
    dir = await tempDir('tidemark-archive-extract-');
    const source = join(dir.path, 'source');
    await mkdir(join(source, 'base', '1'), { recursive: true });
    await mkdir(join(source, 'global'));
    const files: [string, Buffer, number][] = [
      ['backup_label', Buffer.from('START WAL LOCATION: 0/2000028\n'), 0o600],
      ['base/1/16384', Buffer.concat([randomBytes(3 << 20), Buffer.alloc(5 << 20, 3)]), 0o600],
      ['base/1/16384_fsm', Buffer.alloc(24_576), 0o600],
      ['global/pg_control', randomBytes(8192), 0o640],
    ];
    for (const [name, body, mode] of files) {
      await writeFile(join(source, name), body, { mode });
      fileBytes += body.length;
    }
    await symlink('backup_label', join(source, 'label.lnk'));
    archive = execFileSync('tar', ['-c', '-f', '-', '-C', source, '.'], { maxBuffer: 64 << 20 });
  });
  afterAll(() => dir.cleanup());

  it('runs on a worker thread built from the sources, and a missing entry is no worker', async () => {
    const worker = startWorker('archive-extract-worker', new URL('../../main/engine/restore/archive-extract.ts', import.meta.url).href);
    expect(worker).not.toBeNull();
    await worker!.terminate();
    expect(startWorker('no-such-worker', new URL('../../main/engine/restore/archive-extract.ts', import.meta.url).href)).toBeNull();
  });

  it('unpacks lz4, zstd and plain archives exactly as tar does, with modes, links and progress', async () => {
    const expected = join(dir.path, 'by-tar');
    await mkdir(expected);
    execFileSync('tar', ['-x', '-f', '-', '-C', expected], { input: archive });
    const stored = {
      lz4: execFileSync('lz4', ['-c', '-q', '-BD', '-B5'], { input: archive, maxBuffer: 64 << 20 }),
      zstd: execFileSync('zstd', ['-c', '-q', '-3'], { input: archive, maxBuffer: 64 << 20 }),
      none: archive,
    } as const;
    for (const [compression, bytes] of Object.entries(stored) as [keyof typeof stored, Buffer][]) {
      const into = join(dir.path, `by-tidemark-${compression}`);
      await mkdir(into);
      const progress: number[] = [];
      const result = await extractArchiveOffThread(into, pieces(bytes, 100_000), { compression, onBytes: (b) => progress.push(b) });
      expect(result).toEqual({ files: 4, bytes: fileBytes });
      expect(progress.at(-1)).toBe(fileBytes);
      for (const name of ['backup_label', 'base/1/16384', 'base/1/16384_fsm', 'global/pg_control']) {
        expect((await readFile(join(into, name))).equals(await readFile(join(expected, name))), `${compression}: ${name}`).toBe(true);
        expect((await stat(join(into, name))).mode & 0o777).toBe((await stat(join(expected, name))).mode & 0o777);
      }
      expect(await readlink(join(into, 'label.lnk'))).toBe('backup_label');
    }
  });

  it('hands the files to the server user when asked (running as root)', async (ctx) => {
    if (process.getuid?.() !== 0) ctx.skip('needs root to give files away');
    const { uid, gid } = await stat('/var/lib/postgresql').catch(() => ({ uid: 0, gid: 0 }));
    if (uid === 0) ctx.skip('no postgres user folder to take an owner from');
    const into = join(dir.path, 'owned');
    await mkdir(into);
    await extractArchiveOffThread(into, pieces(archive, 65_536), { compression: 'none', owner: { uid, gid } });
    expect((await stat(join(into, 'base/1/16384'))).uid).toBe(uid);
    expect((await stat(join(into, 'base'))).uid).toBe(uid);
  });

  it('fails with corrupt_object on damaged compressed data and on an entry outside the folder', async () => {
    const lz4 = execFileSync('lz4', ['-c', '-q'], { input: archive, maxBuffer: 64 << 20 });
    const truncated = join(dir.path, 'truncated');
    await mkdir(truncated);
    await expect(extractArchiveOffThread(truncated, pieces(lz4.subarray(0, lz4.length - 5000), 65_536), { compression: 'lz4' })).rejects.toMatchObject({ code: 'corrupt_object' });

    const escaping = join(dir.path, 'escaping');
    await mkdir(escaping);
    const outside = join(dir.path, 'outside-source');
    await mkdir(outside);
    await writeFile(join(outside, 'evil'), 'x');
    const evil = execFileSync('tar', ['-c', '-f', '-', '-P', '--transform', 's,^.*evil$,../escaped,', join(outside, 'evil')]);
    await expect(extractArchiveOffThread(escaping, pieces(evil, 512), { compression: 'none' })).rejects.toMatchObject({ code: 'corrupt_object' });
    expect(await readdir(dir.path)).not.toContain('escaped');
  });

  it('reports the source\'s own failure (a chunk that does not authenticate), and a cancel, without hanging', async () => {
    const failing = new Readable({ read() {} });
    failing.push(Buffer.from(archive.subarray(0, 1 << 20)));
    setTimeout(() => failing.destroy(new TidemarkError('corrupt_object', 'Object k failed authentication at chunk 1.')), 50);
    const into = join(dir.path, 'source-fails');
    await mkdir(into);
    await expect(extractArchiveOffThread(into, failing, { compression: 'none' })).rejects.toMatchObject({ code: 'corrupt_object', message: expect.stringContaining('chunk 1') });

    const endless = new Readable({ read() {} });
    endless.push(Buffer.from(archive.subarray(0, 1 << 20)));
    const controller = new AbortController();
    const cancelled = join(dir.path, 'cancelled');
    await mkdir(cancelled);
    setTimeout(() => controller.abort(), 100);
    await expect(extractArchiveOffThread(cancelled, endless, { compression: 'none', signal: controller.signal })).rejects.toMatchObject({ code: 'cancelled' });
  });

  it('reports a full disk as disk_full (2 MiB tmpfs)', async (ctx) => {
    const small = join(dir.path, 'small');
    await mkdir(small);
    const problem = await exec('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', small]).then(() => null, (err: Error) => err.message);
    if (problem) ctx.skip(`cannot mount a tmpfs here: ${problem}`);
    try {
      const error = await extractArchiveOffThread(small, pieces(archive, 65_536), { compression: 'none' }).catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'disk_full' });
      expect((error as TidemarkError).message).toContain(small);
    } finally {
      await exec('umount', [small]);
    }
  });
});
