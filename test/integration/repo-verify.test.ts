import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { chmod, mkdir, open, readFile, rename, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createWriteStream } from 'node:fs';
import tar from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { layout } from '../../main/engine/catalog/layout.js';
import {
  checkBackupAgainstManifest,
  crc32cUpdate,
} from '../../main/engine/catalog/manifest-check.js';
import type { BaseBackupRecord } from '../../main/engine/catalog/records.js';
import { summarizeVerify } from '../../main/engine/catalog/verify-summary.js';
import { walSegmentFileName } from '../../main/engine/replication/lsn.js';
import { HEADER_LENGTH } from '../../main/engine/repository/crypto/index.js';
import type { RepositoryManager } from '../../main/engine/repository/repository-manager.js';
import { PgInstance, postgresAvailable, runPg } from '../support/postgres.js';
import { managerIn } from '../support/repo-manager-fixture.js';
import { tempDir } from '../support/temp-dir.js';

const MB16 = 16 * 1024 * 1024;
const MiB = 1024 * 1024;
const seg = (n: number) => walSegmentFileName(1, BigInt(n), MB16);
const walKey = (node: string, n: number) => layout.walSegment('c1', node, seg(n));

let root: { path: string; cleanup: () => Promise<void> };
let manager: RepositoryManager;
let zoneA: string;
let zoneB: string;
const plain = new Map<string, Buffer>();

const nodeRecord = (nodeId: string) => ({
  clusterId: 'c1',
  nodeId,
  distNodeId: 1,
  groupId: 0,
  role: 'coordinator' as const,
  name: 'db',
  port: 5432,
  systemIdentifier: '7',
  serverVersionNum: 150000,
  walSegmentSize: MB16,
  firstSeenAt: '2026-01-01T00:00:00.000Z',
  removedAt: null,
});
const serverConfig = {
  serverVersion: '15',
  serverVersionNum: 150000,
  systemIdentifier: '7',
  parameters: {},
  extensions: [],
  sharedPreloadLibraries: [],
  dataChecksums: true,
  bootstrapSuperuser: 'postgres',
};

function backupRecord(
  nodeId: string,
  backupId: string,
  fields: Partial<BaseBackupRecord>,
): BaseBackupRecord {
  return {
    backupId,
    clusterId: 'c1',
    nodeId,
    label: backupId,
    startLsn: '0/1000028',
    endLsn: '0/1000100',
    timeline: 1,
    endTimeline: 1,
    startedAt: '2026-01-01T00:00:00.000Z',
    endedAt: '2026-01-01T00:01:00.000Z',
    compression: 'none',
    archives: [{ name: 'base.tar', tablespaceOid: null, tablespacePath: null, bytes: 0 }],
    manifestBytes: 1,
    dataBytes: 0,
    serverConfig,
    degradedZones: [],
    ...fields,
  };
}

beforeAll(async () => {
  root = await tempDir('tidemark-repo-verify-');
  [zoneA, zoneB] = [join(root.path, 'zone-a'), join(root.path, 'zone-b')];
  await mkdir(zoneA);
  await mkdir(zoneB);
  ({ manager } = managerIn(join(root.path, 'machine')));
  await manager.create(
    {
      id: 'tamper',
      name: 'Tamper',
      readOrder: ['a'],
      zones: [
        { kind: 'folder', id: 'a', name: 'A', path: zoneA },
        { kind: 'folder', id: 'b', name: 'B', path: zoneB },
      ],
    },
    { passphrase: 'tamper passphrase' },
  );
  const { repository, catalog } = await manager.open('tamper');
  await catalog.putCluster({
    clusterId: 'c1',
    name: 'prod',
    createdAt: '2026-01-01T00:00:00.000Z',
    coordinator: { host: 'db', port: 5432, database: 'app' },
    citusVersion: null,
  });
  await catalog.putNode(nodeRecord('n1'));
  for (const [n, size] of [
    [1, 2.5 * MiB],
    [2, 100_000],
    [3, 5000],
    [4, 6000],
    [5, 2.5 * MiB],
    [6, 3000],
  ] as const) {
    const data = randomBytes(size);
    plain.set(walKey('n1', n), data);
    await repository.putObject(walKey('n1', n), data);
    catalog.noteWalSegment('c1', 'n1', seg(n));
  }
  // node n2 misses segment 3 after a backup that needs 1…2 onward
  await catalog.putNode(nodeRecord('n2'));
  for (const n of [1, 2, 4]) {
    await repository.putObject(walKey('n2', n), Buffer.from(`n2 wal ${n}`));
    catalog.noteWalSegment('c1', 'n2', seg(n));
  }
  await repository.putObject(
    layout.backupArchive('c1', 'n2', 'b-n2', 'base.tar'),
    Buffer.from('not a tar'),
  );
  await repository.putObject(
    layout.backupManifest('c1', 'n2', 'b-n2'),
    Buffer.from('not a manifest'),
  );
  await catalog.putBackup(backupRecord('n2', 'b-n2', {}));
  await catalog.flush();
});
afterAll(async () => {
  await manager?.close();
  await root?.cleanup();
});

