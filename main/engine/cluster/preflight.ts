import type pg from 'pg';
import type { NodeRole } from './discovery.js';

export type PreflightStatus = 'ok' | 'warn' | 'fail';

export interface PreflightCheck {
  /** stable id, e.g. `wal-level` */
  id: string;
  /** the node the check ran on, e.g. `worker 10.0.0.2:5432 (node 2)` */
  node: string;
  status: PreflightStatus;
  message: string;
  /** the exact SQL or configuration change that fixes it; empty when ok */
  fix: string;
}

export interface PreflightTarget {
  /** how the node is named in results */
  node: string;
  role: NodeRole;
  /** a regular connection to the node (not in a transaction) */
  client: pg.Client;
  /** opens a physical replication connection to the node with the backup's credentials */
  openReplication: () => Promise<pg.Client>;
}

export interface PreflightOptions {
  /** clock skew above this warns (default 1000 ms) */
  maxClockSkewMs?: number;
  /** the workstation clock, for tests */
  now?: () => number;
}

/** Replication connections one node needs at once: its WAL stream plus a base backup. */
export const walSendersNeeded = 2;
export const minServerVersionNum = 150000;
export const maxServerVersionNum = 189999;

/** Runs every check on every node, in parallel across nodes. */
export async function runPreflight(
  targets: PreflightTarget[],
  options: PreflightOptions = {},
): Promise<PreflightCheck[]> {
  const perNode = await Promise.all(targets.map((target) => preflightNode(target, options)));
  return perNode.flat();
}

/** The backup may start when no check failed (warnings are shown, not blocking). */
export function preflightPassed(checks: PreflightCheck[]): boolean {
  return checks.every((check) => check.status !== 'fail');
}

interface NodeFacts {
  versionNum: number;
  version: string;
  walLevel: string;
  maxWalSenders: number;
  usedWalSenders: number;
  maxSlots: number;
  usedSlots: number;
  user: string;
  rolReplication: boolean;
  rolSuper: boolean;
  dataChecksums: string;
  dataDirectory: string | null;
  hasCitus: boolean;
}

/** Every check on one node. A check that cannot run is a failure that says why. */
export async function preflightNode(
  target: PreflightTarget,
  options: PreflightOptions = {},
): Promise<PreflightCheck[]> {
  const node = target.node;
  let facts: NodeFacts;
  try {
    facts = await readFacts(target.client);
  } catch (err) {
    return [
      result(
        'node-reachable',
        node,
        'fail',
        `Could not read the settings of ${node}: ${(err as Error).message}.`,
        'Check the connection to this node and that the role can log in.',
      ),
    ];
  }
  const checks: PreflightCheck[] = [
    checkServerVersion(node, facts),
    await checkCitus(target, facts),
    checkWalLevel(node, facts),
    checkWalSenders(node, facts),
    checkReplicationSlots(node, facts),
    checkReplicationRole(node, facts),
    await checkReplicationConnection(target, facts),
  ];
  if (target.role === 'coordinator') checks.push(checkSuperuser(node, facts));
  checks.push(checkDataChecksums(node, facts), await checkClockSkew(target, options));
  return checks;
}

async function readFacts(client: pg.Client): Promise<NodeFacts> {
  const { rows } = await client.query<{
    num: string;
    version: string;
    wal_level: string;
    max_wal_senders: string;
    used_wal_senders: string;
    max_slots: string;
    used_slots: string;
    usr: string;
    rolreplication: boolean;
    rolsuper: boolean;
    data_checksums: string;
    data_directory: string | null;
    has_citus: boolean;
  }>(
    `SELECT current_setting('server_version_num') AS num, current_setting('server_version') AS version,
            current_setting('wal_level') AS wal_level,
            current_setting('max_wal_senders') AS max_wal_senders,
            (SELECT count(*) FROM pg_catalog.pg_stat_replication) AS used_wal_senders,
            current_setting('max_replication_slots') AS max_slots,
            (SELECT count(*) FROM pg_catalog.pg_replication_slots) AS used_slots,
            current_user AS usr, r.rolreplication, r.rolsuper,
            current_setting('data_checksums') AS data_checksums,
            -- data_directory is visible to superusers and pg_read_all_settings only
            CASE WHEN pg_has_role(current_user, 'pg_read_all_settings', 'USAGE')
                 THEN current_setting('data_directory') END AS data_directory,
            to_regprocedure('pg_catalog.citus_version()') IS NOT NULL AS has_citus
       FROM pg_catalog.pg_roles r WHERE r.rolname = current_user`,
  );
  const row = rows[0];
  if (!row) throw new Error('the current role is not in pg_roles');
  return {
    versionNum: Number(row.num),
    version: row.version,
    walLevel: row.wal_level,
    maxWalSenders: Number(row.max_wal_senders),
    usedWalSenders: Number(row.used_wal_senders),
    maxSlots: Number(row.max_slots),
    usedSlots: Number(row.used_slots),
    user: row.usr,
    rolReplication: row.rolreplication,
    rolSuper: row.rolsuper,
    dataChecksums: row.data_checksums,
    dataDirectory: row.data_directory,
    hasCitus: row.has_citus,
  };
}

