import { execFile } from 'node:child_process';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TidemarkError } from '../../main/engine/errors.js';
import {
  ReplicationConnection,
  type ReplicationConnectionConfig,
} from '../../main/engine/replication/replication-connection.js';
import type { TlsConfig } from '../../main/engine/net/tls-options.js';
import { freePort } from '../support/free-port.js';
import { PgInstance, postgresAvailable } from '../support/postgres.js';
import { tempDir } from '../support/temp-dir.js';

const exec = promisify(execFile);

function config(
  pg: { host: string; port: number },
  overrides: Partial<ReplicationConnectionConfig> = {},
): ReplicationConnectionConfig {
  return {
    host: pg.host,
    port: pg.port,
    user: 'postgres',
    password: 'tidemark-test-pw',
    ssl: { mode: 'disable' },
    applicationName: 'tidemark-errors',
    connectTimeoutMs: 5000,
    ...overrides,
  };
}

async function openError(cfg: ReplicationConnectionConfig): Promise<TidemarkError> {
  const result = await ReplicationConnection.open(cfg).then(
    async (conn) => {
      await conn.close();
      return undefined;
    },
    (err: unknown) => err,
  );
  if (!(result instanceof TidemarkError))
    throw new Error(`expected a TidemarkError, got ${String(result)}`);
  return result;
}

