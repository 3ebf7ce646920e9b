import pg from 'pg';
import { TidemarkError } from '../errors.js';
import { ReplicationQuery, type CopyHandlers, type ResultSet } from './copy-submittable.js';
import { isValidSegmentSize, parseLsn } from './lsn.js';
import { commandError, connectError, type ConnectContext } from './replication-errors.js';
import { pgSslAttempts, tlsFallbackAllowed, type PgSsl, type TlsConfig } from '../net/tls-options.js';

export interface ReplicationConnectionConfig {
  host: string;
  port: number;
  user: string;
  password?: string;
  /** ignored by physical walsenders; used for the diagnostic side connection */
  database?: string;
  /** default `prefer`, as libpq */
  ssl?: TlsConfig;
  applicationName: string;
  connectTimeoutMs: number;
}

export interface SystemIdentity {
  /** the cluster's system identifier (a 64-bit number, kept as text) */
  systemId: string;
  timeline: number;
  /** the current WAL flush position */
  xlogPos: bigint;
  dbName: string | null;
}

export interface SlotInfo {
  slotType: 'physical' | 'logical';
  restartLsn: bigint | null;
  restartTimeline: number | null;
}

export interface TimelineHistoryFile {
  filename: string;
  content: Buffer;
}

/** The oldest PostgreSQL whose replication grammar Tidemark speaks (parenthesised BASE_BACKUP options). */
export const minServerVersion = 150000;
const slotNamePattern = /^[a-z0-9_]{1,63}$/;
const closeTimeoutMs = 5000;

/**
 * A physical replication (walsender) connection to one PostgreSQL node. Runs one command at a
 * time; while BASE_BACKUP or START_REPLICATION streams, side queries need another connection.
 */
export class ReplicationConnection {
  /** `host:port`, used in every message */
  readonly node: string;
  private closed = false;
  private lostError: Error | undefined;
  private segmentSize: number | undefined;
  private active: ReplicationQuery | undefined;

  private constructor(
    private readonly client: pg.Client,
    config: ReplicationConnectionConfig,
    /** `server_version_num`, e.g. 150004 */
    readonly serverVersion: number,
  ) {
    this.node = nodeName(config);
    client.on('end', () => {
      this.closed = true;
    });
  }

  /**
   * Connects, following libpq's sslmode (see net/tls-options.ts), then checks the server version
   * (15 or newer) and that wal_level allows streaming.
   */
  static async open(config: ReplicationConnectionConfig): Promise<ReplicationConnection> {
    const sslMode = config.ssl?.mode ?? 'prefer';
    const ctx: ConnectContext = {
      node: nodeName(config),
      user: config.user,
      sslMode,
      connectTimeoutMs: config.connectTimeoutMs,
    };
    const attempts = pgSslAttempts(config.ssl, config.host);
    let client: pg.Client | undefined;
    for (const [index, ssl] of attempts.entries()) {
      try {
        client = await connectClient(config, ssl);
        break;
      } catch (err) {
        const isLast = index === attempts.length - 1;
        if (!isLast && tlsFallbackAllowed(sslMode, err)) continue;
        if (isServerError53300WithNoSenders(err)) ctx.walLevel = await probeWalLevel(config, ssl);
        if (ssl === false && hbaRefusedPlainTcp(err))
          ctx.tlsAccepted = await probeTlsAccepted(config);
        throw connectError(err, ctx);
      }
    }
    if (!client)
      throw new TidemarkError('internal', `No connection attempt to ${ctx.node} was made.`);

    const lost: { error?: Error } = {};
    let connection: ReplicationConnection | undefined;
    client.on('error', (err: Error) => {
      // a dropped walsender must not crash the process; the active command fails by itself
      lost.error = err;
      if (connection) connection.lostError = err;
    });
    try {
      const version = Number.parseInt(await simpleShow(client, 'server_version_num', ctx.node), 10);
      if (!Number.isFinite(version) || version < minServerVersion) {
        throw new TidemarkError(
          'unsupported',
          `PostgreSQL at ${ctx.node} is version ${formatVersion(version)}; Tidemark needs PostgreSQL 15 or newer. Upgrade the node.`,
          { details: { serverVersion: version } },
        );
      }
      connection = new ReplicationConnection(client, config, version);
      if (lost.error) connection.lostError = lost.error;
      const walLevel = await connection.show('wal_level');
      if (walLevel === 'minimal') {
        throw new TidemarkError(
          'preflight_failed',
          `PostgreSQL at ${ctx.node} has wal_level = minimal, which cannot stream WAL. Set wal_level = replica in postgresql.conf and restart the server.`,
        );
      }
      return connection;
    } catch (err) {
      await endClient(client);
      throw err;
    }
  }

