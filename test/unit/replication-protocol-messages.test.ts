import { describe, expect, it } from 'vitest';
import { TidemarkError } from '../../main/engine/errors.js';
import {
  encodeStandbyStatus,
  fromPostgresTime,
  parseBaseBackupMessage,
  parseWalSenderMessage,
  postgresEpochMs,
  toPostgresTime,
} from '../../main/engine/replication/protocol-messages.js';

describe('PostgreSQL time', () => {
  it('counts microseconds from 2000-01-01', () => {
    expect(toPostgresTime(Date.UTC(2000, 0, 1))).toBe(0n);
    expect(toPostgresTime(Date.UTC(2000, 0, 1, 0, 0, 1))).toBe(1_000_000n);
    expect(toPostgresTime(Date.UTC(1999, 11, 31, 23, 59, 59))).toBe(-1_000_000n);
    expect(postgresEpochMs).toBe(Date.UTC(2000, 0, 1));
    const now = Date.UTC(2026, 10, 24, 12, 0, 0, 123);
    expect(fromPostgresTime(toPostgresTime(now))).toBe(now);
  });
});

describe('base backup messages', () => {
  it('decodes new archive, data, progress and manifest', () => {
    expect(parseBaseBackupMessage(Buffer.from('n16384.tar\0/srv/ts1\0', 'latin1'))).toEqual({
      type: 'archive',
      name: '16384.tar',
      tablespacePath: '/srv/ts1',
    });
    expect(parseBaseBackupMessage(Buffer.from('nbase.tar.lz4\0\0', 'latin1'))).toEqual({
      type: 'archive',
      name: 'base.tar.lz4',
      tablespacePath: '',
    });
    const data = parseBaseBackupMessage(Buffer.from('dabc'));
    expect(data.type === 'data' && data.bytes.toString()).toBe('abc');
    const progress = Buffer.alloc(9);
    progress[0] = 0x70;
    progress.writeBigInt64BE(123456789012n, 1);
    expect(parseBaseBackupMessage(progress)).toEqual({
      type: 'progress',
      bytesDone: 123456789012n,
    });
    expect(parseBaseBackupMessage(Buffer.from('m'))).toEqual({ type: 'manifest' });
  });

  it('refuses unknown or truncated messages', () => {
    expect(() => parseBaseBackupMessage(Buffer.from('x'))).toThrow(TidemarkError);
    expect(() => parseBaseBackupMessage(Buffer.alloc(0))).toThrow(TidemarkError);
    expect(() => parseBaseBackupMessage(Buffer.from('nbase.tar\0'))).toThrow(TidemarkError);
    expect(() => parseBaseBackupMessage(Buffer.from('p1234'))).toThrow(TidemarkError);
  });
});

describe('walsender messages', () => {
  it('decodes XLogData as a view', () => {
    const chunk = Buffer.alloc(25 + 4);
    chunk[0] = 0x77;
    chunk.writeBigUInt64BE(0x16_b3000000n, 1);
    chunk.writeBigUInt64BE(0x16_b4000000n, 9);
    chunk.writeBigInt64BE(42n, 17);
    chunk.write('WAL!', 25);
    const message = parseWalSenderMessage(chunk);
    expect(message).toMatchObject({
      type: 'xlogdata',
      dataStart: 0x16_b3000000n,
      walEnd: 0x16_b4000000n,
      sendTime: 42n,
    });
    if (message.type !== 'xlogdata') throw new Error('not xlogdata');
    expect(message.bytes.toString()).toBe('WAL!');
    chunk[25] = 0x77;
    expect(message.bytes.toString()).toBe('wAL!');
  });

  it('decodes keepalives with and without a reply request', () => {
    const chunk = Buffer.alloc(18);
    chunk[0] = 0x6b;
    chunk.writeBigUInt64BE(0xffff_ffff_ffff_fff0n, 1);
    chunk.writeBigInt64BE(-5n, 9);
    expect(parseWalSenderMessage(chunk)).toEqual({
      type: 'keepalive',
      walEnd: 0xffff_ffff_ffff_fff0n,
      sendTime: -5n,
      replyRequested: false,
    });
    chunk[17] = 1;
    expect(parseWalSenderMessage(chunk)).toMatchObject({ replyRequested: true });
  });

  it('refuses unknown or truncated messages', () => {
    expect(() => parseWalSenderMessage(Buffer.from('w123'))).toThrow(TidemarkError);
    expect(() => parseWalSenderMessage(Buffer.from('k'))).toThrow(TidemarkError);
    expect(() => parseWalSenderMessage(Buffer.from('r'))).toThrow(TidemarkError);
  });
});

describe('standby status update', () => {
  it('encodes the 34-byte r message', () => {
    const nowMs = Date.UTC(2026, 0, 2, 3, 4, 5, 6);
    const buf = encodeStandbyStatus({
      written: 0x3000100n,
      flushed: 0x3000000n,
      applied: 0n,
      nowMs,
      replyRequested: true,
    });
    expect(buf.length).toBe(34);
    expect(String.fromCharCode(buf[0] as number)).toBe('r');
    expect(buf.readBigUInt64BE(1)).toBe(0x3000100n);
    expect(buf.readBigUInt64BE(9)).toBe(0x3000000n);
    expect(buf.readBigUInt64BE(17)).toBe(0n);
    expect(buf.readBigInt64BE(25)).toBe(BigInt(nowMs - postgresEpochMs) * 1000n);
    expect(buf[33]).toBe(1);
  });
});
