import type pg from 'pg';
import { connectClient } from '../cluster/connect.js';
import type { ProvisionedNode } from './provisioner.js';

/** How restore connections name themselves in the restored servers' logs and pg_stat_activity. */
export const restoreApplicationName = 'tidemark-restore';

/** SQLSTATEs of a server that is starting, recovering without hot standby yet, or shutting down. */
const notReadyCodes = new Set(['57P03', '57P01', '57P02']);

/** A superuser connection over the node's own socket (peer authentication). */
export async function connectNode(node: ProvisionedNode, superuser: string, database: string): Promise<pg.Client> {
  const config = await node.connectionConfig(database);
  return connectClient({ ...config, user: superuser, application_name: restoreApplicationName, connectionTimeoutMillis: 10_000 });
}

/** Whether a connection error only means "not ready yet" (or no server listening yet). */
export function isNotReady(err: unknown): boolean {
  const code = (err as { code?: string }).code;
  return code !== undefined && (notReadyCodes.has(code) || code === 'ENOENT' || code === 'ECONNREFUSED');
}

/** Runs `fn` with a fresh connection, closing it afterwards. */
export async function withNodeClient<T>(node: ProvisionedNode, superuser: string, database: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = await connectNode(node, superuser, database);
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** The databases a restored node accepts connections to (templates excluded). */
export async function listDatabases(client: pg.Client): Promise<string[]> {
  const { rows } = await client.query<{ datname: string }>('SELECT datname FROM pg_catalog.pg_database WHERE datallowconn AND NOT datistemplate ORDER BY datname');
  return rows.map((r) => r.datname);
}

/** A database to connect to for cluster-wide questions: `postgres` unless the source dropped it. */
export async function maintenanceDatabase(node: ProvisionedNode, superuser: string): Promise<string> {
  try {
    await withNodeClient(node, superuser, 'postgres', async () => undefined);
    return 'postgres';
  } catch (err) {
    if ((err as { code?: string }).code === '3D000') return 'template1';
    throw err;
  }
}