  /** True once closed, including when an aborted command destroyed the socket. */
  get isClosed(): boolean {
    return this.closed || this.client.connection.stream.destroyed;
  }

  /** `IDENTIFY_SYSTEM`: system identifier, current timeline and WAL position. */
  async identifySystem(): Promise<SystemIdentity> {
    const row = firstRow(
      await this.command('IDENTIFY_SYSTEM', 'IDENTIFY_SYSTEM'),
      'IDENTIFY_SYSTEM',
      this.node,
    );
    return {
      systemId: required(row, 0, 'IDENTIFY_SYSTEM', this.node),
      timeline: Number.parseInt(required(row, 1, 'IDENTIFY_SYSTEM', this.node), 10),
      xlogPos: parseLsn(required(row, 2, 'IDENTIFY_SYSTEM', this.node)),
      dbName: row[3] ?? null,
    };
  }

  /** `SHOW name`: a setting's value as the server formats it (e.g. `16MB`). */
  async show(name: string): Promise<string> {
    if (!/^[a-z_][a-z0-9_.]*$/.test(name))
      throw new TidemarkError('invalid_input', `Not a setting name: "${name}".`);
    return required(
      firstRow(await this.command(`SHOW ${name}`, `SHOW ${name}`), `SHOW ${name}`, this.node),
      0,
      `SHOW ${name}`,
      this.node,
    );
  }

  /** The WAL segment size in bytes (`wal_segment_size`, 16 MB unless initdb chose otherwise). */
  async walSegmentSize(): Promise<number> {
    if (this.segmentSize === undefined) {
      const text = await this.show('wal_segment_size');
      const size = parseByteSize(text);
      if (size === null || !isValidSegmentSize(size)) {
        throw new TidemarkError(
          'unsupported',
          `PostgreSQL at ${this.node} reports wal_segment_size "${text}", which Tidemark cannot use.`,
        );
      }
      this.segmentSize = size;
    }
    return this.segmentSize;
  }

  /** `CREATE_REPLICATION_SLOT name PHYSICAL`; with `reserveWal` the slot keeps WAL from now on. */
  async createPhysicalSlot(name: string, options: { reserveWal: boolean }): Promise<void> {
    assertSlotName(name);
    const text = `CREATE_REPLICATION_SLOT ${name} PHYSICAL${options.reserveWal ? ' (RESERVE_WAL)' : ''}`;
    await this.command(text, `creating replication slot "${name}"`);
  }

  /** `READ_REPLICATION_SLOT name`; null when the slot does not exist. */
  async readSlot(name: string): Promise<SlotInfo | null> {
    assertSlotName(name);
    const row = firstRow(
      await this.command(`READ_REPLICATION_SLOT ${name}`, `reading replication slot "${name}"`),
      'READ_REPLICATION_SLOT',
      this.node,
    );
    const [slotType, restartLsn, restartTimeline] = row;
    if (slotType === null || slotType === undefined) return null;
    if (slotType !== 'physical' && slotType !== 'logical') {
      throw new TidemarkError(
        'internal',
        `PostgreSQL at ${this.node} reported an unknown slot type "${slotType}" for "${name}".`,
      );
    }
    return {
      slotType,
      restartLsn: restartLsn ? parseLsn(restartLsn) : null,
      restartTimeline: restartTimeline ? Number.parseInt(restartTimeline, 10) : null,
    };
  }

