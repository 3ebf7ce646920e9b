import { createReadStream, existsSync } from 'node:fs';
import { chown, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TidemarkError } from '../../main/engine/errors.js';
import type { ProvisionedNode, ProvisionRequest } from '../../main/engine/restore/provisioner.js';
import { renderAutoConf } from '../../main/engine/restore/recovery-config.js';
import type { SshHostConfigInput } from '../../main/engine/restore/ssh-config.js';
import { SshProvisioner } from '../../main/engine/restore/ssh-provisioner.js';
import { SshSession } from '../../main/engine/restore/ssh-session.js';
import { SshTunnelSocket } from '../../main/engine/restore/ssh-tunnel-socket.js';
import { writeSpoolPlan } from '../../main/engine/restore/wal-spool.js';
import { PgInstance, postgresAvailable, runPg } from '../support/postgres.js';
import { makeKeyPair, sshdAvailable, startSshd } from '../support/sshd.js';
import type { TestSshd } from '../support/sshd.js';
import { tempDir } from '../support/temp-dir.js';
import { freePort } from '../support/free-port.js';

const ready = postgresAvailable() && sshdAvailable();

describe.skipIf(!ready)('SSH provisioner against a real sshd on loopback', () => {
  let root: { path: string; cleanup: () => Promise<void> };
  let sshd: TestSshd;
  let source: PgInstance;
  /** the "remote" folder: owned by the SSH user, as on a real target host */
  let remote: string;
  let archive: string;
  let backup: string;
  const provisioners: SshProvisioner[] = [];
  /** nodes a failed test may have left running */
  const nodes: ProvisionedNode[] = [];

  const hostConfig = (overrides: Partial<SshHostConfigInput> = {}): SshHostConfigInput => ({
    host: '127.0.0.1',
    port: sshd.port,
    user: sshd.user,
    auth: { privateKeyPath: sshd.privateKeyPath },
    hostKey: { sha256: sshd.hostKeyFingerprint },
    baseDir: remote,
    nodes: ['n1'],
    ...overrides,
  });
  const provisioner = (overrides: Partial<SshHostConfigInput> = {}): SshProvisioner => {
    const p = new SshProvisioner({ hosts: [hostConfig(overrides)] });
    provisioners.push(p);
    return p;
  };
  const request = (overrides: Partial<ProvisionRequest> = {}): ProvisionRequest => ({
    majorVersion: 15,
    sharedPreloadLibraries: [],
    extensions: [],
    nodes: [{ nodeId: 'n1', baseDir: join(remote, 'n1'), port: 0, tablespaces: {} }],
    bytesNeeded: { n1: 64 * 1024 * 1024 },
    ...overrides,
  });

  beforeAll(async () => {
    root = await tempDir('tidemark-ssh-');
    await mkdir(join(root.path, 'sshd'), { mode: 0o777 });
    sshd = await startSshd(join(root.path, 'sshd'));
    remote = join(root.path, 'remote');
    archive = join(root.path, 'archive');
    backup = join(root.path, 'backup');
    await mkdir(remote);
    await mkdir(archive, { mode: 0o777 });
    const { uid, gid } = await ownerOf(sshd.user);
    await chown(remote, uid, gid);
    await chown(archive, uid, gid);
    source = await PgInstance.create({
      dir: join(root.path, 'source'),
      conf: { archive_mode: 'on', archive_command: `'cp %p ${archive}/%f'` },
      hba: ['local replication all trust'],
    });
  });

  afterAll(async () => {
    for (const node of nodes) await node.destroy().catch(() => undefined);
    await Promise.all(provisioners.map((p) => p.close()));
    await source?.stop();
    await sshd?.stop();
    await root?.cleanup();
  });

  it('check() passes for an installed PostgreSQL 15 and an empty target', async () => {
    const problems = await provisioner().check(
      request({
        sharedPreloadLibraries: ['pg_stat_statements'],
        extensions: ['dblink', 'plpgsql'],
      }),
    );
    expect(problems).toEqual([]);
  });

  it('check() names a wrong major version, a missing library and extension, a non-empty folder, a port in use and too little disk', async () => {
    await mkdir(join(remote, 'busy'));
    await writeFile(join(remote, 'busy', 'PG_VERSION'), '15\n');
    const { uid, gid } = await ownerOf(sshd.user);
    await chown(join(remote, 'busy'), uid, gid);
    const p = provisioner({ nodes: ['n1', 'n2'] });
    const problems = await p.check(
      request({
        majorVersion: 14,
        sharedPreloadLibraries: ['citus'],
        extensions: ['citus'],
        nodes: [
          { nodeId: 'n1', baseDir: join(remote, 'busy'), port: 0, tablespaces: {} },
          { nodeId: 'n2', baseDir: join(remote, 'n2'), port: source.port, tablespaces: {} },
        ],
        bytesNeeded: { n1: 1024, n2: 2 ** 60 },
      }),
    );
    const messages = problems.map((p) => p.message);
    expect(
      messages.some((m) => m.includes('PostgreSQL 15') && m.includes('backup is PostgreSQL 14')),
    ).toBe(true);
    expect(problems.some((p) => /library "citus"/.test(p.message))).toBe(true);
    expect(problems.some((p) => /extension "citus"/.test(p.message))).toBe(true);
    expect(problems).toContainEqual({
      nodeId: 'n1',
      message: expect.stringContaining(
        `${join(remote, 'busy')} on ${sshd.user}@127.0.0.1:${sshd.port} is not empty`,
      ) as string,
    });
    expect(problems).toContainEqual({
      nodeId: 'n2',
      message: expect.stringContaining(`Port ${source.port} is already in use`) as string,
    });
    expect(problems).toContainEqual({
      nodeId: null,
      message: expect.stringMatching(/free but nodes n1, n2 need 1073741824\.00 GiB/) as string,
    });
    expect(problems, JSON.stringify(problems, null, 1)).toHaveLength(6);
    await expect(
      p.createNode({ nodeId: 'n1', baseDir: join(remote, 'busy'), port: 0, tablespaces: {} }),
    ).rejects.toMatchObject({
      code: 'conflict',
      message: expect.stringContaining('busy exists and is not an empty folder') as string,
    });
    expect(await readdir(join(remote, 'busy'))).toEqual(['PG_VERSION']);
  });

  it('refuses an unknown host key and shows its fingerprint; refuses a changed one', async () => {
    const unknown = provisioner({ hostKey: undefined });
    const [problem] = await unknown.check(request());
    expect(problem?.message).toContain('not known yet');
    expect(problem?.message).toContain(sshd.hostKeyFingerprint);
    const err = await unknown
      .createNode({ nodeId: 'n1', baseDir: join(remote, 'n1'), port: 0, tablespaces: {} })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TidemarkError);
    expect(err).toMatchObject({
      code: 'permission_denied',
      details: { reason: 'unknown_host_key', fingerprint: sshd.hostKeyFingerprint },
    });

    const other = `SHA256:${'A'.repeat(43)}`;
    const mismatch = await SshSession.connect({
      ...hostConfig(),
      port: sshd.port,
      hostKey: { sha256: other },
    } as never).catch((e: unknown) => e);
    expect(mismatch).toMatchObject({
      code: 'permission_denied',
      details: {
        reason: 'host_key_mismatch',
        fingerprint: sshd.hostKeyFingerprint,
        expected: other,
      },
    });
    expect(existsSync(join(remote, 'n1'))).toBe(false);
  });

  it('reports a key the server does not accept, a wrong passphrase and an unreachable port', async () => {
    const strangerKey = join(root.path, 'stranger_key');
    await makeKeyPair(strangerKey);
    const [wrongKey] = await provisioner({ auth: { privateKeyPath: strangerKey } }).check(
      request(),
    );
    expect(wrongKey?.message).toMatch(/refused the SSH login/);
    await expect(
      SshSession.connect({
        host: '127.0.0.1',
        port: sshd.port,
        user: sshd.user,
        auth: { privateKeyPath: strangerKey },
        hostKey: { sha256: sshd.hostKeyFingerprint },
      }),
    ).rejects.toMatchObject({ code: 'authentication_failed' });

    const lockedKey = join(root.path, 'locked_key');
    await makeKeyPair(lockedKey, 'right passphrase');
    await expect(
      SshSession.connect({
        host: '127.0.0.1',
        port: sshd.port,
        user: sshd.user,
        auth: { privateKeyPath: lockedKey, passphrase: 'wrong' },
        hostKey: { sha256: sshd.hostKeyFingerprint },
      }),
    ).rejects.toMatchObject({ code: 'authentication_failed' });

    const closedPort = await freePort();
    const [unreachable] = await provisioner({ port: closedPort }).check(request());
    expect(unreachable?.message).toContain(`127.0.0.1:${closedPort}`);
    await expect(
      SshSession.connect({
        host: '127.0.0.1',
        port: closedPort,
        user: sshd.user,
        auth: { privateKeyPath: sshd.privateKeyPath },
      }),
    ).rejects.toMatchObject({ code: 'connection_failed' });
  });

  it('tunnels to a TCP port on the remote loopback without a local listener', async () => {
    const session = await SshSession.connect({
      host: '127.0.0.1',
      port: sshd.port,
      user: sshd.user,
      auth: { privateKeyPath: sshd.privateKeyPath },
      hostKey: { sha256: sshd.hostKeyFingerprint },
    });
    try {
      const client = new pg.Client({
        ...source.connectionConfig(),
        stream: () => new SshTunnelSocket(() => session.openTcp('127.0.0.1', source.port)),
      });
      await client.connect();
      const { rows } = await client.query<{ answer: number }>('SELECT 6 * 7 AS answer');
      await client.end();
      expect(rows[0]?.answer).toBe(42);
    } finally {
      await session.close();
    }
  });

  it('restores a base backup and archived WAL to a named restore point, streaming everything over SSH', async () => {
    await source.query('CREATE TABLE t (id int PRIMARY KEY, phase text)');
    await source.query(`INSERT INTO t SELECT g, 'before-backup' FROM generate_series(1, 1000) g`);
    await runPg('pg_basebackup', [
      '-h',
      source.dir,
      '-p',
      String(source.port),
      '-U',
      'postgres',
      '-D',
      backup,
      '-Ft',
      '-X',
      'none',
      '-c',
      'fast',
      '--no-manifest',
    ]);
    await source.query(`INSERT INTO t SELECT g, 'after-backup' FROM generate_series(1001, 1500) g`);
    await source.query(`SELECT pg_create_restore_point('p1')`);
    await source.query(`INSERT INTO t SELECT g, 'after-point' FROM generate_series(1501, 1600) g`);
    const [{ last } = { last: '' }] = await source.query<{ last: string }>(
      'SELECT pg_walfile_name(pg_switch_wal()) AS last',
    );
    await waitFor(
      async () =>
        ((
          await source.query<{ w: string | null }>(
            'SELECT last_archived_wal AS w FROM pg_stat_archiver',
          )
        )[0]?.w ?? '') >= last,
      'WAL archived',
    );
    expect(await readdir(backup)).toEqual(['base.tar']);

    // Every temp file the process might make would land here.
    const sandbox = join(root.path, 'local-tmp');
    await mkdir(sandbox);
    const savedTmp = process.env.TMPDIR;
    process.env.TMPDIR = sandbox;
    const fixturesBefore = await listTree(root.path, ['source', 'archive', 'remote', 'local-tmp']);
    try {
      const p = provisioner();
      expect(await p.check(request())).toEqual([]);
      const node = await p.createNode({
        nodeId: 'n1',
        baseDir: join(remote, 'n1'),
        port: 0,
        tablespaces: {},
      });
      nodes.push(node);
      expect(node.dataDir).toBe(join(remote, 'n1', 'data'));
      expect(node.port).toBeGreaterThanOrEqual(5432);

      await node.extractArchive({ kind: 'data' }, { stream: createReadStream(join(backup, 'base.tar')), compression: 'none' });
      expect((await node.readDataFile('PG_VERSION'))?.toString()).toBe('15\n');
      expect(await node.readDataFile('no-such-file')).toBeNull();
      await expect(node.writeDataFile('../escape', 'x')).rejects.toMatchObject({
        code: 'invalid_input',
      });

      await node.writeDataFile('recovery.signal', '');
      const settings = new Map([
        ['restore_command', node.restoreCommand()],
        ['recovery_target_name', 'p1'],
        ['recovery_target_action', 'promote'],
        ['recovery_target_timeline', 'latest'],
        ['archive_mode', 'off'],
        ['listen_addresses', ''],
      ]);
      await node.writeDataFile(
        'postgresql.auto.conf',
        renderAutoConf(settings, 'restore of n1 to p1'),
      );
      expect((await node.readDataFile('postgresql.auto.conf'))?.toString()).toContain(
        "recovery_target_name = 'p1'",
      );

      const segments = (await readdir(archive)).filter((f) => /^[0-9A-F]{24}$/.test(f)).sort();
      await writeSpoolPlan(node, segments);
      for (const segment of segments)
        await node.putSpoolFile(segment, createReadStream(join(archive, segment)));
      expect(await node.listSpool()).toEqual(segments);
      await expect(node.putSpoolFile('../x', Buffer.from('x'))).rejects.toMatchObject({
        code: 'invalid_input',
      });

      await node.start();
      expect(await node.isRunning()).toBe(true);
      const config = await node.connectionConfig('postgres');
      expect(config.stream).toBeTypeOf('function');
      await waitFor(
        async () => !(await queryVia(config, 'SELECT pg_is_in_recovery() AS r'))[0]?.r,
        'promotion',
      );
      const counts = await queryVia(
        config,
        'SELECT phase, count(*)::int AS n FROM t GROUP BY phase ORDER BY phase',
      );
      expect(counts).toEqual([
        { phase: 'after-backup', n: 500 },
        { phase: 'before-backup', n: 1000 },
      ]);
      expect(await node.logTail(100)).toMatch(/recovery stopping at restore point "p1"/);
      // replay took what it needed out of the spool
      const left = await node.listSpool();
      expect(left.length).toBeLessThan(segments.length);

      await node.destroy();
      expect(existsSync(join(remote, 'n1'))).toBe(false);
      expect(await readdir(remote)).not.toContain('n1');
      await p.close();
    } finally {
      if (savedTmp === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = savedTmp;
    }
    expect(await readdir(sandbox)).toEqual([]);
    expect(await listTree(root.path, ['source', 'archive', 'remote', 'local-tmp'])).toEqual(
      fixturesBefore,
    );
  });

  it('puts several nodes on one host, each with its own folder and port', async () => {
    const p = provisioner({ nodes: ['n1', 'n2', 'n3'] });
    const specs = ['n1', 'n2', 'n3'].map((nodeId) => ({
      nodeId,
      baseDir: join(remote, 'multi', nodeId),
      port: 0,
      tablespaces: {},
    }));
    expect(await p.check(request({ nodes: specs, bytesNeeded: {} }))).toEqual([]);
    const created = await Promise.all(specs.map((spec) => p.createNode(spec)));
    nodes.push(...created);
    expect(new Set(created.map((n) => n.port)).size).toBe(3);
    expect(created.map((n) => n.dataDir)).toEqual(specs.map((s) => join(s.baseDir, 'data')));
    await Promise.all(created.map((n) => n.destroy()));
    expect(await readdir(join(remote, 'multi'))).toEqual([]);
  });

  it('fails loudly when the remote tar fails, and refuses unsafe entries before they reach it', async () => {
    const p = provisioner();
    // every remote argument is quoted: this folder name must neither break a command nor run one
    // (a successful injection would create "pwned" in the SSH user's home, the remote commands' working folder)
    const odd = `x'y "$(touch pwned)";z`;
    const oddProblems = await p.check(
      request({ nodes: [{ nodeId: 'n1', baseDir: join(remote, odd), port: 0, tablespaces: {} }] }),
    );
    expect(oddProblems, JSON.stringify(oddProblems)).toEqual([]);
    const node = await p.createNode({
      nodeId: 'n1',
      baseDir: join(remote, odd),
      port: 0,
      tablespaces: {},
    });
    nodes.push(node);
    expect(existsSync(join(remote, odd, 'data'))).toBe(true);
    // a well-formed archive tar cannot extract: a file, then a file "inside" it
    const remoteFails = node.extractArchive(
      { kind: 'data' },
      {
        stream: Readable.from([
          tarOf([
            ['a', 'x'],
            ['a/b', 'y'],
          ]),
        ]),
        compression: 'none',
      },
    );
    await expect(remoteFails).rejects.toThrow(
      /Extracting the base backup of node n1 .* failed on .*exit status 2.*Not a directory/s,
    );
    await expect(
      node.extractArchive({ kind: 'data' }, { stream: Readable.from([Buffer.alloc(4096, 0x41)]), compression: 'none' }),
    ).rejects.toMatchObject({ code: 'corrupt_object' });
    await expect(
      node.extractArchive({ kind: 'data' }, { stream: Readable.from([tarOf([['../outside', 'x']])]), compression: 'none' }),
    ).rejects.toThrow(/points outside the target folder/);
    // A source that fails midway (a chunk that does not authenticate) is the error reported, not the remote tar's broken input.
    const damagedSource = new Readable({ read() {} });
    damagedSource.push(tarOf([['ok', 'x']]).subarray(0, 512));
    setTimeout(() => damagedSource.destroy(new TidemarkError('corrupt_object', 'Object k failed authentication at chunk 3.')), 50);
    await expect(node.extractArchive({ kind: 'data' }, { stream: damagedSource, compression: 'none' })).rejects.toMatchObject({ code: 'corrupt_object', message: expect.stringContaining('chunk 3') });
    expect(existsSync(join(remote, 'outside'))).toBe(false);

    // a WAL source failing midway leaves neither the file nor a temp file in the spool
    const failing = new Readable({ read() {} });
    failing.push(Buffer.alloc(1024 * 1024, 1));
    setTimeout(() => failing.destroy(new Error('zone read failed')), 50);
    await expect(node.putSpoolFile('000000010000000000000009', failing)).rejects.toThrow(
      'zone read failed',
    );
    expect(await readdir(node.walSpoolDir)).toEqual([]);
    await node.putSpoolFile('000000010000000000000009', Buffer.alloc(1000, 2));
    expect(await node.listSpool()).toEqual(['000000010000000000000009']);
    expect(
      (await readFile(join(node.walSpoolDir, '000000010000000000000009'))).equals(
        Buffer.alloc(1000, 2),
      ),
    ).toBe(true);
    await node.destroy();
    expect(existsSync(join(remote, odd))).toBe(false);
    expect(existsSync(join(await homeOf(sshd.user), 'pwned'))).toBe(false);
  });
});

