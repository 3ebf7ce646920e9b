import { execFile } from 'node:child_process';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { folderKeys } from '../support/repo-manager-fixture.js';
import { tempDir } from '../support/temp-dir.js';

const projectRoot = fileURLToPath(new URL('../..', import.meta.url));
const passphraseEnv = 'TIDEMARK_SECRET_REPOSITORY_CLI_REPO_PASSPHRASE';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

let home: { path: string; cleanup: () => Promise<void> };
let zone: string;

function tidemark(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [join(projectRoot, 'bin', 'tidemark.cjs'), ...args],
      {
        cwd: projectRoot,
        env: {
          PATH: process.env.PATH ?? '',
          TIDEMARK_HOME: home.path,
          [passphraseEnv]: 'cli passphrase 123',
          ...env,
        },
        timeout: 60_000,
      },
      (error, stdout, stderr) =>
        resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

beforeAll(async () => {
  await new Promise<void>((resolve, reject) =>
    execFile(process.execPath, ['scripts/build-node.mjs'], { cwd: projectRoot }, (err) =>
      err ? reject(err) : resolve(),
    ),
  );
  home = await tempDir('tidemark-repo-cli-');
  zone = join(home.path, 'zone');
  await mkdir(zone);
});
afterAll(() => home?.cleanup());

describe('tidemark repo (the built CLI, a folder zone, the passphrase from the environment)', () => {
  it('init, status, lock, prune --dry-run, verify, and errors as one line with exit 1', async () => {
    const init = await tidemark([
      'repo',
      'init',
      'cli-repo',
      '--name',
      'CLI test',
      '--folder',
      zone,
      '--retention-days',
      '14',
    ]);
    expect(init.stderr).toBe('');
    expect(init.code).toBe(0);
    expect(init.stdout).toContain('Repository cli-repo created in 1 zone(s): local (folder)');
    expect(init.stdout).toContain(passphraseEnv);
    expect(await folderKeys(zone)).toEqual([
      'keys/keyring.json',
      'lock.json',
      'tidemark-repository.json',
    ]);
    // the passphrase came from the environment and was not written anywhere
    expect(await folderKeys(join(home.path, 'config'))).toEqual(['settings.json']);

    const list = await tidemark(['repo', 'list']);
    expect(list.stdout).toContain(
      'cli-repo  "CLI test"  1 zone(s): local (folder); retention 14 days',
    );

    const status = await tidemark(['repo', 'status', 'cli-repo']);
    expect(status.code).toBe(0);
    expect(status.stdout).toContain('Lock:      unlocked');
    expect(status.stdout).toMatch(/local \(folder, "local"\): reachable \(\d+ ms\)/);
    const json = JSON.parse((await tidemark(['repo', 'status', 'cli-repo', '--json'])).stdout);
    expect(json).toMatchObject({
      id: 'cli-repo',
      retentionDays: 14,
      counts: { clusters: 0, backups: 0 },
    });

    const lock = await tidemark(['repo', 'lock', 'cli-repo', '--reason', 'audit hold']);
    expect(lock.stdout).toMatch(/Repository cli-repo: LOCKED since .* \(audit hold\)/);
    const shorter = await tidemark(['repo', 'retention', 'cli-repo', '7']);
    expect(shorter.code).toBe(1);
    expect(shorter.stderr).toMatch(
      /^error: Repository "cli-repo" is locked .*audit hold.*shorten its retention window/,
    );

    const dry = await tidemark(['repo', 'prune', 'cli-repo', '--dry-run']);
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain('Retention window: 14 days');
    expect(dry.stdout).toContain('Would delete 0 object(s)');
    expect(dry.stdout).toContain('LOCKED: nothing is deleted');
    const prune = await tidemark(['repo', 'prune', 'cli-repo']);
    expect(prune.code).toBe(1);
    expect(prune.stderr).toMatch(/^error: .*locked/);

    const verify = await tidemark(['repo', 'verify', 'cli-repo']);
    expect(verify.code).toBe(0);
    expect(verify.stdout).toContain('Zone local (folder): OK');
    expect(verify.stdout).toContain('Result: OK.');
    const report = JSON.parse((await tidemark(['repo', 'verify', 'cli-repo', '--json'])).stdout);
    expect(report).toMatchObject({ repositoryId: 'cli-repo', ok: true, problems: 0 });

    const unlock = await tidemark(['repo', 'unlock', 'cli-repo']);
    expect(unlock.stdout).toContain('Repository cli-repo: unlocked');
  });

  it('wrong or missing passphrase, unknown repository: one clear error line, exit 1', async () => {
    const wrong = await tidemark(['repo', 'status', 'cli-repo'], {
      [passphraseEnv]: 'not the passphrase',
    });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr.trim().split('\n')).toHaveLength(1);
    expect(wrong.stderr).toMatch(/^error: The passphrase does not unlock repository cli-repo/);

    const missing = await tidemark(['repo', 'status', 'cli-repo'], { [passphraseEnv]: '' });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain(passphraseEnv);

    // a passphrase file is accepted only when others cannot read it
    const file = join(home.path, 'pass.txt');
    await writeFile(file, 'cli passphrase 123\n', { mode: 0o644 });
    await chmod(file, 0o644);
    const open = await tidemark(['repo', 'status', 'cli-repo', '--passphrase-file', file], {
      [passphraseEnv]: '',
    });
    expect(open.stderr).toContain(`chmod 600 ${file}`);
    await chmod(file, 0o600);
    expect(
      (
        await tidemark(['repo', 'status', 'cli-repo', '--passphrase-file', file], {
          [passphraseEnv]: '',
        })
      ).code,
    ).toBe(0);

    const unknown = await tidemark(['repo', 'verify', 'nope']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/^error: No repository "nope" is configured here/);
  });
});