describe.skipIf(!postgresAvailable())('replication connection errors on a real server', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  let pg: PgInstance;
  let node: string;

  beforeAll(async () => {
    dir = await tempDir('tidemark-replerr-');
    pg = await PgInstance.create({
      dir: join(dir.path, 'main'),
      conf: { max_wal_senders: 3, max_replication_slots: 1 },
    });
    node = `${pg.host}:${pg.port}`;
    await pg.query("CREATE ROLE norepl LOGIN PASSWORD 'pw-norepl'");
    await pg.query("CREATE ROLE nohba LOGIN REPLICATION PASSWORD 'pw-nohba'");
    // replication lines for postgres and norepl only: nohba has none
    await writeFile(
      join(pg.dataDir, 'pg_hba.conf'),
      [
        'local all all trust',
        'host all all 127.0.0.1/32 scram-sha-256',
        'host replication postgres 127.0.0.1/32 scram-sha-256',
        'host replication norepl 127.0.0.1/32 scram-sha-256',
        '',
      ].join('\n'),
    );
    await pg.query('SELECT pg_reload_conf()');
  });

  afterAll(async () => {
    await pg?.stop();
    await dir?.cleanup();
  });

  it('connects and reads the server (sanity for the cases below)', async () => {
    const conn = await ReplicationConnection.open(config(pg));
    expect(conn.serverVersion).toBeGreaterThanOrEqual(150000);
    expect(conn.node).toBe(node);
    expect(await conn.show('wal_level')).toBe('replica');
    await conn.close();
    expect(conn.isClosed).toBe(true);
  });

  it('wrong password: authentication_failed', async () => {
    const err = await openError(config(pg, { password: 'not-the-password' }));
    expect(err).toMatchObject({ code: 'authentication_failed', retryable: false });
    expect(err.message).toContain(node);
    expect(err.message).toContain('password');
    expect(err.message).not.toContain('not-the-password');
  });

  it('role without REPLICATION: permission_denied saying how to grant it', async () => {
    const err = await openError(config(pg, { user: 'norepl', password: 'pw-norepl' }));
    expect(err).toMatchObject({ code: 'permission_denied' });
    expect(err.message).toContain(node);
    expect(err.message).toContain('ALTER ROLE "norepl" REPLICATION');
    expect(err.details?.server).toMatch(
      /must be superuser or replication role to start walsender|permission denied to start WAL sender/,
    );
  });

  it('no replication line in pg_hba.conf: permission_denied with the line to add', async () => {
    const err = await openError(config(pg, { user: 'nohba', password: 'pw-nohba' }));
    expect(err).toMatchObject({ code: 'permission_denied' });
    expect(err.details?.server).toMatch(/no pg_hba.conf entry for replication connection/);
    expect(err.message).toContain('host replication nohba');
    expect(err.message).toContain('pg_reload_conf');
  });

  it('nothing listening: retryable connection_failed', async () => {
    const err = await openError(config({ host: '127.0.0.1', port: await freePort() }));
    expect(err).toMatchObject({ code: 'connection_failed', retryable: true });
    expect(err.message).toContain('ECONNREFUSED');
  });

  it('a server that never answers: retryable connection_failed after the connect timeout', async () => {
    const sockets: Socket[] = [];
    const silent = createServer((socket) => void sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const address = silent.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    try {
      const started = Date.now();
      const err = await openError(config({ host: '127.0.0.1', port }, { connectTimeoutMs: 700 }));
      expect(Date.now() - started).toBeLessThan(5000);
      expect(err).toMatchObject({ code: 'connection_failed', retryable: true });
      expect(err.message).toContain('did not answer within 1 s');
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  it('sslmode require against a server with ssl = off: says so; prefer falls back to plain TCP', async () => {
    const err = await openError(config(pg, { ssl: { mode: 'require' } }));
    expect(err).toMatchObject({ code: 'connection_failed', retryable: false });
    expect(err.message).toContain('does not accept TLS (ssl = off)');
    const conn = await ReplicationConnection.open(config(pg, { ssl: { mode: 'prefer' } }));
    await conn.close();
  });

  it('max_wal_senders exhausted: retryable preflight_failed', async () => {
    const held = await Promise.all([1, 2, 3].map(() => ReplicationConnection.open(config(pg))));
    try {
      const err = await openError(config(pg));
      expect(err).toMatchObject({ code: 'preflight_failed', retryable: true });
      expect(err.message).toContain(node);
      expect(err.message).toContain('max_wal_senders');
      expect(err.details?.server).toMatch(
        /number of requested standby connections exceeds max_wal_senders \(currently 3\)/,
      );
    } finally {
      await Promise.all(held.map((c) => c.close()));
    }
  });

  it('slot commands: slots exhausted, duplicate, unknown, bad name, missing history', async () => {
    await waitForFreeWalSender(pg);
    const conn = await ReplicationConnection.open(config(pg));
    try {
      await conn.createPhysicalSlot('only_slot', { reserveWal: false });
      expect(await conn.readSlot('only_slot')).toEqual({
        slotType: 'physical',
        restartLsn: null,
        restartTimeline: null,
      });

      const exhausted = await conn
        .createPhysicalSlot('second_slot', { reserveWal: true })
        .catch((e: unknown) => e);
      expect(exhausted).toMatchObject({ code: 'preflight_failed' });
      expect((exhausted as Error).message).toContain('max_replication_slots');
      expect((exhausted as TidemarkError).details?.server).toMatch(
        /all replication slots are in use/,
      );

      await expect(
        conn.createPhysicalSlot('only_slot', { reserveWal: false }),
      ).rejects.toMatchObject({ code: 'conflict' });
      await expect(conn.dropSlot('no_such_slot', { wait: false })).rejects.toMatchObject({
        code: 'not_found',
      });
      await expect(conn.readSlot('Bad-Name')).rejects.toMatchObject({ code: 'invalid_input' });
      await expect(conn.timelineHistory(2)).rejects.toMatchObject({ code: 'not_found' });
      // the connection is still usable after server errors
      await conn.dropSlot('only_slot', { wait: false });
      expect(await conn.readSlot('only_slot')).toBeNull();
    } finally {
      await conn.close();
    }
  });
});

describe.skipIf(!postgresAvailable())('a server with wal_level = minimal', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  let pg: PgInstance;

  beforeAll(async () => {
    dir = await tempDir('tidemark-minimal-');
    pg = await PgInstance.create({
      dir: join(dir.path, 'minimal'),
      conf: { wal_level: 'minimal', max_wal_senders: 0 },
    });
  });

  afterAll(async () => {
    await pg?.stop();
    await dir?.cleanup();
  });

  it('is refused before any streaming, naming both settings to change', async () => {
    const err = await openError(config(pg));
    expect(err).toMatchObject({ code: 'preflight_failed', retryable: false });
    expect(err.message).toContain(`${pg.host}:${pg.port}`);
    expect(err.message).toContain('max_wal_senders is 0 and wal_level is minimal');
    expect(err.message).toContain('wal_level = replica');
    expect(err.details?.walLevel).toBe('minimal');
  });
});

describe.skipIf(!postgresAvailable())(
  'TLS on a server that accepts replication only over TLS',
  () => {
    let dir: { path: string; cleanup: () => Promise<void> };
    let pg: PgInstance;
    let ca: string;
    let otherCa: string;

    beforeAll(async () => {
      dir = await tempDir('tidemark-tls-');
      const certs = join(dir.path, 'certs');
      await exec('mkdir', ['-p', certs]);
      const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
      await exec('openssl', [
        'req',
        '-x509',
        ...ec,
        '-keyout',
        join(certs, 'ca.key'),
        '-out',
        join(certs, 'ca.crt'),
        '-days',
        '2',
        '-subj',
        '/CN=tidemark-test-ca',
      ]);
      await exec('openssl', [
        'req',
        '-x509',
        ...ec,
        '-keyout',
        join(certs, 'other.key'),
        '-out',
        join(certs, 'other.crt'),
        '-days',
        '2',
        '-subj',
        '/CN=someone-else',
      ]);
      await exec('openssl', [
        'req',
        ...ec,
        '-keyout',
        join(certs, 'server.key'),
        '-out',
        join(certs, 'server.csr'),
        '-subj',
        '/CN=localhost',
      ]);
      await writeFile(join(certs, 'san.ext'), 'subjectAltName=DNS:localhost\n');
      await exec('openssl', [
        'x509',
        '-req',
        '-in',
        join(certs, 'server.csr'),
        '-CA',
        join(certs, 'ca.crt'),
        '-CAkey',
        join(certs, 'ca.key'),
        '-CAcreateserial',
        '-out',
        join(certs, 'server.crt'),
        '-days',
        '2',
        '-extfile',
        join(certs, 'san.ext'),
      ]);
      if (process.getuid?.() === 0) await exec('chown', ['-R', 'postgres:postgres', certs]);
      await chmod(join(certs, 'server.key'), 0o600);
      ca = await readFile(join(certs, 'ca.crt'), 'utf8');
      otherCa = await readFile(join(certs, 'other.crt'), 'utf8');
      pg = await PgInstance.create({
        dir: join(dir.path, 'tls'),
        conf: {
          ssl: 'on',
          ssl_cert_file: `'${join(certs, 'server.crt')}'`,
          ssl_key_file: `'${join(certs, 'server.key')}'`,
        },
        // placed before the defaults: plain-TCP replication connections are turned away
        hba: ['hostnossl replication all 127.0.0.1/32 reject'],
      });
    });

    afterAll(async () => {
      await pg?.stop();
      await dir?.cleanup();
    });

    async function sslInUse(ssl: TlsConfig, host = pg.host): Promise<boolean> {
      const conn = await ReplicationConnection.open(
        config({ host, port: pg.port }, { ssl, applicationName: 'tidemark-tls' }),
      );
      try {
        const rows = await pg.query<{ ssl: boolean }>(
          "SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_replication r USING (pid) WHERE r.application_name = 'tidemark-tls'",
        );
        return rows[0]?.ssl ?? false;
      } finally {
        await conn.close();
      }
    }

    it('sslmode disable: permission_denied saying TLS is required', async () => {
      const err = await openError(config(pg, { ssl: { mode: 'disable' } }));
      expect(err).toMatchObject({ code: 'permission_denied' });
      expect(err.message).toContain('only over TLS');
    });

    it('prefer and require encrypt without verifying', async () => {
      await waitForFreeWalSender(pg);
      expect(await sslInUse({ mode: 'prefer' })).toBe(true);
      await waitForFreeWalSender(pg);
      expect(await sslInUse({ mode: 'require' })).toBe(true);
    });

    it('verify-ca checks the chain but not the name', async () => {
      await waitForFreeWalSender(pg);
      expect(await sslInUse({ mode: 'verify-ca', ca })).toBe(true);
      const err = await openError(config(pg, { ssl: { mode: 'verify-ca', ca: otherCa } }));
      expect(err).toMatchObject({ code: 'connection_failed', retryable: false });
      expect(err.message).toContain('TLS certificate');
    });

    it('verify-full also checks the host name', async () => {
      await waitForFreeWalSender(pg);
      expect(await sslInUse({ mode: 'verify-full', ca }, 'localhost')).toBe(true);
      const err = await openError(config(pg, { ssl: { mode: 'verify-full', ca } }));
      expect(err).toMatchObject({
        code: 'connection_failed',
        details: { tls: 'ERR_TLS_CERT_ALTNAME_INVALID' },
      });
      expect(err.message).toContain('host name');
    });
  },
);

/** Closed walsenders leave asynchronously: wait until none of ours is left. */
async function waitForFreeWalSender(pg: PgInstance): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (
    (await pg.query("SELECT 1 FROM pg_stat_activity WHERE backend_type = 'walsender'")).length > 0
  ) {
    if (Date.now() > deadline) throw new Error('walsenders did not exit');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
