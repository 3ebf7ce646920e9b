import { existsSync } from 'node:fs';
import { mkdir, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalProvisioner } from '../../main/engine/restore/local-provisioner.js';
import type { ProvisionRequest } from '../../main/engine/restore/provisioner.js';
import { postgresAvailable } from '../support/postgres.js';
import { tempDir } from '../support/temp-dir.js';

describe.skipIf(!postgresAvailable())('local provisioner checks', () => {
  let root: { path: string; cleanup: () => Promise<void> };
  let busy: Server;
  let busyPort: number;

  beforeAll(async () => {
    root = await tempDir('tidemark-prov-');
    busy = createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    busyPort = (busy.address() as { port: number }).port;
  });
  afterAll(async () => {
    busy.close();
    await root.cleanup();
  });

  const request = (overrides: Partial<ProvisionRequest>): ProvisionRequest => ({
    majorVersion: 15,
    sharedPreloadLibraries: [],
    extensions: ['plpgsql', 'dblink'],
    nodes: [{ nodeId: 'n1', baseDir: join(root.path, 'ok', 'n1'), port: 0, tablespaces: {} }],
    bytesNeeded: { n1: 1024 * 1024 },
    ...overrides,
  });

  it('finds PostgreSQL 15 and its contrib extensions: no problems', async () => {
    expect(await new LocalProvisioner().check(request({}))).toEqual([]);
  });

  it('names a missing library or extension and what to install', async () => {
    const problems = await new LocalProvisioner().check(request({ sharedPreloadLibraries: ['citus', 'pg_stat_statements'], extensions: ['citus'] }));
    const text = problems.map((p) => p.message).join('\n');
    expect(text).toMatch(/library "citus".*not installed for PostgreSQL 15/);
    expect(text).toMatch(/Citus package built for PostgreSQL 15/);
    expect(text).toMatch(/extension "citus"/);
    expect(text).not.toContain('pg_stat_statements');
  });

  it('refuses a major version that is not installed, listing where it looked', async () => {
    const problems = await new LocalProvisioner().check(request({ majorVersion: 11 }));
    expect(problems).toHaveLength(1);
    expect(problems[0]?.message).toMatch(/No PostgreSQL 11 server binaries.*\/usr\/lib\/postgresql\/15\/bin \(PostgreSQL 15/);
  });

  it('refuses a non-empty folder, a port in use, impossible disk needs and a too deep socket path', async () => {
    const full = join(root.path, 'full');
    await mkdir(full, { recursive: true });
    await writeFile(join(full, 'keep.txt'), 'x');
    const deep = join(root.path, 'd'.repeat(90), 'n3');
    const problems = await new LocalProvisioner().check(
      request({
        nodes: [
          { nodeId: 'n1', baseDir: full, port: 0, tablespaces: {} },
          { nodeId: 'n2', baseDir: join(root.path, 'n2'), port: busyPort, tablespaces: { 16385: full } },
          { nodeId: 'n3', baseDir: deep, port: 0, tablespaces: {} },
        ],
        bytesNeeded: { n1: 0, n2: 1e18, n3: 0 },
      }),
    );
    const byNode = (id: string) => problems.filter((p) => p.nodeId === id).map((p) => p.message).join('\n');
    expect(byNode('n1')).toContain('is not empty');
    expect(byNode('n2')).toContain(`Port ${busyPort}`);
    expect(byNode('n2')).toContain('is not empty');
    // all three folders are on one disk: their needs add up
    expect(problems.filter((p) => p.nodeId === null).map((p) => p.message).join('\n')).toMatch(/has [\d.]+ [kMGT]?B free, but nodes n1, n2, n3 need/);
    expect(byNode('n3')).toContain('socket path');
  });

  it('creates a node folder the server user owns, mode 0700, and removes it on destroy', async () => {
    const provisioner = new LocalProvisioner();
    const spec = { nodeId: 'n1', baseDir: join(root.path, 'created', 'n1'), port: 0, tablespaces: { 16400: join(root.path, 'created-ts') } };
    expect(await provisioner.check(request({ nodes: [spec] }))).toEqual([]);
    const node = await provisioner.createNode(spec);
    expect(node.port).toBeGreaterThan(0);
    expect((await stat(node.dataDir)).mode & 0o777).toBe(0o700);
    if (process.getuid?.() === 0) expect((await stat(node.dataDir)).uid).not.toBe(0);
    await node.putSpoolFile('000000010000000000000001', Buffer.from('wal'));
    expect(await node.listSpool()).toEqual(['000000010000000000000001']);
    await node.destroy();
    expect(existsSync(spec.baseDir)).toBe(false);
    expect(existsSync(join(root.path, 'created-ts'))).toBe(false);
    await provisioner.close();
  });
});
