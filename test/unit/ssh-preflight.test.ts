import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { TidemarkError } from '../../main/engine/errors.js';
import { sshHostConfigSchema } from '../../main/engine/restore/ssh-config.js';
import { SshProvisioner } from '../../main/engine/restore/ssh-provisioner.js';
import { parsePreflight, preflightScript } from '../../main/engine/restore/ssh-preflight.js';
import { tempDir } from '../support/temp-dir.js';

const exec = promisify(execFile);

describe('SSH host inspection script', () => {
  it('runs under a plain sh and reports folders, libraries and extensions, whatever the names contain', async () => {
    const dir = await tempDir();
    try {
      const bin = join(dir.path, `bin 'q' $(x)`);
      await mkdir(bin);
      // a fake installation: postgres and pg_ctl print a version, lib/ and share/extension/ beside bin/
      await writeFile(
        join(bin, 'postgres'),
        '#!/bin/sh\necho "postgres (PostgreSQL) 15.10 (Debian 15.10-0+deb12u1)"\n',
        { mode: 0o755 },
      );
      await writeFile(join(bin, 'pg_ctl'), '#!/bin/sh\n', { mode: 0o755 });
      await mkdir(join(dir.path, 'lib'));
      await writeFile(join(dir.path, 'lib', 'pg_stat_statements.so'), '');
      await mkdir(join(dir.path, 'share', 'extension'), { recursive: true });
      await writeFile(join(dir.path, 'share', 'extension', 'dblink.control'), '');
      const full = join(dir.path, 'full; rm -rf /');
      await mkdir(full);
      await writeFile(join(full, 'file'), 'x');
      await mkdir(join(dir.path, 'empty'));
      const script = preflightScript({
        binDir: bin,
        majorVersion: 15,
        libraries: ['$libdir/pg_stat_statements', 'citus'],
        extensions: ['dblink', 'citus'],
        paths: [full, join(dir.path, 'empty'), join(dir.path, 'new', 'deeper')],
      });
      const { stdout } = await exec('sh', ['-c', script]);
      const facts = parsePreflight(stdout);
      expect(facts.uid).toBe(process.getuid?.());
      expect(facts.binDir).toBe(bin);
      expect([...facts.programs].sort()).toEqual(['pg_ctl', 'postgres']);
      expect(facts.versionOutput).toContain('(PostgreSQL) 15.10');
      expect(facts.pkglibdir).toBe(join(dir.path, 'lib'));
      expect([...facts.libraries]).toEqual([
        ['pg_stat_statements', true],
        ['citus', false],
      ]);
      expect([...facts.extensions]).toEqual([
        ['dblink', true],
        ['citus', false],
      ]);
      expect(facts.paths.get(full)?.state).toBe('nonempty');
      expect(facts.paths.get(join(dir.path, 'empty'))).toMatchObject({
        state: 'empty',
        writable: true,
      });
      expect(facts.paths.get(join(dir.path, 'new', 'deeper'))?.state).toBe('absent');
      expect(facts.paths.get(full)?.freeBytes).toBeGreaterThan(0);
      expect(facts.tar).toMatch(/tar$/);
    } finally {
      await dir.cleanup();
    }
  });

  it('reads listening ports from ss or from /proc/net/tcp', () => {
    const facts = parsePreflight(
      [
        'listen\t127.0.0.1:5432',
        'listen\t[::]:22',
        'listen\t*:6432',
        'listenhex\t0100007F:1538',
        'listenhex\t00000000000000000000000000000000:0016',
      ].join('\n'),
    );
    expect([...facts.listeningPorts].sort((a, b) => a - b)).toEqual([22, 5432, 6432]);
  });
});

describe('SSH target settings', () => {
  const host = {
    host: 'db1.example',
    user: 'postgres',
    auth: { privateKeyPath: '/k' },
    baseDir: '/srv/restore',
    nodes: ['n1'],
  };

  it('normalizes the host key fingerprint and refuses root, relative folders and a node on two hosts', () => {
    const parsed = sshHostConfigSchema.parse({
      ...host,
      hostKey: { sha256: `${'A'.repeat(43)}=` },
    });
    expect(parsed.hostKey?.sha256).toBe(`SHA256:${'A'.repeat(43)}`);
    expect(parsed.port).toBe(22);
    expect(() => new SshProvisioner({ hosts: [{ ...host, user: 'root' }] })).toThrow(
      /refuses to run as root/,
    );
    expect(() => new SshProvisioner({ hosts: [{ ...host, baseDir: 'restore' }] })).toThrow(
      TidemarkError,
    );
    expect(() => new SshProvisioner({ hosts: [host, { ...host, host: 'db2.example' }] })).toThrow(
      /node n1 is assigned to both db1.example:22 and db2.example:22/,
    );
  });

  it('gives each node its folder under its host folder', () => {
    const provisioner = new SshProvisioner({ hosts: [host] });
    expect(provisioner.nodeSpec('n1', 5433)).toEqual({
      nodeId: 'n1',
      baseDir: '/srv/restore/n1',
      port: 5433,
      tablespaces: {},
    });
    expect(() => provisioner.nodeSpec('n9')).toThrow(/No SSH host is assigned to node n9/);
    expect(provisioner.nodeBaseDir({ baseDir: '/data/n1/' })).toBe('/data/n1');
  });

  it('refuses relative and unassigned node folders before connecting anywhere', async () => {
    const provisioner = new SshProvisioner({ hosts: [host] });
    const problems = await provisioner.check({
      majorVersion: 15,
      sharedPreloadLibraries: [],
      extensions: [],
      nodes: [
        { nodeId: 'n1', baseDir: '/srv/restore/n1', port: 0, tablespaces: { 16384: 'ts/16384' } },
        { nodeId: 'n7', baseDir: '/srv/restore/n7', port: 0, tablespaces: {} },
      ],
      bytesNeeded: {},
    });
    expect(problems).toEqual([
      {
        nodeId: 'n1',
        message: expect.stringContaining('"ts/16384" is not a usable folder for node n1') as string,
      },
      {
        nodeId: 'n7',
        message: expect.stringContaining('No SSH host is assigned to node n7') as string,
      },
    ]);
  });
});