function result(
  id: string,
  node: string,
  status: PreflightStatus,
  message: string,
  fix = '',
): PreflightCheck {
  return { id, node, status, message, fix };
}

function checkServerVersion(node: string, facts: NodeFacts): PreflightCheck {
  if (facts.versionNum >= minServerVersionNum && facts.versionNum <= maxServerVersionNum) {
    return result('server-version', node, 'ok', `PostgreSQL ${facts.version}.`);
  }
  return result(
    'server-version',
    node,
    'fail',
    `PostgreSQL ${facts.version} is not supported; Tidemark backs up PostgreSQL 15 to 18.`,
    'Upgrade this node to PostgreSQL 15, 16, 17 or 18 (with the matching Citus release).',
  );
}

async function checkCitus(target: PreflightTarget, facts: NodeFacts): Promise<PreflightCheck> {
  const fix = `shared_preload_libraries = 'citus'   # in postgresql.conf, citus first; restart, then: CREATE EXTENSION citus;`;
  if (!facts.hasCitus) {
    return result(
      'citus',
      target.node,
      'fail',
      `Citus is not installed in this database: citus_version() does not exist.`,
      fix,
    );
  }
  try {
    const { rows } = await target.client.query<{ v: string }>(
      'SELECT pg_catalog.citus_version() AS v',
    );
    return result('citus', target.node, 'ok', rows[0]?.v ?? 'Citus is installed.');
  } catch (err) {
    return result(
      'citus',
      target.node,
      'fail',
      `citus_version() failed: ${(err as Error).message}.`,
      fix,
    );
  }
}

function checkWalLevel(node: string, facts: NodeFacts): PreflightCheck {
  if (facts.walLevel === 'replica' || facts.walLevel === 'logical') {
    return result('wal-level', node, 'ok', `wal_level is ${facts.walLevel}.`);
  }
  return result(
    'wal-level',
    node,
    'fail',
    `wal_level is ${facts.walLevel}: WAL cannot be streamed and restore points cannot be created.`,
    `ALTER SYSTEM SET wal_level = 'replica';   -- then restart PostgreSQL on this node`,
  );
}

function checkWalSenders(node: string, facts: NodeFacts): PreflightCheck {
  const free = facts.maxWalSenders - facts.usedWalSenders;
  if (free >= walSendersNeeded) {
    return result(
      'wal-senders',
      node,
      'ok',
      `${free} of max_wal_senders = ${facts.maxWalSenders} are free.`,
    );
  }
  const wanted = facts.usedWalSenders + walSendersNeeded + 2;
  return result(
    'wal-senders',
    node,
    'fail',
    `Only ${Math.max(free, 0)} of max_wal_senders = ${facts.maxWalSenders} are free (${facts.usedWalSenders} in use); Tidemark needs ${walSendersNeeded} (its WAL stream and a base backup).`,
    `ALTER SYSTEM SET max_wal_senders = ${wanted};   -- then restart PostgreSQL on this node`,
  );
}

function checkReplicationSlots(node: string, facts: NodeFacts): PreflightCheck {
  const free = facts.maxSlots - facts.usedSlots;
  if (free >= 1)
    return result(
      'replication-slots',
      node,
      'ok',
      `${free} of max_replication_slots = ${facts.maxSlots} are free.`,
    );
  return result(
    'replication-slots',
    node,
    'fail',
    `No free replication slot (max_replication_slots = ${facts.maxSlots}, ${facts.usedSlots} in use); Tidemark needs one so the node keeps WAL until it is archived.`,
    `ALTER SYSTEM SET max_replication_slots = ${facts.usedSlots + 2};   -- then restart PostgreSQL on this node`,
  );
}

function checkReplicationRole(node: string, facts: NodeFacts): PreflightCheck {
  if (facts.rolReplication || facts.rolSuper) {
    return result(
      'replication-role',
      node,
      'ok',
      `Role ${facts.user} may open replication connections.`,
    );
  }
  return result(
    'replication-role',
    node,
    'fail',
    `Role ${facts.user} lacks the REPLICATION attribute, so it cannot stream WAL or take base backups.`,
    `ALTER ROLE ${quoteIdent(facts.user)} REPLICATION;`,
  );
}

