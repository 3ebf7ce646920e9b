import type pg from 'pg';
import { hotStandbyCriticalParameters, type ServerConfig } from '../catalog/records.js';
import { connectNodeSql, type NodeEndpoint } from './node-endpoint.js';

/**
 * What restore needs and a physical backup lacks, read over normal connections: every
 * parameter not at its built-in default (Debian keeps postgresql.conf outside the data
 * directory), the hot-standby-critical ones whatever their source, versions, the extensions of
 * every database that accepts connections, and the bootstrap superuser.
 */
export async function captureServerConfig(endpoint: NodeEndpoint, applicationName: string, client?: pg.Client): Promise<ServerConfig> {
  const own = client === undefined;
  const sql = client ?? (await connectNodeSql(endpoint, applicationName));
  try {
    const settings = await sql.query<{ name: string; setting: string; unit: string | null; source: string }>(
      `SELECT name, setting, unit, source FROM pg_catalog.pg_settings
        WHERE source <> 'default' OR name = ANY($1::text[])
        ORDER BY name`,
      [[...hotStandbyCriticalParameters]],
    );
    const parameters: ServerConfig['parameters'] = {};
    for (const row of settings.rows) parameters[row.name] = { value: withUnit(row.setting, row.unit), source: row.source };

    const facts = await sql.query<{ version: string; num: string; sysid: string; checksums: string; preload: string; superuser: string }>(
      `SELECT current_setting('server_version') AS version,
              current_setting('server_version_num') AS num,
              (SELECT system_identifier::text FROM pg_catalog.pg_control_system()) AS sysid,
              current_setting('data_checksums') AS checksums,
              current_setting('shared_preload_libraries') AS preload,
              (SELECT rolname FROM pg_catalog.pg_roles WHERE oid = 10) AS superuser`,
    );
    const row = facts.rows[0];
    if (!row) throw new Error('the server answered no row to the version query');

    const databases = await sql.query<{ datname: string }>(
      'SELECT datname FROM pg_catalog.pg_database WHERE datallowconn ORDER BY datname',
    );
    const extensions: ServerConfig['extensions'] = [];
    for (const { datname } of databases.rows) {
      for (const ext of await readExtensions(endpoint, applicationName, datname, sql)) extensions.push({ database: datname, ...ext });
    }
    return {
      serverVersion: row.version,
      serverVersionNum: Number(row.num),
      systemIdentifier: row.sysid,
      parameters,
      extensions,
      sharedPreloadLibraries: splitLibraries(row.preload),
      dataChecksums: row.checksums === 'on',
      bootstrapSuperuser: row.superuser,
    };
  } finally {
    if (own) await sql.end().catch(() => undefined);
  }
}

async function readExtensions(
  endpoint: NodeEndpoint,
  applicationName: string,
  database: string,
  current: pg.Client,
): Promise<{ name: string; version: string }[]> {
  const query = 'SELECT extname AS name, extversion AS version FROM pg_catalog.pg_extension ORDER BY extname';
  if (database === (current.database ?? endpoint.database)) return (await current.query<{ name: string; version: string }>(query)).rows;
  const client = await connectNodeSql(endpoint, applicationName, { database });
  try {
    return (await client.query<{ name: string; version: string }>(query)).rows;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** A setting as postgresql.conf would take it: `128` with unit `8kB` stays `128` … plus its unit. */
function withUnit(setting: string, unit: string | null): string {
  if (!unit) return setting;
  // pg_settings reports memory in multiples of its unit (e.g. 16384 × 8kB); keep it unambiguous
  const match = /^(\d+)?([a-zA-Z]+)$/.exec(unit);
  if (!match || !/^-?\d+$/.test(setting)) return setting;
  const factor = match[1] ? Number(match[1]) : 1;
  const value = Number(setting);
  if (value < 0) return setting;
  return `${value * factor}${match[2]}`;
}

/** `citus, pg_stat_statements` → ['citus', 'pg_stat_statements'] (quotes removed). */
export function splitLibraries(text: string): string[] {
  return text
    .split(',')
    .map((part) => part.trim().replace(/^"(.*)"$/, '$1'))
    .filter((part) => part.length > 0);
}
