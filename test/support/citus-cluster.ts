import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { PgInstance, testPassword } from './postgres.js';

/** The Citus-compatible fixture script (see test/fixtures/citus/README.md). */
export const citusFixturePath = fileURLToPath(
  new URL('../fixtures/citus/citus-fixture.sql', import.meta.url),
);

type Conf = Record<string, string | number | boolean>;

export interface CitusNodeOptions {
  /** extra postgresql.conf lines for this node (over the cluster-wide ones) */
  conf?: Conf;
  /** initdb with data checksums (default true) */
  checksums?: boolean;
}

export interface CitusTestClusterOptions {
  /** the cluster's folder: one sub-folder per node */
  dir: string;
  /** number of workers (default 2) */
  workers?: number;
  /** extra postgresql.conf lines for every node */
  conf?: Conf;
  coordinator?: CitusNodeOptions;
  /** per worker, by index */
  workerNodes?: CitusNodeOptions[];
}

/** What every node needs: 2PC for the fixture's distributed writes, connection logs. */
export const citusNodeConf: Conf = {
  max_prepared_transactions: 20,
  log_connections: 'on',
  wal_level: 'replica',
  // Parsed by connectionLog(): a millisecond UTC timestamp and the backend pid.
  log_line_prefix: `'%m [%p] '`,
  log_timezone: `'UTC'`,
};

export interface ConnectionLogEntry {
  at: Date;
  pid: number;
  /** from "connection received" */
  remoteHost?: string;
  remotePort?: number;
  /** from "connection authorized" (absent when the connection failed before that) */
  user?: string;
  database?: string;
  applicationName?: string;
  replication: boolean;
  lines: string[];
}

/**
 * A coordinator and workers on loopback, each a real PostgreSQL 15 with the Citus fixture,
 * registered like a Citus 11+ cluster: the coordinator row (groupid 0) and one group per
 * worker (1..n), metadata synced to every worker, and a `pg_dist_authinfo` wildcard row
 * (nodeid 0) carrying the password the nodes use to reach each other.
 */
export class CitusTestCluster {
  private constructor(
    readonly coordinator: PgInstance,
    readonly workers: PgInstance[],
  ) {}

  /** coordinator first, then the workers */
  get nodes(): PgInstance[] {
    return [this.coordinator, ...this.workers];
  }

  static async create(options: CitusTestClusterOptions): Promise<CitusTestCluster> {
    const workerCount = options.workers ?? 2;
    const nodeOptions = [
      options.coordinator ?? {},
      ...Array.from({ length: workerCount }, (_, i) => options.workerNodes?.[i] ?? {}),
    ];
    const instances: PgInstance[] = [];
    try {
      // initdb is CPU-bound: in parallel it is no faster on two cores.
      for (const [index, node] of nodeOptions.entries()) {
        instances.push(
          await PgInstance.create({
            dir: join(options.dir, index === 0 ? 'coordinator' : `worker-${index}`),
            conf: { ...citusNodeConf, ...options.conf, ...node.conf },
            ...(node.checksums === undefined ? {} : { checksums: node.checksums }),
          }),
        );
      }
      const [coordinator, ...workers] = instances as [PgInstance, ...PgInstance[]];
      const cluster = new CitusTestCluster(coordinator, workers);
      await Promise.all(cluster.nodes.map((node) => applyCitusFixture(node)));
      await cluster.register();
      return cluster;
    } catch (err) {
      await Promise.all(instances.map((instance) => instance.stop('immediate')));
      throw err;
    }
  }

  private async register(): Promise<void> {
    await withClient(this.coordinator, async (client) => {
      // Without the Citus library the catalog triggers refuse direct writes: do what a
      // DBA's INSERT would do on a real cluster, with the triggers skipped.
      await client.query('SET session_replication_role = replica');
      await client.query(`INSERT INTO pg_catalog.pg_dist_authinfo VALUES (0, 'postgres', $1)`, [
        `password=${testPassword}`,
      ]);
      await client.query('RESET session_replication_role');
      await client.query('SELECT citus_set_coordinator_host($1, $2)', [
        this.coordinator.host,
        this.coordinator.port,
      ]);
      for (const worker of this.workers) {
        await client.query('SELECT citus_add_node($1, $2)', [worker.host, worker.port]);
      }
    });
  }

