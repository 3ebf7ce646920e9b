import { spawn } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WalNodeOverview } from '../../main/engine/backup/wal-overview.js';
import { createHeadlessEngine } from '../../main/cli/headless-engine.js';
import { CitusTestCluster } from '../support/citus-cluster.js';
import { postgresAvailable, testPassword } from '../support/postgres.js';
import { tempDir } from '../support/temp-dir.js';
import { waitFor } from '../support/backup-fixtures.js';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const passphrase = 'cli backup test passphrase';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

describe.skipIf(!postgresAvailable())('tidemark backup / wal on the command line', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  let cluster: CitusTestCluster;
  let env: NodeJS.ProcessEnv;

  /** Runs the CLI as one node process (tsx as its loader), as `tidemark` runs. */
  function cli(args: string[]): { done: Promise<Run>; output: () => string; signal: (s: NodeJS.Signals) => void } {
    const child = spawn(process.execPath, ['--import', 'tsx', 'main/cli/index.ts', ...args], { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const done = new Promise<Run>((resolve) => child.once('exit', (code) => resolve({ code, stdout, stderr })));
    return { done, output: () => stdout + stderr, signal: (s) => child.kill(s) };
  }

  beforeAll(async () => {
    dir = await tempDir('tidemark-backupcli-');
    cluster = await CitusTestCluster.create({ dir: join(dir.path, 'cluster'), workers: 1 });
    env = {
      ...process.env,
      TIDEMARK_HOME: join(dir.path, 'home'),
      TIDEMARK_SECRET_REPOSITORY_REPO_PASSPHRASE: passphrase,
      TIDEMARK_SECRET_CLUSTER_CITUS_PASSWORD: testPassword,
    };
    const zone = join(dir.path, 'zone');
    await mkdir(zone);
    const engine = await createHeadlessEngine({ env });
    try {
      await engine.repositories.create({ id: 'repo', name: 'repo', zones: [{ kind: 'folder', id: 'local', name: 'local', path: zone }] }, { passphrase, storePassphrase: false });
      await engine.clusters.add({
        id: 'citus',
        name: 'Citus fixture',
        coordinator: { host: cluster.coordinator.host, port: cluster.coordinator.port, user: 'postgres', sslmode: 'disable' },
        repositoryId: 'repo',
        force: true,
      });
    } finally {
      await engine.close();
    }
  });

  afterAll(async () => {
    await cluster?.stop();
    await dir?.cleanup();
  });

  it('backs up the cluster with progress lines, streams WAL in the foreground, shows who streams, and fails loudly', async () => {
    const backup = await cli(['backup', 'citus', '--compression', 'zstd']).done;
    expect(backup.code, backup.stdout + backup.stderr).toBe(0);
    expect(backup.stdout).toMatch(/Back up cluster citus: backing up 2 nodes/);
    expect(backup.stdout).toMatch(/n\d+ coordinator 127\.0\.0\.1:\d+: /);
    expect(backup.stdout).toMatch(/n\d+: backup \d{8}t\d{6}z-[0-9a-f]{4}, .* \(zstd\), WAL /);
    expect(backup.stdout).toContain('Cluster citus: 2 node backup(s) complete.');

    const stream = cli(['wal', 'stream', 'citus']);
    await waitFor(() => (stream.output().match(/: streaming/g) ?? []).length >= 2, 60_000, 'both streams');
    const status = await cli(['wal', 'status', 'citus', '--json']).done;
    expect(status.code, status.stderr).toBe(0);
    const overview = JSON.parse(status.stdout) as WalNodeOverview[];
    expect(overview).toHaveLength(2);
    for (const node of overview) {
      expect(node.slotOnServer).toMatchObject({ exists: true, active: true });
      expect(node.slotOnServer?.holder?.applicationName).toBe(`tidemark-wal citus/${node.nodeId}`);
      expect(node.archived).not.toBeNull();
    }
    stream.signal('SIGTERM');
    const streamed = await stream.done;
    expect(streamed.code, streamed.stdout + streamed.stderr).toBe(0);
    expect(streamed.stdout).toMatch(/SIGTERM: storing what was received and stopping/);
    expect(streamed.stdout).toMatch(/: stopped timeline 1, stored up to/);

    const text = await cli(['wal', 'status', 'citus']).done;
    // nobody streams now: the slots hold the WAL, and the command says so with a failing exit code
    expect(text.code).toBe(1);
    expect(text.stdout).toContain('NOT streamed by anyone');
    expect(text.stdout).toMatch(/repository: WAL archived up to [0-9A-F]+\/[0-9A-F]+ on timeline 1/);

    const missing = await cli(['backup', 'nosuch']).done;
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/error: .*No cluster "nosuch"/);
  });
});