async function ownerOf(user: string): Promise<{ uid: number; gid: number }> {
  const line = (await readFile('/etc/passwd', 'utf8'))
    .split('\n')
    .find((l) => l.startsWith(`${user}:`));
  const [, , uid, gid] = line?.split(':') ?? [];
  return { uid: Number(uid ?? process.getuid?.()), gid: Number(gid ?? process.getgid?.()) };
}

async function homeOf(user: string): Promise<string> {
  const line = (await readFile('/etc/passwd', 'utf8'))
    .split('\n')
    .find((l) => l.startsWith(`${user}:`));
  return line?.split(':')[5] ?? '/nonexistent';
}

async function queryVia(config: pg.ClientConfig, sql: string): Promise<Record<string, unknown>[]> {
  const client = new pg.Client({ ...config, user: 'postgres' });
  await client.connect();
  try {
    return (await client.query(sql)).rows as Record<string, unknown>[];
  } finally {
    await client.end();
  }
}

async function waitFor(
  condition: () => Promise<boolean>,
  what: string,
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

/** Relative paths of every file under `dir`, except the named top-level folders. */
async function listTree(dir: string, except: string[]): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true });
  return entries.filter((e) => !except.some((x) => e === x || e.startsWith(`${x}/`))).sort();
}

/** A ustar archive of regular files (for failure cases; real archives come from pg_basebackup). */
function tarOf(files: [string, string][]): Buffer {
  const blocks: Buffer[] = [];
  for (const [name, content] of files) {
    const header = Buffer.alloc(512);
    header.write(name, 0, 'utf8');
    header.write('0000644\0', 100);
    header.write('0000000\0', 108);
    header.write('0000000\0', 116);
    header.write(`${Buffer.byteLength(content).toString(8).padStart(11, '0')}\0`, 124);
    header.write('00000000000\0', 136);
    header.write('        ', 148);
    header.write('0', 156);
    header.write('ustar\0', 257);
    header.write('00', 263);
    let sum = 0;
    for (const byte of header) sum += byte;
    header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
    const body = Buffer.alloc(Math.ceil(Buffer.byteLength(content) / 512) * 512);
    body.write(content);
    blocks.push(header, body);
  }
  return Buffer.concat([...blocks, Buffer.alloc(1024)]);
}