  /** The pg_dist_node id of an instance of this cluster. */
  async nodeIdOf(instance: PgInstance): Promise<number> {
    const rows = await this.coordinator.query<{ nodeid: number }>(
      'SELECT nodeid FROM pg_catalog.pg_dist_node WHERE nodename = $1 AND nodeport = $2',
      [instance.host, instance.port],
    );
    const row = rows[0];
    if (!row) throw new Error(`${instance.host}:${instance.port} is not in pg_dist_node`);
    return row.nodeid;
  }

  /**
   * Creates a login role on every node (roles are per node here). `replication` and
   * `superuser` default to true and false: a Tidemark backup role.
   */
  async createRole(
    name: string,
    password: string,
    options: { replication?: boolean; superuser?: boolean } = {},
  ): Promise<void> {
    const attributes = [
      'LOGIN',
      options.replication === false ? 'NOREPLICATION' : 'REPLICATION',
      options.superuser ? 'SUPERUSER' : 'NOSUPERUSER',
    ].join(' ');
    const ident = pg.escapeIdentifier(name);
    await Promise.all(
      this.nodes.map((node) =>
        withClient(node, (client) =>
          client.query(`CREATE ROLE ${ident} ${attributes} PASSWORD ${pg.escapeLiteral(password)}`),
        ),
      ),
    );
  }

  /** A distributed 2PC write through the fixture (see the fixture's README). */
  async distributedWrite(
    id: number,
    payload: string,
    stopAfter?: 'prepare' | 'local_commit',
  ): Promise<void> {
    await this.coordinator.query('CALL citus_fixture_distributed_write($1, $2, $3)', [
      id,
      payload,
      stopAfter ?? null,
    ]);
  }

  /**
   * Connections a node logged (log_connections) whose first line is inside the window,
   * from its server log. Lines of one backend are joined by pid.
   */
  async connectionLog(
    node: PgInstance,
    window: { since: Date; until?: Date },
  ): Promise<ConnectionLogEntry[]> {
    return parseConnectionLog(await readFile(node.logFile, 'utf8'), window);
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((node) => node.stop()));
  }
}

/** Runs the fixture script on a node (as the superuser, in `database`). */
export async function applyCitusFixture(node: PgInstance, database = 'postgres'): Promise<void> {
  const script = await readFile(citusFixturePath, 'utf8');
  await withClient(node, (client) => client.query(script).then(() => undefined), database);
}

async function withClient<T>(
  node: PgInstance,
  fn: (client: pg.Client) => Promise<T>,
  database = 'postgres',
): Promise<T> {
  const client = new pg.Client(node.connectionConfig(database));
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

const linePattern = /^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}) UTC \[(\d+)\] LOG: {2}(.*)$/;
const receivedPattern = /^connection received: host=(\S+)(?: port=(\d+))?/;
const authorizedPattern =
  /^(replication )?connection authorized: user=(\S+)(?: database=(\S+))?(?: application_name=(.*?))?(?: SSL enabled.*| GSS.*)?$/;

export function parseConnectionLog(
  text: string,
  window: { since: Date; until?: Date },
): ConnectionLogEntry[] {
  const byPid = new Map<number, ConnectionLogEntry>();
  const entries: ConnectionLogEntry[] = [];
  for (const line of text.split('\n')) {
    const match = linePattern.exec(line);
    if (!match) continue;
    const at = new Date(`${(match[1] as string).replace(' ', 'T')}Z`);
    const pid = Number(match[2]);
    const message = match[3] as string;
    const received = receivedPattern.exec(message);
    if (received) {
      const entry: ConnectionLogEntry = {
        at,
        pid,
        remoteHost: received[1] as string,
        replication: false,
        lines: [line],
      };
      if (received[2]) entry.remotePort = Number(received[2]);
      byPid.set(pid, entry);
      if (at >= window.since && (!window.until || at <= window.until)) entries.push(entry);
      continue;
    }
    const authorized = authorizedPattern.exec(message);
    const entry = byPid.get(pid);
    if (authorized && entry) {
      entry.replication = Boolean(authorized[1]);
      entry.user = authorized[2] as string;
      if (authorized[3]) entry.database = authorized[3];
      if (authorized[4] !== undefined) entry.applicationName = authorized[4];
      entry.lines.push(line);
    }
  }
  return entries;
}

/** Polls `check` every 50 ms until it holds; false when `timeoutMs` passed first. */
export async function waitFor(check: () => Promise<boolean>, timeoutMs = 10_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return false;
}
