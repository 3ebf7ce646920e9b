import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, type Engine } from '../../main/engine/engine.js';
import { createLogger } from '../../main/engine/log/logger.js';
import { LocalProvisioner } from '../../main/engine/restore/local-provisioner.js';
import {
  findPostgresInstall,
  missingLibraries,
} from '../../main/engine/restore/postgres-install.js';
import { resolveServerUser } from '../../main/engine/restore/server-user.js';
import { Sandbox } from '../../main/engine/sandbox/sandbox.js';
import { connectSandboxNode, initSandboxNode } from '../../main/engine/sandbox/sandbox-node.js';
import { sandboxDir, writeSandboxState } from '../../main/engine/sandbox/sandbox-state.js';
import { MemorySecretStore } from '../../main/engine/secrets/secret-store.js';
import { JsonFileSettingsStore } from '../../main/engine/settings/settings-store.js';
import { pgBinDir, postgresAvailable } from '../support/postgres.js';
import { tempDir } from '../support/temp-dir.js';

const install = postgresAvailable() ? (await findPostgresInstall(15, pgBinDir())).install : null;
const citusInstalled =
  install !== null && (await missingLibraries(install, ['citus'])).length === 0;

describe.skipIf(!install)('sandbox', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let engine: Engine;

  beforeAll(async () => {
    dir = await tempDir('tidemark-sandbox-');
    const paths = {
      config: join(dir.path, 'config'),
      data: join(dir.path, 'data'),
      logs: join(dir.path, 'logs'),
    };
    engine = await createEngine({
      paths,
      settings: new JsonFileSettingsStore(join(paths.config, 'settings.json')),
      secrets: new MemorySecretStore(),
      logger: createLogger(),
      shell: 'web',
      version: 'test',
    });
  });

  afterAll(async () => {
    await engine?.close();
    await dir?.cleanup();
  });

  it.skipIf(citusInstalled)(
    'says exactly what is missing without Citus, and creates nothing',
    async () => {
      const root = install!.binDir.replace(/\/bin$/, '');
      const error = await new Sandbox(engine).up({ binDir: install!.binDir }).then(
        () => expect.fail('the sandbox must not come up without Citus'),
        (err: unknown) => err as { code: string; message: string },
      );
      expect(error.code).toBe('unsupported');
      expect(error.message).toContain(
        `Citus is not installed for PostgreSQL 15 at ${root}: install the citus package for PostgreSQL 15`,
      );
      expect(error.message).toContain(
        `Missing: ${join(install!.pkgLibDir, 'citus.so')} and ${join(install!.shareDir, 'extension', 'citus.control')}.`,
      );
      // nothing created: no folder, no repository, no cluster
      expect(existsSync(sandboxDir(engine.paths.data))).toBe(false);
      const settings = await engine.settings.get();
      expect(settings.repositories).toEqual([]);
      expect(settings.clusters).toEqual([]);
      expect((await new Sandbox(engine).status()).exists).toBe(false);
    },
  );

  it('starts nodes with the restore provisioner’s code, and "down" removes what a failed "up" left', async () => {
    // A node as "sandbox up" makes it, on plain PostgreSQL (no Citus to preload here).
    const user = await resolveServerUser();
    const provisioner = new LocalProvisioner({ binDir: install!.binDir });
    const baseDir = join(sandboxDir(engine.paths.data), 'coordinator');
    const problems = await provisioner.check({
      majorVersion: 15,
      sharedPreloadLibraries: [],
      extensions: [],
      nodes: [{ nodeId: 'coordinator', baseDir, port: 0, tablespaces: {} }],
      bytesNeeded: {},
    });
    expect(problems).toEqual([]);
    const node = await provisioner.createNode({
      nodeId: 'coordinator',
      baseDir,
      port: 0,
      tablespaces: {},
    });
    await provisioner.close();
    await initSandboxNode(node, install!, user, { preloadLibraries: [], password: 'sandbox-pw-1' });
    await node.start();
    const local = await connectSandboxNode(node);
    const [settings] = (
      await local.query<{ checksums: string; listen: string; wal: string }>(
        `SELECT current_setting('data_checksums') AS checksums, current_setting('listen_addresses') AS listen, current_setting('wal_level') AS wal`,
      )
    ).rows;
    await local.end();
    expect(settings).toEqual({ checksums: 'on', listen: '127.0.0.1', wal: 'replica' });
    // TCP needs the password (scram), as Tidemark and Citus connect
    const tcp = new pg.Client({
      host: '127.0.0.1',
      port: node.port,
      user: 'postgres',
      password: 'sandbox-pw-1',
      database: 'postgres',
    });
    await tcp.connect();
    await tcp.end();
    const wrong = new pg.Client({
      host: '127.0.0.1',
      port: node.port,
      user: 'postgres',
      password: 'nope',
      database: 'postgres',
    });
    await expect(wrong.connect()).rejects.toThrow(/password authentication failed/);

    // What a failed "up" leaves behind: state and a running node, no registration.
    await writeSandboxState(engine.paths.data, {
      version: 1,
      clusterId: 'sandbox',
      repositoryId: 'sandbox',
      createdAt: new Date().toISOString(),
      postgres: { binDir: install!.binDir, major: 15, version: install!.version },
      serverUser: user.name,
      nodes: [{ name: 'coordinator', role: 'coordinator', baseDir, port: node.port }],
      writerPid: null,
    });
    const sandbox = new Sandbox(engine);
    const status = await sandbox.status();
    expect(status).toMatchObject({ exists: true, registered: false, writerRunning: false });
    expect(status.nodes).toEqual([
      expect.objectContaining({ name: 'coordinator', port: node.port, running: true }),
    ]);

    expect((await sandbox.down()).message).toBe(
      'The sandbox is stopped and its nodes are deleted.',
    );
    expect(await node.isRunning()).toBe(false);
    expect(existsSync(baseDir)).toBe(false);
    expect(await readdir(sandboxDir(engine.paths.data))).toEqual([]);
    expect((await sandbox.status()).exists).toBe(false);
  });
});
