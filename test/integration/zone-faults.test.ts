import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readdir } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemorySecretStore } from '../../main/engine/secrets/secret-store.js';
import type { Zone } from '../../main/engine/repository/zone.js';
import { AzureZone, type AzureZoneOptions } from '../../main/engine/repository/zones/azure-zone.js';
import { FolderZone } from '../../main/engine/repository/zones/folder-zone.js';
import { S3Zone, type S3ZoneOptions } from '../../main/engine/repository/zones/s3-zone.js';
import { createZone, zoneSecretName } from '../../main/engine/repository/zones/zone-factory.js';
import { startAzurite, type AzuriteHandle } from '../support/azurite.js';
import { startS3rver, type S3rverHandle } from '../support/s3rver.js';
import { tempDir } from '../support/temp-dir.js';
import {
  getBytes,
  keysOf,
  rejection,
  spawnZoneWriter,
  waitForLine,
} from '../support/zone-test-helpers.js';

const exec = promisify(execFile);
const MiB = 1024 * 1024;

/** Runs `fn` and returns how long it took to reject, with the error. */
async function timedRejection(fn: () => Promise<unknown>) {
  const started = performance.now();
  const err = await rejection(fn);
  return { err, ms: performance.now() - started };
}

/** Every operation on a stopped zone fails with zone_unavailable, each within a few seconds. */
async function expectUnavailableQuickly(zone: Zone) {
  const attempts = [
    () => zone.put('down/obj', randomBytes(1000)),
    () => zone.put('down/stream', Readable.from([randomBytes(1000)])),
    () => zone.get('up/obj'),
    () => zone.stat('up/obj'),
    () => keysOf(zone, 'up/'),
    () => zone.delete('up/obj'),
  ];
  for (const attempt of attempts) {
    const { err, ms } = await timedRejection(attempt);
    expect(err.code).toBe('zone_unavailable');
    expect(err.retryable).toBe(true);
    expect(err.message).toContain(`Zone "${zone.id}"`);
    expect(ms).toBeLessThan(5_000);
  }
  const probe = await zone.probe();
  expect(probe.reachable).toBe(false);
  expect(probe.error).toContain('cannot be reached');
}

