import { execFile } from 'node:child_process';
import { copyFile, mkdir, readdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../support/temp-dir.js';

const exec = promisify(execFile);
const root = resolve(import.meta.dirname, '..', '..');
const bin = join(root, 'bin', 'tidemark.cjs');

/** Whether out/cli/cli.cjs is missing or older than any source file it is built from. */
async function bundleIsStale(): Promise<boolean> {
  let built: number;
  try {
    built = (await stat(join(root, 'out', 'cli', 'cli.cjs'))).mtimeMs;
  } catch {
    return true;
  }
  for (const entry of await readdir(join(root, 'main'), { recursive: true, withFileTypes: true })) {
    if (entry.isFile() && (await stat(join(entry.parentPath, entry.name))).mtimeMs > built)
      return true;
  }
  return false;
}

async function tidemark(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await exec(process.execPath, [bin, ...args], {
      env: { ...process.env, ...env },
      timeout: 15_000,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

describe('tidemark CLI', () => {
  let home: { path: string; cleanup: () => Promise<void> };
  beforeAll(async () => {
    // `npm test` has just built; rebuilding then would race the e2e tests that run the bundle.
    if (await bundleIsStale()) {
      await exec(process.execPath, [join(root, 'scripts', 'build-node.mjs')], {
        cwd: root,
        timeout: 60_000,
      });
    }
    home = await tempDir();
  }, 90_000);
  afterAll(() => home.cleanup());

  it('--help lists the commands and global options', async () => {
    const { code, stdout } = await tidemark(['--help']);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^Usage: tidemark /);
    expect(stdout).toMatch(/^\s+web \[options\]\s+serve the Tidemark UI/m);
    expect(stdout).toContain('--debug');
    expect(stdout).toContain('--version');
    const web = await tidemark(['web', '--help']);
    expect(web.stdout).toContain('--port <n>');
    expect(web.stdout).toContain('--open');
  });

  it('--version prints the package version', async () => {
    const { version } = (await import('../../package.json', { with: { type: 'json' } })).default;
    const { code, stdout } = await tidemark(['--version']);
    expect(code).toBe(0);
    expect(stdout.trim()).toBe(version);
  });

  it('prints one error line and exits 1, with the stack only under --debug', async () => {
    const env = { TIDEMARK_HOME: home.path, TIDEMARK_RENDERER_DIR: join(home.path, 'no-renderer') };
    const plain = await tidemark(['web', '--port', '0'], env);
    expect(plain.code).toBe(1);
    expect(plain.stderr.trim()).toMatch(
      /^error: The web UI is not built \(.*index\.html is missing\); run "npm run build" first\.$/,
    );
    const debug = await tidemark(['--debug', 'web', '--port', '0'], env);
    expect(debug.code).toBe(1);
    expect(debug.stderr).toMatch(/^error: The web UI is not built/);
    expect(debug.stderr).toMatch(/\n\s+at /);
  });

  it('rejects bad arguments with an error line', async () => {
    const bad = await tidemark(['web', '--port', 'eighty']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^error: option '--port <n>' argument 'eighty' is invalid/);
    const unknown = await tidemark(['frobnicate']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/^error: unknown command 'frobnicate'/);
  });

  it('bin/tidemark.cjs says to build when the CLI bundle is missing', async () => {
    const copy = join(home.path, 'unbuilt', 'bin');
    await mkdir(copy, { recursive: true });
    await copyFile(bin, join(copy, 'tidemark.cjs'));
    const result = await exec(process.execPath, [join(copy, 'tidemark.cjs'), '--help']).catch(
      (err: { code: number; stderr: string }) => err,
    );
    expect(result).toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/^error: Tidemark is not built yet; run "npm run build"/),
    });
  });
});
