/**
 * The restore point catalog at its designed size: 35 days at one point per minute (50,400
 * points) of a 3-node cluster, in a repository with one folder zone. Measures writing them,
 * listing a day, searching by time, counting, reopening the local index, rebuilding it from
 * the zone, and judging restorability.
 * Run: npx tsx bench/restore-points.bench.ts [days]
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Catalog } from '../main/engine/catalog/catalog.js';
import type { RestorePointRecord } from '../main/engine/catalog/records.js';
import {
  nodeArchiveOf,
  RestorabilityEvaluator,
  updateRestorability,
} from '../main/engine/cluster/restorability.js';
import { formatLsn, walSegmentFileName } from '../main/engine/replication/lsn.js';
import { repositoryConfigSchema } from '../main/engine/repository/repository-config.js';
import { Repository } from '../main/engine/repository/repository.js';
import { FolderZone } from '../main/engine/repository/zones/folder-zone.js';

const days = Number(process.argv[2] ?? 35);
const perDay = 24 * 60;
const total = days * perDay;
const nodes = ['n1', 'n2', 'n3'];
const segmentSize = 16 * 1024 * 1024;
/** WAL per minute per node in this model: a quarter segment (about 6 GB a day per node) */
const bytesPerMinute = BigInt(segmentSize / 4);
const start = new Date(Date.UTC(2026, 0, 1));

const dir = await mkdtemp(join(tmpdir(), 'tidemark-bench-points-'));
const zonePath = join(dir, 'zone');
await mkdir(zonePath);
const config = repositoryConfigSchema.parse({
  id: 'bench',
  name: 'bench',
  zones: [{ kind: 'folder', id: 'z', name: 'z', path: zonePath }],
});
const zones = () => [new FolderZone({ id: 'z', path: zonePath })];
const secret = { passphrase: 'correct horse battery' };

const timings: [string, number, string][] = [];
async function time<T>(
  name: string,
  run: () => Promise<T> | T,
  note: (value: T) => string = () => '',
): Promise<T> {
  const began = performance.now();
  const value = await run();
  const ms = performance.now() - began;
  timings.push([name, ms, note(value)]);
  console.log(`${name.padEnd(52)} ${ms.toFixed(2).padStart(10)} ms  ${note(value)}`);
  return value;
}
/** median of `runs` timed calls, for operations too fast to time once */
async function median(name: string, runs: number, run: () => unknown, note = ''): Promise<void> {
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const began = performance.now();
    run();
    samples.push(performance.now() - began);
  }
  samples.sort((a, b) => a - b);
  const ms = samples[Math.floor(runs / 2)]!;
  timings.push([name, ms, note]);
  console.log(`${name.padEnd(52)} ${ms.toFixed(3).padStart(10)} ms  (median of ${runs}) ${note}`);
}

const pointAt = (i: number): RestorePointRecord => {
  const at = new Date(start.getTime() + i * 60_000);
  const lsn = formatLsn(BigInt(i + 1) * bytesPerMinute + 0x28n);
  return {
    clusterId: 'c1',
    name: `tidemark-${at
      .toISOString()
      .replace(/\.\d{3}Z$/, 'Z')
      .replaceAll('-', '')
      .replaceAll(':', '')}-${i.toString(16).padStart(8, '0')}`,
    label: i % 1000 === 0 ? `checkpoint ${i}` : null,
    createdAt: at.toISOString(),
    status: 'created',
    coordinatorLsn: lsn,
    nodeLsns: Object.fromEntries(nodes.map((n) => [n, lsn])),
    nodeTimelines: Object.fromEntries(nodes.map((n) => [n, 1])),
    error: null,
  };
};

