import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { layout } from '../../main/engine/catalog/layout.js';
import { walSegmentFileName } from '../../main/engine/replication/lsn.js';
import { MemorySecretStore } from '../../main/engine/secrets/secret-store.js';
import { startAzurite, type AzuriteHandle } from '../support/azurite.js';
import { managerIn } from '../support/repo-manager-fixture.js';
import { startS3rver, type S3rverHandle } from '../support/s3rver.js';
import { tempDir } from '../support/temp-dir.js';
import { HeldStream, sha256 } from '../support/zone-test-helpers.js';

const MiB = 1024 * 1024;
const segment = walSegmentFileName(1, 3n, 16 * MiB);
const key = layout.walSegment('c1', 'n1', segment);

describe('a zone that goes away mid-write (folder, s3rver, Azurite)', () => {
  let root: { path: string; cleanup: () => Promise<void> };
  let s3: S3rverHandle;
  let azurite: AzuriteHandle;
  const secrets = new MemorySecretStore();
  let config: Record<string, unknown>;

  beforeAll(async () => {
    [root, s3, azurite] = await Promise.all([
      tempDir('tidemark-repo-outage-'),
      startS3rver(),
      startAzurite(),
    ]);
    await mkdir(join(root.path, 'zone'));
    config = {
      id: 'multi',
      name: 'Three zones',
      minZones: 2,
      zones: [
        { kind: 'folder', id: 'local', name: 'Local disk', path: join(root.path, 'zone') },
        {
          kind: 's3',
          id: 'bucket',
          name: 'S3',
          endpoint: s3.endpoint,
          region: s3.region,
          bucket: s3.bucket,
          forcePathStyle: true,
          accessKeyId: s3.accessKeyId,
        },
        {
          kind: 'azure',
          id: 'blob',
          name: 'Azure',
          accountUrl: azurite.accountUrl,
          accountName: azurite.accountName,
          container: azurite.container,
        },
      ],
    };
  });
  afterAll(async () => {
    await Promise.all([s3?.dispose(), azurite?.dispose()]);
    await root?.cleanup();
  });

  it('completes the write on the others, reports the zone degraded across a restart, and repair fixes it when it returns', async () => {
    const machine = join(root.path, 'machine');
    const first = managerIn(machine, secrets);
    await first.manager.create(config as never, {
      passphrase: 'three zone passphrase',
      zones: {
        bucket: { secretAccessKey: s3.secretAccessKey },
        blob: { accountKey: azurite.accountKey },
      },
    });
    // zone credentials went to the secret store, never into the settings
    expect(await secrets.get('zone/multi/bucket/secretAccessKey')).toBe(s3.secretAccessKey);
    expect(JSON.stringify(await first.manager.list())).not.toContain(azurite.accountKey);

    const { repository, catalog } = await first.manager.open('multi');
    await catalog.putCluster({
      clusterId: 'c1',
      name: 'prod',
      createdAt: '2026-01-01T00:00:00.000Z',
      coordinator: { host: 'db', port: 5432, database: 'app' },
      citusVersion: null,
    });
    await catalog.putNode({
      clusterId: 'c1',
      nodeId: 'n1',
      distNodeId: 1,
      groupId: 0,
      role: 'coordinator',
      name: 'db',
      port: 5432,
      systemIdentifier: '7',
      serverVersionNum: 150000,
      walSegmentSize: 16 * MiB,
      firstSeenAt: '2026-01-01T00:00:00.000Z',
      removedAt: null,
    });

    const held = new HeldStream();
    const put = repository.putObject(key, held.stream);
    await held.write(9 * MiB); // the S3 zone has a multipart part under way
    await s3.kill();
    await held.write(3 * MiB);
    held.end();
    const result = await put;
    catalog.noteWalSegment('c1', 'n1', segment);
    await catalog.flush();
    expect(result.stored.sort()).toEqual(['blob', 'local']);
    expect(result.missed).toEqual([
      { zoneId: 'bucket', error: expect.objectContaining({ code: 'zone_unavailable' }) },
    ]);
    expect(sha256(await repository.readObject(key))).toBe(sha256(held.written));

    const missedFile = join(first.manager.localDir('multi'), 'missed-writes.json');
    await expect
      .poll(async () => JSON.parse(await readFile(missedFile, 'utf8').catch(() => '{}')).zones)
      .toEqual({ bucket: [key] });
    const down = await first.manager.status('multi');
    expect(down.zones.find((z) => z.id === 'bucket')).toMatchObject({
      reachable: false,
      degraded: true,
      missedWrites: 1,
    });
    expect(down.missedWrites).toEqual({ local: 0, bucket: 1, blob: 0 });
    // a passphrase change while the bucket is down: the bucket keeps the old keyring for now
    const { warnings } = await first.manager.rekey(
      'multi',
      'three zone passphrase',
      'a new passphrase',
    );
    expect(warnings).toEqual([
      { kind: 'zones-missed', message: expect.stringContaining('bucket') },
    ]);
    await first.manager.close();

    // the zone returns; the app restarts and still knows what the zone missed
    await s3.start();
    const second = managerIn(machine, secrets);
    const back = await second.manager.status('multi');
    expect(back.zones.find((z) => z.id === 'bucket')).toMatchObject({
      reachable: true,
      degraded: true,
      missedWrites: 2,
    });

    const repaired = await second.manager.repair('multi');
    expect(repaired.zones.flatMap((z) => z.failed)).toEqual([]);
    expect(repaired.ok).toBe(true);
    // the missing segment, and the stale keyring (it still parses, but is the old wrap) replaced
    expect(repaired.zones.find((z) => z.zoneId === 'bucket')!.copied.sort()).toEqual(
      [key, layout.keyring()].sort(),
    );
    const keyringIn = async (zoneId: string) => {
      const { repository: r } = await second.manager.open('multi');
      const chunks: Buffer[] = [];
      for await (const c of await r.zones.zones.find((z) => z.id === zoneId)!.get(layout.keyring()))
        chunks.push(c as Buffer);
      return Buffer.concat(chunks).toString();
    };
    expect(await keyringIn('bucket')).toBe(await keyringIn('local'));
    expect(JSON.parse(await readFile(missedFile, 'utf8')).zones).toEqual({});
    const healthy = await second.manager.status('multi');
    expect(healthy.zones.every((z) => z.reachable && !z.degraded)).toBe(true);

    const report = await second.manager.verify('multi', { manifests: false });
    expect(report.ok).toBe(true);
    for (const zone of report.zones)
      expect(zone).toMatchObject({ reachable: true, missing: [], corrupt: [] });
    // the copy in the bucket authenticates on its own
    const { repository: again } = await second.manager.open('multi');
    await again.authenticateIn(
      again.zones.zones.find((z) => z.id === 'bucket')!,
      key,
    );
    await second.manager.close();
  });
});