  /** `DROP_REPLICATION_SLOT name [WAIT]`: with `wait`, waits until no client uses the slot. */
  async dropSlot(name: string, options: { wait: boolean }): Promise<void> {
    assertSlotName(name);
    await this.command(
      `DROP_REPLICATION_SLOT ${name}${options.wait ? ' WAIT' : ''}`,
      `dropping replication slot "${name}"`,
    );
  }

  /** `TIMELINE_HISTORY tli`: the `.history` file that describes how the timeline branched off. */
  async timelineHistory(timeline: number): Promise<TimelineHistoryFile> {
    if (!Number.isInteger(timeline) || timeline < 2) {
      throw new TidemarkError(
        'invalid_input',
        `Timeline ${timeline} has no history file (timeline 1 and below have none).`,
      );
    }
    const what = `fetching the history of timeline ${timeline}`;
    const row = firstRow(
      await this.command(`TIMELINE_HISTORY ${timeline}`, what),
      'TIMELINE_HISTORY',
      this.node,
    );
    const content = required(row, 1, 'TIMELINE_HISTORY', this.node);
    // pg-protocol decodes every field as UTF-8: only valid UTF-8 survives the round trip exactly
    if (content.includes('\uFFFD')) {
      throw new TidemarkError(
        'unsupported',
        `The history file of timeline ${timeline} on ${this.node} contains bytes that are not UTF-8 (a restore point name in another encoding?); it cannot be archived exactly.`,
      );
    }
    return {
      filename: required(row, 0, 'TIMELINE_HISTORY', this.node),
      content: Buffer.from(content, 'utf8'),
    };
  }

  /**
   * Runs a replication command and returns its result sets. `what` names it in errors.
   * `handlers` receive the COPY traffic; use `startCommand` to get at the query itself.
   */
  async command(text: string, what: string, handlers?: CopyHandlers): Promise<ResultSet[]> {
    return this.startCommand(text, what, handlers).done;
  }

  /** Starts a command and returns it running, for callers that hold the socket or send CopyData. */
  startCommand(
    text: string,
    what: string,
    handlers?: CopyHandlers,
  ): { query: ReplicationQuery; done: Promise<ResultSet[]> } {
    const query = new ReplicationQuery(text, handlers);
    if (this.isClosed || this.lostError) {
      const cause = this.lostError ?? new Error('the connection is closed');
      return { query, done: Promise.reject(commandError(cause, { node: this.node, what })) };
    }
    if (this.active && !this.active.isSettled) {
      // pg would queue it behind a stream that may never end
      return {
        query,
        done: Promise.reject(
          new TidemarkError(
            'internal',
            `Cannot start ${what} on ${this.node}: another replication command is still running on this connection.`,
          ),
        ),
      };
    }
    this.active = query;
    this.client.query(query);
    const done = query.done.catch((err: unknown) => {
      throw commandError(err, { node: this.node, what });
    });
    return { query, done };
  }

