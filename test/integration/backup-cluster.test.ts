import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BackupService, type BackupEventMap } from '../../main/engine/backup/backup-service.js';
import type { ClusterBackupResult } from '../../main/engine/backup/cluster-backup.js';
import { clusterConfigSchema, clusterSecretName } from '../../main/engine/cluster/cluster-config.js';
import { JobManager } from '../../main/engine/jobs/job-manager.js';
import { MemoryJobStore } from '../../main/engine/jobs/job-store.js';
import type { Job } from '../../main/engine/jobs/job-types.js';
import { EnvFileSecretStore } from '../../main/engine/secrets/env-file-secret-store.js';
import { JsonFileSettingsStore } from '../../main/engine/settings/settings-store.js';
import { createTestRepository, type TestRepository } from '../support/backup-fixtures.js';
import { CitusTestCluster } from '../support/citus-cluster.js';
import { postgresAvailable, testPassword } from '../support/postgres.js';
import { tempDir } from '../support/temp-dir.js';

describe.skipIf(!postgresAvailable())('cluster backup of the Citus fixture', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  let cluster: CitusTestCluster;
  let repo: TestRepository;
  let jobs: JobManager;
  let service: BackupService;
  const snapshots: Job[] = [];
  const completed: BackupEventMap['backupCompleted'][0][] = [];

  beforeAll(async () => {
    dir = await tempDir('tidemark-clusterbackup-');
    cluster = await CitusTestCluster.create({ dir: join(dir.path, 'cluster') });
    await cluster.coordinator.pgbench(['-i', '-s', '1', '-q']);
    repo = await createTestRepository(join(dir.path, 'repo'));
    const config = clusterConfigSchema.parse({
      id: 'citus',
      name: 'Citus fixture',
      coordinator: { host: cluster.coordinator.host, port: cluster.coordinator.port, user: 'postgres', sslmode: 'disable' },
      repositoryId: 'repo',
    });
    const configDir = join(dir.path, 'config');
    await mkdir(configDir, { recursive: true });
    await writeFile(join(configDir, 'settings.json'), JSON.stringify({ clusters: [config] }));
    const secrets = new EnvFileSecretStore(join(configDir, 'secrets'), {});
    await secrets.set(clusterSecretName('citus', 'password'), testPassword);
    jobs = new JobManager({ store: new MemoryJobStore(), throttleMs: 0 });
    await jobs.init();
    jobs.on('changed', (job) => snapshots.push(job));
    service = new BackupService({
      settings: new JsonFileSettingsStore(join(configDir, 'settings.json')),
      secrets,
      repositories: { open: async () => ({ repository: repo.repository, catalog: repo.catalog }) },
      jobs,
      logger: pino({ level: 'silent' }),
      archiver: { flushIntervalMs: 500, reconnectInitialMs: 200 },
    });
    service.on('backupCompleted', (event) => completed.push(event));
  });

  afterAll(async () => {
    await service?.close();
    await jobs?.close();
    await repo?.close();
    await cluster?.stop();
    await dir?.cleanup();
  });

  it('backs up the coordinator and both workers in one job, two at a time, with a part per node', async () => {
    const job = service.backupCluster('citus');
    expect(() => service.backupCluster('citus')).toThrow(/already running/);
    const done = await jobs.wait(job.id);
    expect(done.state, done.error?.message).toBe('succeeded');
    const result = done.result as ClusterBackupResult;
    expect(result.backups).toHaveLength(3);

    const ids = await Promise.all(cluster.nodes.map(async (node) => `n${await cluster.nodeIdOf(node)}`));
    const parts = Object.entries(done.parts);
    expect(parts).toHaveLength(3);
    for (const [name, part] of parts) {
      expect(part.state, name).toBe('done');
      expect(part.progress?.done, name).toBeGreaterThan(0);
      expect(part.message).toMatch(/^backup \d{8}t\d{6}z-/);
    }
    expect(parts.map(([name]) => name.split(' ')[0]).sort()).toEqual([...ids].sort());
    expect(parts.map(([name]) => name).find((n) => n.startsWith(ids[0]!))).toBe(`${ids[0]} coordinator ${cluster.coordinator.host}:${cluster.coordinator.port}`);
    // bounded concurrency: never more than two nodes at once
    const mine = snapshots.filter((s) => s.id === job.id);
    expect(Math.max(...mine.map((s) => Object.values(s.parts).filter((p) => p.state === 'running').length))).toBe(2);
    expect(done.progress?.done).toBeGreaterThan(0);

    for (const [index, node] of cluster.nodes.entries()) {
      const record = repo.catalog.node('citus', ids[index]!)!;
      expect(record.record.role).toBe(index === 0 ? 'coordinator' : 'worker');
      expect(record.record.port).toBe(node.port);
      expect(record.backups).toHaveLength(1);
    }
    expect(completed.map((c) => c.nodeId).sort()).toEqual([...ids].sort());
    // the streams the backups started keep running
    expect(service.walStatus('citus').map((s) => s.state)).toEqual(['streaming', 'streaming', 'streaming']);
    const listed = await service.listBackups('citus');
    expect(listed.map((n) => [n.nodeId, n.backups.length])).toEqual(ids.map((id) => [id, 1]).sort((a, b) => String(a[0]).localeCompare(String(b[0]), 'en', { numeric: true })));
  });

  it('fails naming the node that could not be backed up; the others complete and stay complete', async () => {
    const ids = await Promise.all(cluster.nodes.map(async (node) => `n${await cluster.nodeIdOf(node)}`));
    const down = cluster.workers[1]!;
    const downId = ids[2]!;
    await service.stopWalStreams('citus');
    await down.stop();
    try {
      const job = service.backupCluster('citus');
      const done = await jobs.wait(job.id);
      expect(done.state).toBe('failed');
      expect(done.error?.message).toContain(`Cluster "citus" node ${downId} (worker ${down.host}:${down.port})`);
      expect(done.error?.message).toMatch(/completed and stay complete/);
      expect(done.parts[`${downId} worker ${down.host}:${down.port}`]).toMatchObject({ state: 'failed' });
      expect(repo.catalog.node('citus', ids[0]!)!.backups).toHaveLength(2);
      expect(repo.catalog.node('citus', ids[1]!)!.backups).toHaveLength(2);
      expect(repo.catalog.node('citus', downId)!.backups).toHaveLength(1);
    } finally {
      await down.start();
    }
    const stopped = await service.stopWalStreams('citus');
    expect(stopped.every((s) => s.state === 'stopped' || s.state === 'failed')).toBe(true);
  });
});