try {
  console.log(
    `${total} restore points (${days} days × ${perDay}/day), ${nodes.length} nodes, folder zone in ${dir}\n`,
  );
  const repository = await Repository.init({
    config,
    zones: zones(),
    secret,
    keyringOptions: { scrypt: { N: 2 ** 14, r: 8, p: 1 } },
  });
  const indexPath = join(dir, 'index.json');
  const catalog = await Catalog.open(repository, indexPath);
  await catalog.putCluster({
    clusterId: 'c1',
    name: 'bench',
    createdAt: start.toISOString(),
    coordinator: { host: 'h', port: 5432, database: 'postgres' },
    citusVersion: '13.2.2',
  });
  for (const n of nodes) {
    await catalog.putNode({
      clusterId: 'c1',
      nodeId: n,
      distNodeId: Number(n.slice(1)),
      groupId: 0,
      role: 'worker',
      name: 'h',
      port: 5432,
      systemIdentifier: '1',
      serverVersionNum: 150000,
      walSegmentSize: segmentSize,
      firstSeenAt: start.toISOString(),
      removedAt: null,
    });
  }

  await time(
    'write all points (encrypted records, 32 at a time)',
    async () => {
      for (let i = 0; i < total; i += 32) {
        await Promise.all(
          Array.from({ length: Math.min(32, total - i) }, (_, k) =>
            catalog.putRestorePoint(pointAt(i + k)),
          ),
        );
      }
      await catalog.flush();
    },
    () => `${total.toLocaleString('en')} records`,
  );

  const day = Math.floor(days / 2);
  const dayFrom = new Date(start.getTime() + day * 86_400_000);
  const dayTo = new Date(dayFrom.getTime() + 86_400_000 - 1);
  await median(
    'list one day (1,440 points)',
    51,
    () => catalog.restorePoints('c1', { from: dayFrom, to: dayTo }),
    `→ ${catalog.restorePoints('c1', { from: dayFrom, to: dayTo }).length} points`,
  );
  const moment = new Date(start.getTime() + days * 0.6789 * 86_400_000);
  await median(
    'search: newest point at or before a time',
    51,
    () => catalog.latestRestorePointAtOrBefore('c1', moment, 'created'),
    `→ ${catalog.latestRestorePointAtOrBefore('c1', moment, 'created')?.createdAt}`,
  );
  await median('search: first 20 points after a time', 51, () =>
    catalog.restorePoints('c1', { from: moment, limit: 20 }),
  );
  await median(
    'count all points',
    51,
    () => catalog.countRestorePoints('c1'),
    `→ ${catalog.countRestorePoints('c1')}`,
  );
  await median(
    'count one day',
    51,
    () => catalog.countRestorePoints('c1', dayFrom, dayTo),
    `→ ${catalog.countRestorePoints('c1', dayFrom, dayTo)}`,
  );
  await median('list failed points (full scan by status)', 21, () =>
    catalog.restorePoints('c1', { status: 'failed' }),
  );

  await time(
    'reopen the local index (JSON)',
    async () => {
      const reopened = await Catalog.open(repository, indexPath);
      return reopened.countRestorePoints('c1');
    },
    (n) => `→ ${n} points`,
  );
  await time(
    'rebuild the index from the zone (reads every record)',
    async () => {
      const rebuilt = await Catalog.open(repository, join(dir, 'rebuilt.json'));
      return rebuilt.countRestorePoints('c1');
    },
    (n) => `→ ${n} points`,
  );

  // Restorability: a daily base backup per node and the WAL of the whole window archived.
  const segments = Number((BigInt(total + 2) * bytesPerMinute) / BigInt(segmentSize)) + 1;
  for (const n of nodes) {
    for (let s = 0; s < segments; s++)
      catalog.noteWalSegment('c1', n, walSegmentFileName(1, BigInt(s), segmentSize));
    for (let d = 0; d < days; d++) {
      const at = new Date(start.getTime() + d * 86_400_000).toISOString();
      const startLsn = BigInt(d * perDay + 1) * bytesPerMinute;
      await catalog.putBackup({
        backupId: `b${d}`,
        clusterId: 'c1',
        nodeId: n,
        label: 'bench',
        startLsn: formatLsn(startLsn),
        endLsn: formatLsn(startLsn + 0x10000n),
        timeline: 1,
        endTimeline: 1,
        startedAt: at,
        endedAt: at,
        compression: 'lz4',
        archives: [],
        manifestBytes: 0,
        dataBytes: 0,
        serverConfig: {
          serverVersion: '15',
          serverVersionNum: 150000,
          systemIdentifier: '1',
          parameters: {},
          extensions: [],
          sharedPreloadLibraries: [],
          dataChecksums: true,
          bootstrapSuperuser: 'postgres',
        },
        degradedZones: [],
      });
    }
  }
  const points = catalog.restorePoints('c1');
  await time(
    `judge every point (${segments} segments, ${days} backups per node)`,
    () => {
      const evaluator = new RestorabilityEvaluator(
        Object.fromEntries(catalog.nodes('c1').map((n) => [n.record.nodeId, nodeArchiveOf(n)])),
      );
      return points.filter((p) => evaluator.evaluate(p).restorable).length;
    },
    (n) => `→ ${n} restorable`,
  );
  // The steady state: only the newest points are still `created` when the updater runs.
  for (const point of points.slice(0, -5))
    await catalog.putRestorePoint({ ...point, status: 'restorable' });
  await time(
    'updateRestorability with 5 pending points',
    () => updateRestorability(catalog, 'c1'),
    (u) => `→ ${u.becameRestorable.length} of ${u.evaluated} flipped`,
  );

  await catalog.close();
  await repository.close();
} finally {
  await rm(dir, { recursive: true, force: true });
}
