/**
 * Benchmark data on a source server: pgbench tables, a table of random (incompressible) bytes,
 * and WAL made by pgbench runs until each node has written at least a given amount.
 */
import type { PgInstance } from '../../test/support/postgres.js';
import { MB } from './bench-kit.js';

export async function currentWalLsn(pg: PgInstance): Promise<string> {
  const [row] = await pg.query<{ lsn: string }>('SELECT pg_current_wal_insert_lsn()::text AS lsn');
  return row!.lsn;
}

export async function walBytesSince(pg: PgInstance, lsn: string): Promise<number> {
  const [row] = await pg.query<{ b: string }>('SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), $1)::bigint::text AS b', [lsn]);
  return Number(row!.b);
}

/** Bytes of every database of the server. */
export async function databaseBytes(pg: PgInstance): Promise<number> {
  const [row] = await pg.query<{ bytes: string }>('SELECT sum(pg_database_size(datname))::text AS bytes FROM pg_database');
  return Number(row!.bytes);
}

/** `megabytes` of random bytes in rows of 8 kB, stored uncompressed (STORAGE EXTERNAL). */
export async function loadRandomBytes(pg: PgInstance, megabytes: number): Promise<void> {
  await pg.query('CREATE EXTENSION IF NOT EXISTS pgcrypto');
  await pg.query('CREATE TABLE random_bytes (id int PRIMARY KEY, b bytea)');
  await pg.query('ALTER TABLE random_bytes ALTER COLUMN b SET STORAGE EXTERNAL');
  const rows = Math.round((megabytes * MB) / 8192);
  const eight = Array.from({ length: 8 }, () => 'gen_random_bytes(1024)').join(' || ');
  for (let done = 0; done < rows; done += 10_000) {
    await pg.query(`INSERT INTO random_bytes SELECT g, ${eight} FROM generate_series($1::int, $2::int) g`, [done, Math.min(done + 10_000, rows) - 1]);
  }
}

/**
 * Runs pgbench (TPC-B like, 4 clients) in rounds of `roundSeconds` on every node at once until
 * each node wrote at least `megabytes` of WAL since the call. Returns the bytes per node.
 */
export async function generateWal(nodes: readonly PgInstance[], megabytes: number, roundSeconds = 10): Promise<number[]> {
  const from = await Promise.all(nodes.map((n) => currentWalLsn(n)));
  for (;;) {
    const written = await Promise.all(nodes.map((n, i) => walBytesSince(n, from[i]!)));
    const behind = nodes.filter((_, i) => written[i]! < megabytes * MB);
    if (behind.length === 0) return written;
    await Promise.all(behind.map((n) => n.pgbench(['-n', '-c', '4', '-j', '2', '-T', String(roundSeconds)])));
  }
}
