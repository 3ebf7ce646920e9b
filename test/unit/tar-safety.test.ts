import { execFile } from 'node:child_process';
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import tarStream from 'tar-stream';
import { describe, expect, it } from 'vitest';
import {
  checkTarEntry,
  safeRelativePath,
  symlinkLeavesFolder,
  tarEntryGuard,
  TarSafetyState,
} from '../../main/engine/restore/tar-safety.js';
import { tempDir } from '../support/temp-dir.js';

const exec = promisify(execFile);

type Entry = {
  name: string;
  type?: 'file' | 'directory' | 'symlink' | 'link' | 'fifo';
  linkname?: string;
  content?: string;
  pax?: Record<string, string>;
};

async function archive(entries: Entry[]): Promise<Buffer> {
  const pack = tarStream.pack();
  for (const { content, ...header } of entries) pack.entry(header, content ?? '');
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of pack) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Runs `bytes` through the guard in small uneven chunks; resolves with what came out. */
async function guard(bytes: Buffer, chunkSize = 700): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += chunkSize) chunks.push(bytes.subarray(i, i + chunkSize));
  const out: Buffer[] = [];
  await pipeline(
    Readable.from(chunks),
    tarEntryGuard('the test archive'),
    new Writable({
      write(chunk: Buffer, _e, cb) {
        out.push(chunk);
        cb();
      },
    }),
  );
  return Buffer.concat(out);
}

describe('tar entry safety', () => {
  it('normalizes paths and refuses absolute ones and ".."', () => {
    expect(safeRelativePath('./base/1/123')).toBe('base/1/123');
    expect(safeRelativePath('a//b/')).toBe('a/b');
    expect(safeRelativePath('/etc/passwd')).toBeNull();
    expect(safeRelativePath('a/../../b')).toBeNull();
  });

  it('refuses writing through a symlink, links leaving the folder, hard links and devices', () => {
    const state = new TarSafetyState();
    const entry = (
      path: string,
      type: 'file' | 'symlink' | 'hardlink' | 'other',
      linkTarget = '',
    ) => ({
      path,
      type,
      typeflag: { file: '0', symlink: '2', hardlink: '1', other: '3' }[type],
      linkTarget,
      size: 0,
    });
    expect(checkTarEntry(entry('pg_tblspc/16384', 'symlink', '../base'), state)).toBeNull();
    expect(checkTarEntry(entry('pg_tblspc/16384/PG_15/x', 'file'), state)?.reason).toMatch(
      /through the symlink/,
    );
    expect(checkTarEntry(entry('pg_wal', 'symlink', '/mnt/wal'), state)).toMatchObject({
      code: 'unsupported',
      reason: expect.stringContaining('points outside the data directory') as string,
    });
    expect(checkTarEntry(entry('a/b', 'symlink', '../../x'), state)?.code).toBe('unsupported');
    expect(checkTarEntry(entry('h', 'hardlink', 'PG_VERSION'), state)?.reason).toMatch(/hard link/);
    expect(checkTarEntry(entry('dev', 'other'), state)?.reason).toMatch(/device or FIFO/);
    expect(symlinkLeavesFolder('a/b/c', '../../x')).toBe(false);
    expect(symlinkLeavesFolder('a/b/c', '../../../x')).toBe(true);
  });

  it('passes a real archive through unchanged, long names and symlinks included', async () => {
    const dir = await tempDir();
    try {
      const src = join(dir.path, 'src');
      const deep = join(src, 'base', 'x'.repeat(120), 'y'.repeat(80));
      await mkdir(deep, { recursive: true });
      await writeFile(join(deep, 'z'.repeat(100)), Buffer.alloc(70_000, 3));
      await writeFile(join(src, 'PG_VERSION'), '15\n');
      await mkdir(join(src, 'pg_tblspc'));
      await symlink('../base', join(src, 'pg_tblspc', '16384'));
      for (const format of ['gnu', 'posix']) {
        const file = join(dir.path, `${format}.tar`);
        await exec('tar', ['-c', `--format=${format}`, '-f', file, '-C', src, '.']);
        const bytes = await readFile(file);
        expect((await guard(bytes)).equals(bytes)).toBe(true);
      }
    } finally {
      await dir.cleanup();
    }
  });

  it('stops at an unsafe entry before passing its bytes on', async () => {
    const bytes = await archive([
      { name: 'base/1/x', content: 'x' },
      { name: 'pg_tblspc/1', type: 'symlink', linkname: '../base' },
      { name: 'pg_tblspc/1/1/x', content: 'overwritten' },
    ]);
    await expect(guard(bytes)).rejects.toMatchObject({
      code: 'corrupt_object',
      message: expect.stringContaining('through the symlink "pg_tblspc/1"') as string,
    });
    await expect(
      guard(
        await archive([
          { name: 'ok', content: 'x' },
          { name: 'p', pax: { path: '../../escape' }, content: 'x' },
        ]),
      ),
    ).rejects.toThrow(/points outside/);
    await expect(guard(await archive([{ name: 'f', type: 'fifo' }]))).rejects.toThrow(
      /device or FIFO/,
    );
  });

  it('refuses a damaged header and a truncated archive', async () => {
    const bytes = await archive([
      { name: 'a', content: 'hello' },
      { name: 'b', content: 'world' },
    ]);
    const damaged = Buffer.from(bytes);
    const inSecondHeader = 512 * 2 + 10;
    damaged.writeUInt8(damaged.readUInt8(inSecondHeader) ^ 0xff, inSecondHeader);
    await expect(guard(damaged)).rejects.toThrow(/wrong checksum/);
    await expect(guard(bytes.subarray(0, 512 * 3))).rejects.toThrow(/truncated/);
    await expect(guard(bytes)).resolves.toHaveLength(bytes.length);
  });
});