async function mount(args: string[]): Promise<string | undefined> {
  try {
    await exec('mount', args);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

describe('S3 zone faults (s3rver)', () => {
  let s3: S3rverHandle;
  const options = (overrides: Partial<S3ZoneOptions> = {}): S3ZoneOptions => ({
    id: 's3-zone',
    endpoint: s3.endpoint,
    region: s3.region,
    bucket: s3.bucket,
    forcePathStyle: true,
    accessKeyId: s3.accessKeyId,
    secretAccessKey: s3.secretAccessKey,
    ...overrides,
  });

  beforeAll(async () => {
    s3 = await startS3rver();
  });
  afterAll(async () => {
    await s3?.dispose();
  });

  it('reports an unknown access key as authentication_failed', async () => {
    const zone = new S3Zone(options({ accessKeyId: 'NOBODY' }));
    for (const attempt of [
      () => zone.put('auth/obj', Buffer.from('x')),
      () => zone.get('auth/obj'),
    ]) {
      const err = await rejection(attempt);
      expect(err.code).toBe('authentication_failed');
      expect(err.message).toContain('Zone "s3-zone"');
      expect(err.message).toContain('rejected the credentials');
    }
    expect((await zone.probe()).reachable).toBe(false);
    await zone.close();
  });

  it('reports a wrong secret (SignatureDoesNotMatch) as authentication_failed', async () => {
    // s3rver does not check V4 signatures, so a wrong secret passes there; this loopback server
    // answers as AWS does, which exercises the SDK's error parsing and our mapping
    const server = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(403, { 'content-type': 'application/xml' });
        res.end(
          '<?xml version="1.0" encoding="UTF-8"?><Error><Code>SignatureDoesNotMatch</Code>' +
            '<Message>The request signature we calculated does not match the signature you provided.</Message></Error>',
        );
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    const zone = new S3Zone(
      options({ endpoint: `http://127.0.0.1:${port}`, secretAccessKey: 'not-the-secret' }),
    );
    try {
      const err = await rejection(() => zone.put('auth/obj', Buffer.from('x')));
      expect(err.code).toBe('authentication_failed');
      expect(err.message).toContain('SignatureDoesNotMatch');
      expect(err.message).not.toContain('not-the-secret');
    } finally {
      await zone.close();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('reports a missing bucket as zone_unavailable saying to create it', async () => {
    const zone = new S3Zone(options({ bucket: 'no-such-bucket' }));
    const err = await rejection(() => zone.put('x/obj', Buffer.from('x')));
    expect(err.code).toBe('zone_unavailable');
    expect(err.message).toContain('does not exist');
    await zone.close();
  });

  it('fails fast with zone_unavailable while s3rver is down and works again once it is back', async () => {
    const zone = new S3Zone(options());
    await zone.put('up/obj', Buffer.from('before'));
    await s3.kill();
    try {
      await expectUnavailableQuickly(zone);
    } finally {
      await s3.start();
    }
    expect((await getBytes(zone, 'up/obj')).toString()).toBe('before');
    expect((await zone.probe()).reachable).toBe(true);
    await zone.close();
  });

  it('builds an S3 zone from its config and the secret store', async () => {
    const secrets = new MemorySecretStore();
    await secrets.set(zoneSecretName('repo-1', 's3-zone', 'secretAccessKey'), s3.secretAccessKey);
    const zone = await createZone(
      {
        kind: 's3',
        id: 's3-zone',
        name: 'Test bucket',
        endpoint: s3.endpoint,
        region: s3.region,
        bucket: s3.bucket,
        prefix: 'repo-1/',
        forcePathStyle: true,
        accessKeyId: s3.accessKeyId,
      },
      secrets,
      'repo-1',
    );
    expect(zone.kind).toBe('s3');
    await zone.put('factory/obj', Buffer.from('hello'));
    expect((await getBytes(zone, 'factory/obj')).toString()).toBe('hello');
    // the prefix from the config is applied: a prefix-less zone sees the object under repo-1/
    const raw = new S3Zone(options());
    expect(await raw.stat('repo-1/factory/obj')).toMatchObject({ size: 5 });
    await Promise.all([zone.close?.(), raw.close()]);
  });
});

describe('Azure zone faults (Azurite)', () => {
  let azurite: AzuriteHandle;
  const options = (overrides: Partial<AzureZoneOptions> = {}): AzureZoneOptions => ({
    id: 'azure-zone',
    accountUrl: azurite.accountUrl,
    accountName: azurite.accountName,
    container: azurite.container,
    credential: { accountKey: azurite.accountKey },
    ...overrides,
  });

  beforeAll(async () => {
    azurite = await startAzurite();
  });
  afterAll(async () => {
    await azurite?.dispose();
  });

  it('reports a wrong account key as authentication_failed', async () => {
    const zone = new AzureZone(
      options({ credential: { accountKey: randomBytes(64).toString('base64') } }),
    );
    const err = await rejection(() => zone.put('auth/obj', Buffer.from('x')));
    expect(err.code).toBe('authentication_failed');
    expect(err.message).toContain('Zone "azure-zone"');
    expect((await zone.probe()).reachable).toBe(false);
  });

  it('reports a missing container as zone_unavailable saying to create it', async () => {
    const zone = new AzureZone(options({ container: 'no-such-container' }));
    const err = await rejection(() => zone.put('x/obj', Buffer.from('x')));
    expect(err.code).toBe('zone_unavailable');
    expect(err.message).toContain('does not exist');
  });

  it('fails fast with zone_unavailable while Azurite is down and works again once it is back', async () => {
    const zone = new AzureZone(options());
    await zone.put('up/obj', Buffer.from('before'));
    await azurite.stop();
    try {
      await expectUnavailableQuickly(zone);
    } finally {
      await azurite.start();
    }
    expect((await getBytes(zone, 'up/obj')).toString()).toBe('before');
    expect((await zone.probe()).reachable).toBe(true);
  });
});

describe('folder zone faults', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  beforeAll(async () => {
    dir = await tempDir('tidemark-zone-faults-');
  });
  afterAll(async () => {
    await dir?.cleanup();
  });

  it('reports a missing root folder as zone_unavailable naming the path, and never creates it', async () => {
    const root = join(dir.path, 'not-mounted');
    const zone = new FolderZone({ id: 'share', path: root });
    for (const attempt of [
      () => zone.put('a/b', Buffer.from('x')),
      () => zone.get('a/b'),
      () => keysOf(zone, ''),
    ]) {
      const err = await rejection(attempt);
      expect(err.code).toBe('zone_unavailable');
      expect(err.message).toContain(root);
    }
    expect(await readdir(dir.path)).not.toContain('not-mounted');
    const probe = await zone.probe();
    expect(probe).toMatchObject({ reachable: false, latencyMs: null });
    expect(probe.error).toContain(root);
  });

  it('reports a folder remounted read-only mid-run as permission_denied (EROFS)', async (ctx) => {
    const root = join(dir.path, 'readonly');
    await mkdir(root);
    const zone = new FolderZone({ id: 'ro', path: root });
    await zone.put('wal/1', Buffer.from('one'));
    const problem =
      (await mount(['--bind', root, root])) ?? (await mount(['-o', 'remount,bind,ro', root]));
    if (problem) ctx.skip(`cannot make a read-only bind mount here: ${problem}`);
    try {
      const err = await rejection(() => zone.put('wal/2', Buffer.from('two')));
      expect(err.code).toBe('permission_denied');
      expect(err.message).toContain('Zone "ro"');
      expect(err.message).toContain('"wal/2"');
      expect((await getBytes(zone, 'wal/1')).toString()).toBe('one');
      expect(await keysOf(zone, '')).toEqual(['wal/1']);
      expect((await zone.probe()).reachable).toBe(false);
    } finally {
      await exec('umount', [root]);
    }
  });

  it('reports a folder the OS user cannot write as permission_denied (EACCES, as the postgres user)', async (ctx) => {
    if (process.getuid?.() !== 0) ctx.skip('needs root to run the writer as another user');
    const root = join(dir.path, 'no-write');
    await mkdir(root);
    await chmod(root, 0o555);
    const child = spawnZoneWriter(root, 'wal/1', 1000, { user: 'postgres' });
    const line = await waitForLine(child, /^(error|done)/);
    expect(line).toMatch(/^error permission_denied Zone "child"/);
    expect(await readdir(root)).toEqual([]);
  });

  it('reports a full volume as disk_full and leaves neither object nor temp file (2 MiB tmpfs)', async (ctx) => {
    const root = join(dir.path, 'small');
    await mkdir(root);
    const problem = await mount(['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', root]);
    if (problem) ctx.skip(`cannot mount a tmpfs here: ${problem}`);
    try {
      const zone = new FolderZone({ id: 'small', path: root });
      const chunks = Array.from({ length: 48 }, () => randomBytes(64 * 1024)); // 3 MiB
      const err = await rejection(() => zone.put('base/big', Readable.from(chunks)));
      expect(err.code).toBe('disk_full');
      expect(err.message).toContain('Zone "small"');
      expect(err.message).toContain('"base/big"');
      expect(await zone.stat('base/big')).toBeNull();
      expect(await readdir(join(root, 'base'))).toEqual([]);
      // the space came back: the next (smaller) put succeeds
      await zone.put('base/small', randomBytes(MiB));
      expect(await keysOf(zone, '')).toEqual(['base/small']);
    } finally {
      await exec('umount', [root]);
    }
  });
});