describe('tampering with a zone', () => {
  it('reads fall back to the good zone; verify names each bad object and its zone; repair fixes them', async () => {
    const file = (n: number) => join(zoneA, walKey('n1', n));
    // flip one bit
    const handle = await open(file(1), 'r+');
    const byte = Buffer.alloc(1);
    await handle.read(byte, 0, 1, 5000);
    byte[0]! ^= 0x10;
    await handle.write(byte, 0, 1, 5000);
    await handle.close();
    // truncate
    await truncate(file(2), (await stat(file(2))).size - 100);
    // swap two objects' files
    await rename(file(3), `${file(3)}.x`);
    await rename(file(4), file(3));
    await rename(`${file(3)}.x`, file(4));
    // swap two chunks inside an object
    const stored = await readFile(file(5));
    const chunk = MiB + 16;
    const first = Buffer.from(stored.subarray(HEADER_LENGTH, HEADER_LENGTH + chunk));
    stored.copy(stored, HEADER_LENGTH, HEADER_LENGTH + chunk, HEADER_LENGTH + 2 * chunk);
    first.copy(stored, HEADER_LENGTH + chunk);
    await writeFile(file(5), stored);
    // and one object is gone from zone A
    await rename(file(6), join(root.path, 'removed'));

    const { repository } = await manager.open('tamper');
    for (const [key, data] of plain)
      expect((await repository.readObject(key)).equals(data)).toBe(true);

    const report = await manager.verify('tamper', { manifests: false });
    const [a, b] = report.zones;
    expect(a!.zoneId).toBe('a');
    expect(a!.corrupt.map((p) => p.key).sort()).toEqual(
      [1, 2, 3, 4, 5].map((n) => walKey('n1', n)),
    );
    expect(
      a!.corrupt.every((p) => /failed authentication|corrupt|truncated/i.test(p.message)),
    ).toBe(true);
    expect(a!.missing).toEqual([walKey('n1', 6)]);
    expect(b).toMatchObject({ zoneId: 'b', missing: [], corrupt: [], unreadable: [] });
    expect(b!.checked).toBe(b!.objects);
    expect(report.lost).toEqual([]);
    const n2 = report.wal.find((w) => w.nodeId === 'n2')!;
    expect(n2.continuity.gaps).toEqual([
      {
        timeline: 1,
        from: '0/3000000',
        to: '0/4000000',
        firstSegment: seg(3),
        affectsRestore: true,
      },
    ]);
    expect(report.wal.find((w) => w.nodeId === 'n1')!.continuity.gaps).toEqual([]);
    expect(report.problems).toBe(7);
    const summary = summarizeVerify(report);
    expect(summary).toContain(`corrupt: ${walKey('n1', 1)}`);
    expect(summary).toContain(`missing: ${walKey('n1', 6)}`);
    expect(summary).toContain('GAP on timeline 1 from 0/3000000 to 0/4000000');

    const repaired = await manager.repair('tamper');
    expect(repaired.zones.find((z) => z.zoneId === 'a')!.copied.sort()).toEqual(
      [1, 2, 3, 4, 5, 6].map((n) => walKey('n1', n)),
    );
    expect(repaired.zones.find((z) => z.zoneId === 'b')!.copied).toEqual([]);
    expect(repaired.ok).toBe(true);
    const after = await manager.verify('tamper', { manifests: false });
    expect(after.zones.flatMap((z) => [...z.missing, ...z.corrupt])).toEqual([]);
    expect(after.problems).toBe(1); // the WAL gap of n2 is real and stays
  });

  it('authenticates only a sample when asked', async () => {
    let coin = 0;
    const report = await manager.verify('tamper', {
      sample: 0.5,
      random: () => (coin++ % 2 === 0 ? 0.1 : 0.9),
      manifests: false,
      wal: false,
    });
    for (const zone of report.zones) {
      expect(zone.checked).toBeGreaterThan(0);
      expect(zone.checked).toBeLessThan(zone.objects);
    }
    expect(report.sample).toBe(0.5);
  });
});

