import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RestoreRecordStore, type RestoreRecord } from '../../main/engine/restore/restore-record.js';
import { tempDir } from '../support/temp-dir.js';

/* Restore records across processes: a restore whose process died is reported as interrupted,
   with where its nodes were being created; one still running is left alone. */

const record = (id: string): RestoreRecord => ({
  id,
  clusterId: 'prod',
  repositoryId: 'r1',
  point: { name: 'p1', createdAt: '2026-11-24T00:00:00.000Z', label: null },
  provisioner: 'local',
  jobId: id,
  state: 'running',
  startedAt: new Date().toISOString(),
  endedAt: null,
  error: null,
  connectionString: null,
  nodes: [],
  registeredClusterId: null,
  checklist: [],
  targets: [
    { nodeId: 'n1', location: '/srv/restores/prod/n1' },
    { nodeId: 'n2', location: 'postgres@db2:/srv/restores/prod/n2' },
  ],
});

describe('RestoreRecordStore', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  beforeAll(async () => (dir = await tempDir('tidemark-restore-records-')));
  afterAll(() => dir.cleanup());

  it('keeps a running restore running while its process holds the lock', async () => {
    const store = new RestoreRecordStore(join(dir.path, 'live'));
    const lock = await store.lock('live-1');
    await store.save(record('live-1'));
    expect((await store.get('live-1'))?.state).toBe('running');
    expect((await store.list()).map((r) => r.state)).toEqual(['running']);
    await expect(store.lock('live-1')).rejects.toMatchObject({ code: 'conflict' });
    await lock.release();
  });

  it('reports a restore whose process was killed as interrupted, naming where its nodes were', async () => {
    const records = join(dir.path, 'killed');
    const script = join(dir.path, 'runner.mjs');
    await writeFile(
      script,
      `const { RestoreRecordStore } = await import(${JSON.stringify(new URL('../../main/engine/restore/restore-record.ts', import.meta.url).pathname)});
       const store = new RestoreRecordStore(${JSON.stringify(records)});
       await store.lock('dead-1');
       await store.save(${JSON.stringify(record('dead-1'))});
       console.log('ready');
       setInterval(() => undefined, 1000);`,
    );
    const child = spawn(process.execPath, ['--import', 'tsx', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      child.stdout!.on('data', (c: Buffer) => c.toString().includes('ready') && resolve());
      child.once('exit', (code) => reject(new Error(`the runner exited early (${code})`)));
    });
    const store = new RestoreRecordStore(records);
    expect((await store.get('dead-1'))?.state).toBe('running');

    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    const settled = (await store.get('dead-1'))!;
    expect(settled.state).toBe('interrupted');
    expect(settled.error).toContain('n1 at /srv/restores/prod/n1');
    expect(settled.error).toContain('n2 at postgres@db2:/srv/restores/prod/n2');
    // saved as such, and the dead process's lock is gone
    expect(JSON.parse(await readFile(join(records, 'dead-1.json'), 'utf8')).state).toBe('interrupted');
    expect(existsSync(join(records, 'dead-1.lock'))).toBe(false);
  });

  it('a running record without any lock (a crash before it was taken) is interrupted too', async () => {
    const store = new RestoreRecordStore(join(dir.path, 'unlocked'));
    await store.save(record('orphan-1'));
    expect((await store.list()).map((r) => r.state)).toEqual(['interrupted']);
  });
});
