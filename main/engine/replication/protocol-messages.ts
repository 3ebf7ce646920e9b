import { TidemarkError } from '../errors.js';

/**
 * The CopyData payloads of BASE_BACKUP (PG 15+) and START_REPLICATION, decoded and encoded.
 * Decoded `bytes` are views into the given chunk: copy them before keeping them.
 */

/** 2000-01-01T00:00:00Z, PostgreSQL's epoch, in Unix milliseconds. */
export const postgresEpochMs = 946_684_800_000;

/** Unix milliseconds as PostgreSQL's timestamp: microseconds since 2000-01-01. */
export function toPostgresTime(unixMs: number): bigint {
  return BigInt(Math.round(unixMs - postgresEpochMs)) * 1000n;
}

/** PostgreSQL's timestamp (µs since 2000-01-01) as Unix milliseconds. */
export function fromPostgresTime(pgTime: bigint): number {
  return Number(pgTime / 1000n) + postgresEpochMs;
}

export type BaseBackupMessage =
  | { type: 'archive'; name: string; tablespacePath: string }
  | { type: 'data'; bytes: Buffer }
  | { type: 'progress'; bytesDone: bigint }
  | { type: 'manifest' };

export function parseBaseBackupMessage(chunk: Buffer): BaseBackupMessage {
  const type = chunk[0];
  switch (type) {
    case 0x6e: {
      // 'n': new archive: name \0 tablespace path \0
      const nameEnd = chunk.indexOf(0, 1);
      const pathEnd = nameEnd < 0 ? -1 : chunk.indexOf(0, nameEnd + 1);
      if (pathEnd < 0) throw protocolError('a new-archive message without its two strings');
      return {
        type: 'archive',
        name: chunk.toString('utf8', 1, nameEnd),
        tablespacePath: chunk.toString('utf8', nameEnd + 1, pathEnd),
      };
    }
    case 0x64:
      return { type: 'data', bytes: chunk.subarray(1) };
    case 0x70:
      if (chunk.length < 9) throw protocolError('a short progress message');
      return { type: 'progress', bytesDone: chunk.readBigInt64BE(1) };
    case 0x6d:
      return { type: 'manifest' };
    default:
      throw protocolError(`an unknown base backup message type ${describeType(type)}`);
  }
}

export type WalSenderMessage =
  | { type: 'xlogdata'; dataStart: bigint; walEnd: bigint; sendTime: bigint; bytes: Buffer }
  | { type: 'keepalive'; walEnd: bigint; sendTime: bigint; replyRequested: boolean };

export function parseWalSenderMessage(chunk: Buffer): WalSenderMessage {
  const type = chunk[0];
  if (type === 0x77) {
    // 'w': XLogData
    if (chunk.length < 25) throw protocolError('a short XLogData message');
    return {
      type: 'xlogdata',
      dataStart: chunk.readBigUInt64BE(1),
      walEnd: chunk.readBigUInt64BE(9),
      sendTime: chunk.readBigInt64BE(17),
      bytes: chunk.subarray(25),
    };
  }
  if (type === 0x6b) {
    // 'k': primary keepalive
    if (chunk.length < 18) throw protocolError('a short keepalive message');
    return {
      type: 'keepalive',
      walEnd: chunk.readBigUInt64BE(1),
      sendTime: chunk.readBigInt64BE(9),
      replyRequested: chunk[17] === 1,
    };
  }
  throw protocolError(`an unknown WAL sender message type ${describeType(type)}`);
}

export interface StandbyStatus {
  /** WAL received: the position after the last byte */
  written: bigint;
  /** WAL safely stored: the position after the last byte; the slot's restart_lsn follows it */
  flushed: bigint;
  /** WAL applied (0: not a standby that replays) */
  applied: bigint;
  /** Unix milliseconds */
  nowMs: number;
  replyRequested: boolean;
}

/** `'r'` Standby Status Update. */
export function encodeStandbyStatus(status: StandbyStatus): Buffer {
  const buf = Buffer.alloc(34);
  buf[0] = 0x72;
  buf.writeBigUInt64BE(status.written, 1);
  buf.writeBigUInt64BE(status.flushed, 9);
  buf.writeBigUInt64BE(status.applied, 17);
  buf.writeBigInt64BE(toPostgresTime(status.nowMs), 25);
  buf[33] = status.replyRequested ? 1 : 0;
  return buf;
}

function describeType(type: number | undefined): string {
  return type === undefined ? '(empty)' : `0x${type.toString(16).padStart(2, '0')}`;
}

function protocolError(what: string): TidemarkError {
  return new TidemarkError(
    'internal',
    `The server sent ${what}: the replication protocol is out of step. Retry; if it persists, report this server version.`,
  );
}