describe.skipIf(!postgresAvailable())(
  'base backups against their manifests (real pg_basebackup)',
  () => {
    let pg: PgInstance;
    let backupDir: string;

    beforeAll(async () => {
      pg = await PgInstance.create({
        dir: join(root.path, 'pg'),
        hba: ['local replication all trust'],
      });
      await pg.query(
        'CREATE TABLE t AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 20000) g',
      );
      backupDir = join(root.path, 'pg', 'backups');
      await mkdir(backupDir);
      await chmod(backupDir, 0o777);
      const base = [
        '-h',
        join(root.path, 'pg'),
        '-p',
        String(pg.port),
        '-U',
        'postgres',
        '-Ft',
        '-X',
        'none',
        '--no-sync',
      ];
      // the default manifest checksum (CRC-32C), and SHA-256 with a gzip-compressed archive
      await runPg('pg_basebackup', [...base, '-D', join(backupDir, 'crc')]);
      await runPg('pg_basebackup', [
        ...base,
        '-D',
        join(backupDir, 'sha'),
        '-z',
        '--manifest-checksums=SHA256',
      ]);
    });
    afterAll(async () => {
      await pg?.stop();
    });

    async function store(
      nodeId: string,
      backupId: string,
      dir: string,
      archive: string,
      compression: BaseBackupRecord['compression'],
    ): Promise<BaseBackupRecord> {
      const { repository, catalog } = await manager.open('tamper');
      if (!catalog.node('c1', nodeId)) await catalog.putNode(nodeRecord(nodeId));
      await repository.putObject(
        layout.backupArchive('c1', nodeId, backupId, archive),
        createReadStream(join(dir, archive)),
      );
      await repository.putObject(
        layout.backupManifest('c1', nodeId, backupId),
        createReadStream(join(dir, 'backup_manifest')),
      );
      const record = backupRecord(nodeId, backupId, {
        compression,
        archives: [
          {
            name: archive,
            tablespaceOid: null,
            tablespacePath: null,
            bytes: (await stat(join(dir, archive))).size,
          },
        ],
      });
      await catalog.putBackup(record);
      return record;
    }

    it('accepts intact backups (CRC-32C and SHA-256 manifests, plain and gzip archives)', async () => {
      const { repository } = await manager.open('tamper');
      for (const [id, archive, compression] of [
        ['crc', 'base.tar', 'none'],
        ['sha', 'base.tar.gz', 'gzip'],
      ] as const) {
        const record = await store('pg1', id, join(backupDir, id), archive, compression);
        const result = await checkBackupAgainstManifest(repository, record);
        expect(result).toMatchObject({
          ok: true,
          problems: [],
          error: null,
          manifestChecksumValid: true,
        });
        expect(result.filesChecked).toBeGreaterThan(500);
        expect(result.bytesChecked).toBeGreaterThan(1_000_000);
      }
    });

    it('names a changed file and a missing file', async () => {
      const src = join(backupDir, 'crc');
      const out = join(backupDir, 'tampered');
      await mkdir(out);
      await writeFile(join(out, 'backup_manifest'), await readFile(join(src, 'backup_manifest')));
      // rewrite the archive: PG_VERSION changed in place (same size), postgresql.auto.conf left out
      const extract = tar.extract();
      const pack = tar.pack();
      const writing = pipeline(pack, createWriteStream(join(out, 'base.tar')));
      extract.on('entry', (header, stream, next) => {
        const chunks: Buffer[] = [];
        stream.on('data', (c: unknown) => void chunks.push(c as Buffer));
        stream.on('end', () => {
          let body = Buffer.concat(chunks);
          if (header.name === 'postgresql.auto.conf') return next();
          if (header.name === 'PG_VERSION') body = Buffer.from(body.toString().replace('15', '99'));
          pack.entry(header, body, next);
        });
      });
      await pipeline(createReadStream(join(src, 'base.tar')), extract);
      pack.finalize();
      await writing;

      const record = await store('pg2', 'tampered', out, 'base.tar', 'none');
      const { repository } = await manager.open('tamper');
      const result = await checkBackupAgainstManifest(repository, record);
      expect(result.ok).toBe(false);
      expect(result.problems.map((p) => [p.path, p.problem])).toEqual([
        ['PG_VERSION', 'checksum'],
        ['postgresql.auto.conf', 'missing'],
      ]);

      const report = await manager.verify('tamper', { wal: false });
      const bad = report.backups
        .filter((b) => !b.ok)
        .map((b) => b.backupId)
        .sort();
      // b-n2 holds stand-in bytes, not a backup: it fails too, with the reason
      expect(bad).toEqual(['b-n2', 'tampered']);
      expect(report.backups.find((b) => b.backupId === 'b-n2')!.error?.message).toContain(
        'not a PostgreSQL backup manifest',
      );
      expect(summarizeVerify(report)).toContain(
        'backup tampered of c1/pg2: PG_VERSION checksum differs',
      );
    });
  },
);

describe('CRC-32C', () => {
  it('matches the standard check value', () => {
    expect(
      ((crc32cUpdate(0xffffffff, Buffer.from('123456789')) ^ 0xffffffff) >>> 0).toString(16),
    ).toBe('e3069283');
  });
});
