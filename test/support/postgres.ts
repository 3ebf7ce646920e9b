import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { appendFile, chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { freePort } from './free-port.js';

const exec = promisify(execFile);

export const testPassword = 'tidemark-test-pw';

/** PostgreSQL server binaries: `PG_BIN`, or Debian's PostgreSQL 15. */
export function pgBinDir(): string {
  return process.env.PG_BIN ?? '/usr/lib/postgresql/15/bin';
}

export function postgresAvailable(): boolean {
  return existsSync(join(pgBinDir(), 'initdb'));
}

/** initdb and postgres refuse to run as root: run them as the postgres OS user then. */
export function asPostgres(bin: string, args: string[]): [string, string[]] {
  const path = join(pgBinDir(), bin);
  return process.getuid?.() === 0 ? ['runuser', ['-u', 'postgres', '--', path, ...args]] : [path, args];
}

export async function runPg(bin: string, args: string[], options: { timeoutMs?: number } = {}): Promise<string> {
  const [cmd, argv] = asPostgres(bin, args);
  const { stdout } = await exec(cmd, argv, { timeout: options.timeoutMs ?? 120_000, maxBuffer: 64 * 1024 * 1024 });
  return stdout;
}

export interface PgInstanceOptions {
  /** the instance's folder (created); must be writable by the postgres user */
  dir: string;
  /** extra postgresql.conf lines */
  conf?: Record<string, string | number | boolean>;
  /** extra pg_hba.conf lines, placed before the defaults */
  hba?: string[];
  /** initdb with data checksums (default true) */
  checksums?: boolean;
}

/**
 * A real PostgreSQL server on a free loopback port, superuser `postgres` with
 * `testPassword`, scram-sha-256 for TCP connections including replication.
 */
export class PgInstance {
  readonly host = '127.0.0.1';
  readonly user = 'postgres';
  readonly password = testPassword;
  readonly dataDir: string;
  readonly logFile: string;

  private constructor(
    readonly dir: string,
    public port: number,
  ) {
    this.dataDir = join(dir, 'data');
    this.logFile = join(dir, 'server.log');
  }

  static async create(options: PgInstanceOptions): Promise<PgInstance> {
    await mkdir(options.dir, { recursive: true });
    await chmod(options.dir, 0o777);
    const instance = new PgInstance(options.dir, await freePort());
    const pwfile = join(options.dir, 'pwfile');
    await writeFile(pwfile, `${testPassword}\n`, { mode: 0o644 });
    await runPg('initdb', [
      '-D', instance.dataDir, '-U', 'postgres', '--pwfile', pwfile, '--auth-local=trust', '--auth-host=scram-sha-256',
      ...(options.checksums === false ? [] : ['--data-checksums']),
    ]);
    const conf: Record<string, string | number | boolean> = {
      listen_addresses: `'127.0.0.1'`,
      port: instance.port,
      unix_socket_directories: `'${options.dir}'`,
      wal_level: 'replica',
      max_wal_senders: 10,
      max_replication_slots: 10,
      fsync: 'off',
      shared_buffers: `'64MB'`,
      ...options.conf,
    };
    await appendFile(join(instance.dataDir, 'postgresql.conf'), Object.entries(conf).map(([k, v]) => `${k} = ${v}\n`).join(''));
    const hba = [
      ...(options.hba ?? []),
      'local all all trust',
      'host all all 127.0.0.1/32 scram-sha-256',
      'host replication all 127.0.0.1/32 scram-sha-256',
    ];
    await writeFile(join(instance.dataDir, 'pg_hba.conf'), `${hba.join('\n')}\n`);
    await instance.start();
    return instance;
  }

  /** Adopts an existing data directory (a restored one): sets its port and starts nothing. */
  static async adopt(dir: string, dataDir: string): Promise<PgInstance> {
    const instance = new PgInstance(dir, await freePort());
    (instance as { dataDir: string }).dataDir = dataDir;
    return instance;
  }

  async start(extraOptions = ''): Promise<void> {
    await runPg('pg_ctl', ['-D', this.dataDir, '-l', this.logFile, '-w', '-t', '60', '-o', `-p ${this.port} ${extraOptions}`.trim(), 'start']);
  }

  async stop(mode: 'fast' | 'immediate' = 'fast'): Promise<void> {
    if (!existsSync(join(this.dataDir, 'postmaster.pid'))) return;
    await runPg('pg_ctl', ['-D', this.dataDir, '-m', mode, '-w', '-t', '60', 'stop']).catch(() => undefined);
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  connectionConfig(database = 'postgres'): pg.ClientConfig {
    return { host: this.host, port: this.port, user: this.user, password: this.password, database };
  }

  /** Runs SQL on a fresh connection and returns the rows. */
  async query<T extends pg.QueryResultRow = pg.QueryResultRow>(text: string, values?: unknown[], database = 'postgres'): Promise<T[]> {
    const client = new pg.Client(this.connectionConfig(database));
    await client.connect();
    try {
      return (await client.query<T>(text, values)).rows;
    } finally {
      await client.end();
    }
  }

  /** Runs a pgbench command line against this instance (e.g. ['-i', '-s', '1']). */
  async pgbench(args: string[], database = 'postgres'): Promise<string> {
    return new Promise((resolve, reject) => {
      const child = spawn(join(pgBinDir(), 'pgbench'), ['-h', this.host, '-p', String(this.port), '-U', this.user, ...args, database], {
        env: { ...process.env, PGPASSWORD: this.password },
      });
      let out = '';
      child.stdout.on('data', (d) => (out += d));
      child.stderr.on('data', (d) => (out += d));
      child.on('error', reject);
      child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`pgbench exited ${code}: ${out.slice(-2000)}`))));
    });
  }
}
