import { describe, expect, it } from 'vitest';
import { parseByteSize } from '../../main/engine/replication/replication-connection.js';
import { pgSslAttempts } from '../../main/engine/net/tls-options.js';

const ca = '-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n';

describe('pgSslAttempts', () => {
  it('disable: plain TCP only', () => {
    expect(pgSslAttempts({ mode: 'disable' })).toEqual([false]);
  });

  it('prefer (also the default): unverified TLS, then plain TCP', () => {
    expect(pgSslAttempts(undefined)).toEqual([{ rejectUnauthorized: false }, false]);
    expect(pgSslAttempts({ mode: 'prefer' })).toEqual([{ rejectUnauthorized: false }, false]);
  });

  it('require: encryption without verification, or verify-ca when a CA is given (as libpq)', () => {
    expect(pgSslAttempts({ mode: 'require' })).toEqual([{ rejectUnauthorized: false }]);
    const [withCa] = pgSslAttempts({ mode: 'require', ca });
    expect(withCa).toMatchObject({ ca, rejectUnauthorized: true });
  });

  it('verify-ca: chain checked, host name not', () => {
    const [options] = pgSslAttempts({ mode: 'verify-ca', ca });
    if (!options) throw new Error('no attempt');
    expect(options).toMatchObject({ ca, rejectUnauthorized: true });
    expect(options.checkServerIdentity?.('wrong.example', {} as never)).toBeUndefined();
  });

  it('verify-full with the host: the name is checked against it, IP addresses included', () => {
    const [options] = pgSslAttempts({ mode: 'verify-full', ca }, '10.0.0.5');
    if (!options) throw new Error('no attempt');
    const cert = { subject: { CN: 'db' }, subjectaltname: 'IP Address:10.0.0.5' } as never;
    expect(options.checkServerIdentity?.('ignored', cert)).toBeUndefined();
    const other = { subject: { CN: 'db' }, subjectaltname: 'IP Address:10.0.0.6' } as never;
    expect(options.checkServerIdentity?.('ignored', other)).toBeInstanceOf(Error);
  });

  it('verify-full: chain and host name (Node default identity check)', () => {
    const [options] = pgSslAttempts({ mode: 'verify-full', ca, cert: 'C', key: 'K' });
    expect(options).toEqual({ ca, cert: 'C', key: 'K', rejectUnauthorized: true });
  });
});

describe('parseByteSize', () => {
  it('reads what SHOW prints', () => {
    expect(parseByteSize('16MB')).toBe(16 * 1024 * 1024);
    expect(parseByteSize('1GB')).toBe(1024 ** 3);
    expect(parseByteSize('8192kB')).toBe(8192 * 1024);
    expect(parseByteSize('512')).toBe(512);
    expect(parseByteSize('16 MB')).toBe(16 * 1024 * 1024);
    expect(parseByteSize('lots')).toBeNull();
  });
});