async function checkReplicationConnection(
  target: PreflightTarget,
  facts: NodeFacts,
): Promise<PreflightCheck> {
  let client: pg.Client | undefined;
  try {
    client = await target.openReplication();
    const { rows } = await client.query<{ systemid: string; timeline: number; xlogpos: string }>(
      'IDENTIFY_SYSTEM',
    );
    const row = rows[0];
    return result(
      'replication-connection',
      target.node,
      'ok',
      `Replication connection works (system ${row?.systemid ?? '?'}, timeline ${row?.timeline ?? '?'}, WAL at ${row?.xlogpos ?? '?'}).`,
    );
  } catch (err) {
    const message = (err as Error).message;
    return result(
      'replication-connection',
      target.node,
      'fail',
      `A replication connection failed: ${message}`,
      replicationFix(message, facts),
    );
  } finally {
    await client?.end().catch(() => undefined);
  }
}

function replicationFix(message: string, facts: NodeFacts): string {
  if (/max_wal_senders/.test(message)) {
    return `ALTER SYSTEM SET max_wal_senders = ${facts.usedWalSenders + walSendersNeeded + 2};   -- then restart PostgreSQL on this node`;
  }
  if (
    /superuser or replication role|permission denied to start WAL sender|REPLICATION attribute/i.test(
      message,
    )
  ) {
    return `ALTER ROLE ${quoteIdent(facts.user)} REPLICATION;`;
  }
  if (/pg_hba\.conf/.test(message)) {
    return `hostssl replication ${facts.user} <this workstation's address>/32 scram-sha-256   # in pg_hba.conf, then: SELECT pg_reload_conf();`;
  }
  return 'Check that pg_hba.conf has a "replication" line for this role and this workstation, then: SELECT pg_reload_conf();';
}

function checkSuperuser(node: string, facts: NodeFacts): PreflightCheck {
  if (facts.rolSuper)
    return result(
      'superuser',
      node,
      'ok',
      `Role ${facts.user} is a superuser (needed for citus_create_restore_point).`,
    );
  return result(
    'superuser',
    node,
    'fail',
    `Role ${facts.user} is not a superuser; citus_create_restore_point() runs only as superuser, so no consistent restore points could be made.`,
    `ALTER ROLE ${quoteIdent(facts.user)} SUPERUSER;`,
  );
}

function checkDataChecksums(node: string, facts: NodeFacts): PreflightCheck {
  if (facts.dataChecksums === 'on')
    return result(
      'data-checksums',
      node,
      'ok',
      'Data checksums are on: base backups detect damaged pages.',
    );
  return result(
    'data-checksums',
    node,
    'warn',
    'Data checksums are off: a damaged page would be copied into backups unnoticed.',
    `pg_checksums --enable -D ${facts.dataDirectory ?? '<data directory>'}   # with PostgreSQL stopped on this node`,
  );
}

async function checkClockSkew(
  target: PreflightTarget,
  options: PreflightOptions,
): Promise<PreflightCheck> {
  const now = options.now ?? Date.now;
  const limit = options.maxClockSkewMs ?? 1000;
  let best: { skew: number; roundTrip: number } | undefined;
  try {
    // Three samples; the one with the shortest round trip bounds the error best.
    for (let i = 0; i < 3; i++) {
      const sent = now();
      const { rows } = await target.client.query<{ ms: string }>(
        `SELECT (extract(epoch FROM clock_timestamp()) * 1000)::text AS ms`,
      );
      const received = now();
      const skew = Number(rows[0]?.ms) - (sent + received) / 2;
      const roundTrip = received - sent;
      if (!best || roundTrip < best.roundTrip) best = { skew, roundTrip };
    }
  } catch (err) {
    return result(
      'clock-skew',
      target.node,
      'warn',
      `Could not compare clocks: ${(err as Error).message}.`,
      'Make sure NTP runs on this node and on the workstation.',
    );
  }
  const { skew, roundTrip } = best as { skew: number; roundTrip: number };
  // The server read its clock somewhere inside the round trip: only the excess is certain.
  const certain = Math.abs(skew) - roundTrip / 2;
  const text = `${Math.abs(skew / 1000).toFixed(3)} s ${skew >= 0 ? 'ahead of' : 'behind'} this workstation (round trip ${Math.round(roundTrip)} ms)`;
  if (certain <= limit) return result('clock-skew', target.node, 'ok', `Clock is ${text}.`);
  return result(
    'clock-skew',
    target.node,
    'warn',
    `Clock is ${text}: times on the timeline and of restore points will be off by as much.`,
    'Enable time synchronisation on this node and the workstation (e.g. timedatectl set-ntp true, or chrony).',
  );
}

const plainIdentifier = /^[a-z_][a-z0-9_$]*$/;
/** role names that must be quoted in ALTER ROLE */
const reservedRoleNames = new Set([
  'all',
  'current_role',
  'current_user',
  'default',
  'none',
  'public',
  'session_user',
  'user',
]);

function quoteIdent(name: string): string {
  return plainIdentifier.test(name) && !reservedRoleNames.has(name)
    ? name
    : `"${name.replaceAll('"', '""')}"`;
}
