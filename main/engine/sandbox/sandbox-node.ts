import { execFile } from 'node:child_process';
import { appendFile, chown, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import type pg from 'pg';
import { connectClient } from '../cluster/connect.js';
import { TidemarkError } from '../errors.js';
import { LocalNode } from '../restore/local-node.js';
import type { PostgresInstall } from '../restore/postgres-install.js';
import type { ServerUser } from '../restore/server-user.js';
import type { SandboxNode } from './sandbox-state.js';

const exec = promisify(execFile);

/** The bootstrap superuser of every sandbox node. */
export const sandboxSuperuser = 'postgres';

export interface SandboxNodeSettings {
  /** `shared_preload_libraries` (citus in the product) */
  preloadLibraries: readonly string[];
  /** the superuser's password, for TCP connections (Tidemark's, and Citus's between nodes) */
  password: string;
}

/** A LocalNode (the restore provisioner's node runner) for a sandbox node that already exists. */
export function sandboxLocalNode(
  node: SandboxNode,
  install: Pick<PostgresInstall, 'binDir'>,
  serverUser: ServerUser,
): LocalNode {
  return new LocalNode({
    spec: { nodeId: node.name, baseDir: node.baseDir, port: node.port, tablespaces: {} },
    port: node.port,
    host: '127.0.0.1',
    binDir: install.binDir,
    serverUser,
  });
}

/**
 * Creates a node's cluster in its (empty) data directory with initdb, as the server's OS
 * user: data checksums on, trust only on the node's own unix socket (in a folder only that
 * user can enter), scram-sha-256 on 127.0.0.1 for everything else including replication.
 */
export async function initSandboxNode(
  node: LocalNode,
  install: Pick<PostgresInstall, 'binDir'>,
  serverUser: ServerUser,
  settings: SandboxNodeSettings,
): Promise<void> {
  const pwfile = join(node.socketDir, 'initdb.pw');
  await writeFile(pwfile, `${settings.password}\n`, { mode: 0o600 });
  if (serverUser.owner) await chown(pwfile, serverUser.owner.uid, serverUser.owner.gid);
  const [command, args] = serverUser.wrap(join(install.binDir, 'initdb'), [
    '-D',
    node.dataDir,
    '-U',
    sandboxSuperuser,
    '--pwfile',
    pwfile,
    '--auth-local=trust',
    '--auth-host=scram-sha-256',
    '--data-checksums',
    '--encoding=UTF8',
    '--locale=C',
  ]);
  try {
    await exec(command, args, { timeout: 120_000, env: withoutPgVariables() });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new TidemarkError(
      'internal',
      `initdb failed for sandbox node ${node.nodeId} in ${node.dataDir}: ${(e.stderr || e.message).trim()}`,
      { cause: err },
    );
  } finally {
    await rm(pwfile, { force: true });
  }
  const conf: Record<string, string | number> = {
    listen_addresses: `'127.0.0.1'`,
    port: node.port,
    unix_socket_directories: `'${node.socketDir.replaceAll("'", "''")}'`,
    shared_preload_libraries: `'${settings.preloadLibraries.join(',')}'`,
    wal_level: 'replica',
    max_wal_senders: 10,
    max_replication_slots: 10,
    max_prepared_transactions: 100,
    shared_buffers: `'64MB'`,
  };
  await appendFile(
    join(node.dataDir, 'postgresql.conf'),
    `\n# Tidemark sandbox\n${Object.entries(conf)
      .map(([k, v]) => `${k} = ${v}`)
      .join('\n')}\n`,
  );
  await writeFile(
    join(node.dataDir, 'pg_hba.conf'),
    [
      'local all all trust',
      'host all all 127.0.0.1/32 scram-sha-256',
      'host replication all 127.0.0.1/32 scram-sha-256',
      '',
    ].join('\n'),
  );
}

/** A superuser connection over the node's unix socket, once the server accepts connections. */
export async function connectSandboxNode(node: LocalNode, timeoutMs = 60_000): Promise<pg.Client> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await connectClient({
        ...(await node.connectionConfig('postgres')),
        user: sandboxSuperuser,
        application_name: 'tidemark sandbox',
      });
    } catch (err) {
      if (Date.now() > deadline) {
        throw new TidemarkError(
          'internal',
          `Sandbox node ${node.nodeId} does not accept connections on ${node.socketDir}: ${(err as Error).message}. Its log ends with:\n${await node.logTail(20)}`,
          { cause: err },
        );
      }
      await sleep(200);
    }
  }
}

function withoutPgVariables(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('PG')));
}

/** Runs SQL on a node and closes the connection. */
export async function onSandboxNode<T>(
  node: LocalNode,
  run: (client: pg.Client) => Promise<T>,
): Promise<T> {
  const client = await connectSandboxNode(node);
  try {
    return await run(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}
