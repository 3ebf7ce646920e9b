import { spawnSync } from 'node:child_process';
import { readFile, readlink, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import tar from 'tar-stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TidemarkError } from '../../main/engine/errors.js';
import { extractTarInto } from '../../main/engine/restore/tar-extract.js';
import { tempDir } from '../support/temp-dir.js';

type Entry = { header: Parameters<tar.Pack['entry']>[0]; body?: Buffer | string };

async function tarBytes(entries: Entry[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const readable = pack as unknown as Readable;
  readable.on('data', (chunk: Buffer) => chunks.push(chunk));
  const ended = new Promise((resolve) => readable.on('end', resolve));
  for (const { header, body } of entries) {
    await new Promise<void>((resolve, reject) => pack.entry(header, body ?? '', (err) => (err ? reject(err) : resolve())));
  }
  pack.finalize();
  await ended;
  return Buffer.concat(chunks);
}

async function tarOf(entries: Entry[]): Promise<Readable> {
  const bytes = await tarBytes(entries);
  // in pieces, as a network stream would deliver it
  return Readable.from(Array.from({ length: Math.ceil(bytes.length / 65536) }, (_, i) => bytes.subarray(i * 65536, (i + 1) * 65536)));
}

describe('extracting a base-backup archive', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  beforeEach(async () => (dir = await tempDir()));
  afterEach(() => dir.cleanup());

  it('writes files and folders with their modes, including large files', async () => {
    const big = Buffer.alloc(3 * 1024 * 1024 + 17, 7);
    let progress = 0;
    const result = await extractTarInto(
      dir.path,
      await tarOf([
        { header: { name: 'backup_label', mode: 0o600 }, body: 'START WAL LOCATION: 0/2000028' },
        { header: { name: 'base/', type: 'directory', mode: 0o700 } },
        { header: { name: 'base/1/1259', mode: 0o600 }, body: big },
        // no folder entry for global/: created on the way
        { header: { name: 'global/pg_control', mode: 0o640 }, body: 'control' },
        { header: { name: 'pg_wal/', type: 'directory', mode: 0o700 } },
        { header: { name: 'current_logfiles.lnk', type: 'symlink', linkname: 'backup_label', mode: 0o777 } },
      ]),
      { onBytes: (b) => (progress = b) },
    );
    expect(result.files).toBe(3);
    expect(result.bytes).toBe(big.length + 'START WAL LOCATION: 0/2000028'.length + 'control'.length);
    expect(progress).toBe(result.bytes);
    expect((await readFile(join(dir.path, 'base/1/1259'))).equals(big)).toBe(true);
    expect((await stat(join(dir.path, 'global/pg_control'))).mode & 0o777).toBe(0o640);
    expect((await stat(join(dir.path, 'backup_label'))).mode & 0o777).toBe(0o600);
    expect((await stat(join(dir.path, 'pg_wal'))).isDirectory()).toBe(true);
    expect(await readlink(join(dir.path, 'current_logfiles.lnk'))).toBe('backup_label');
  });

  it.each([
    ['a path that climbs out', { name: '../escape', mode: 0o600 }],
    ['an absolute path', { name: '/tmp/escape', mode: 0o600 }],
    ['a link to outside', { name: 'server.crt', type: 'symlink' as const, linkname: '/etc/ssl/certs/x.pem' }],
    ['a link that climbs out', { name: 'a/b', type: 'symlink' as const, linkname: '../../x' }],
    ['a hard link', { name: 'h', type: 'link' as const, linkname: 'backup_label' }],
  ])('refuses %s', async (_what, header) => {
    const error = await extractTarInto(dir.path, await tarOf([{ header: { name: 'backup_label', mode: 0o600 }, body: 'x' }, { header }])).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TidemarkError);
    expect(await readdir(join(dir.path, '..'))).not.toContain('escape');
  });

  it('fails on a truncated archive', async () => {
    const full = await tarBytes([{ header: { name: 'f', mode: 0o600 }, body: Buffer.alloc(10_000, 1) }]);
    await expect(extractTarInto(dir.path, Readable.from([full.subarray(0, 3000)]))).rejects.toThrow();
  });

  it('gives files the archive\'s mode even under a umask that strips it (077 against 0640)', async () => {
    const archive = join(dir.path, 'group-readable.tar');
    await writeFile(archive, await tarBytes([{ header: { name: 'global/pg_control', mode: 0o640 }, body: 'control' }]));
    const into = join(dir.path, 'under-077');
    const script = `const { extractTarInto } = await import(${JSON.stringify(new URL('../../main/engine/restore/tar-extract.ts', import.meta.url).pathname)});
      const { createReadStream } = await import('node:fs');
      await (await import('node:fs/promises')).mkdir(${JSON.stringify(into)});
      await extractTarInto(${JSON.stringify(into)}, createReadStream(${JSON.stringify(archive)}));`;
    const scriptFile = join(dir.path, 'extract.mjs');
    await writeFile(scriptFile, script);
    const run = spawnSync('sh', ['-c', `umask 077 && exec "${process.execPath}" --import tsx "${scriptFile}"`], { encoding: 'utf8' });
    expect(run.status, run.stderr).toBe(0);
    expect((await stat(join(into, 'global/pg_control'))).mode & 0o777).toBe(0o640);
  });
});