  /** Closes the connection; a running command fails. Never throws. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await endClient(this.client);
  }
}

function nodeName(config: { host: string; port: number }): string {
  return `${config.host.includes(':') ? `[${config.host}]` : config.host}:${config.port}`;
}

async function connectClient(
  config: ReplicationConnectionConfig,
  ssl: PgSsl,
  replication = true,
): Promise<pg.Client> {
  const client = new pg.Client({
    host: config.host,
    port: config.port,
    user: config.user,
    ...(config.password !== undefined ? { password: config.password } : {}),
    database: config.database ?? 'postgres',
    ssl,
    application_name: config.applicationName,
    connectionTimeoutMillis: config.connectTimeoutMs,
    // long streams: notice a vanished peer without waiting hours for the OS default
    keepAlive: true,
    keepAliveInitialDelayMillis: 30_000,
    ...(replication ? { replication: true } : {}),
  });
  // errors after a failed connect (e.g. the socket closing) must not crash the process
  const swallow = (): void => undefined;
  client.on('error', swallow);
  try {
    await client.connect();
  } catch (err) {
    await endClient(client);
    throw err;
  }
  client.off('error', swallow);
  return client;
}

async function endClient(client: pg.Client): Promise<void> {
  const swallow = (): void => undefined;
  client.on('error', swallow);
  // reading may be paused by a hold: the socket only closes once it reads the server's FIN
  client.connection.stream.resume();
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    client.end().catch(() => undefined),
    new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        client.connection.stream.destroy();
        resolve();
      }, closeTimeoutMs);
    }),
  ]);
  clearTimeout(timer);
}

function hbaRefusedPlainTcp(err: unknown): boolean {
  return (
    err instanceof Error &&
    (err as { code?: string }).code === '28000' &&
    /no encryption/.test(err.message)
  );
}

/** Whether pg_hba.conf lets the same login in over TLS (unverified: this only explains a refusal). */
async function probeTlsAccepted(config: ReplicationConnectionConfig): Promise<boolean> {
  try {
    await endClient(await connectClient(config, { rejectUnauthorized: false }));
    return true;
  } catch (err) {
    return (
      !(err instanceof Error && (err as { code?: string }).code === '28000') &&
      !tlsFallbackAllowed('prefer', err)
    );
  }
}

function isServerError53300WithNoSenders(err: unknown): boolean {
  return (
    err instanceof Error &&
    (err as { code?: string }).code === '53300' &&
    /max_wal_senders \(currently 0\)/.test(err.message)
  );
}

/** Over a normal connection: explains a walsender refusal (wal_level = minimal forces max_wal_senders = 0). */
async function probeWalLevel(
  config: ReplicationConnectionConfig,
  ssl: PgSsl,
): Promise<string | undefined> {
  try {
    const client = await connectClient(config, ssl, false);
    try {
      const result = await client.query<{ wal_level: string }>('SHOW wal_level');
      return result.rows[0]?.wal_level;
    } finally {
      await endClient(client);
    }
  } catch {
    return undefined;
  }
}

async function simpleShow(client: pg.Client, name: string, node: string): Promise<string> {
  const query = new ReplicationQuery(`SHOW ${name}`);
  client.query(query);
  const sets = await query.done.catch((err: unknown) => {
    throw commandError(err, { node, what: `SHOW ${name}` });
  });
  return required(firstRow(sets, `SHOW ${name}`, node), 0, `SHOW ${name}`, node);
}

function firstRow(sets: ResultSet[], command: string, node: string): (string | null)[] {
  const row = sets[0]?.rows[0];
  if (!row)
    throw new TidemarkError('internal', `PostgreSQL at ${node} answered ${command} without a row.`);
  return row;
}

function required(row: (string | null)[], index: number, command: string, node: string): string {
  const value = row[index];
  if (value === null || value === undefined) {
    throw new TidemarkError(
      'internal',
      `PostgreSQL at ${node} answered ${command} without column ${index + 1}.`,
    );
  }
  return value;
}

function assertSlotName(name: string): void {
  if (!slotNamePattern.test(name)) {
    throw new TidemarkError(
      'invalid_input',
      `"${name}" is not a valid replication slot name: use 1 to 63 lower-case letters, digits and underscores.`,
    );
  }
}

/** Parses a size as SHOW formats it (`16MB`, `1GB`, `8192kB`, `512B`). */
export function parseByteSize(text: string): number | null {
  const match = /^(\d+)\s*(B|kB|MB|GB|TB)?$/.exec(text.trim());
  if (!match) return null;
  const units: Record<string, number> = {
    B: 1,
    kB: 1024,
    MB: 1024 ** 2,
    GB: 1024 ** 3,
    TB: 1024 ** 4,
  };
  return Number.parseInt(match[1] as string, 10) * (units[match[2] ?? 'B'] ?? 1);
}

function formatVersion(version: number): string {
  if (!Number.isFinite(version)) return 'unknown';
  return version >= 100000
    ? `${Math.floor(version / 10000)}.${version % 10000}`
    : `${Math.floor(version / 10000)}.${Math.floor(version / 100) % 100}`;
}
