import { InvalidArgumentError, type Command } from 'commander';
import type { ClusterBackupResult } from '../../engine/backup/cluster-backup.js';
import { formatBytes } from '../../engine/catalog/verify-summary.js';
import { backupCompressions, type BackupCompression } from '../../engine/replication/base-backup-command.js';
import { followJob } from '../follow-job.js';
import { withEngine } from '../with-engine.js';

interface BackupOptions {
  compression: BackupCompression;
  maxRate?: number;
  concurrency: number;
}

export function register(program: Command): void {
  program
    .command('backup <cluster>')
    .description("take a base backup of every active node of a cluster (starts each node's WAL stream first)")
    .option('--compression <method>', `server-side compression: ${backupCompressions.join(', ')}`, parseCompression, 'lz4')
    .option('--max-rate <kB/s>', 'limit the rate each node sends at (32 to 1048576 kB/s)', parseRate)
    .option('--concurrency <n>', 'nodes backed up at once', parseConcurrency, 2)
    .action((clusterId: string, options: BackupOptions) =>
      withEngine(async (engine) => {
        const job = engine.backups.backupCluster(clusterId, {
          compression: options.compression,
          concurrency: options.concurrency,
          ...(options.maxRate === undefined ? {} : { maxRateKbPerSec: options.maxRate }),
        });
        const ended = await followJob(engine, job, { intervalMs: 2000 });
        const result = ended.result as ClusterBackupResult;
        for (const backup of result.backups) {
          const stored = backup.archives.reduce((sum, a) => sum + a.bytes, 0) + backup.manifestBytes;
          const degraded = backup.degradedZones.length > 0 ? `; NOT in zone(s) ${backup.degradedZones.join(', ')} (run "tidemark repo repair")` : '';
          console.log(`${backup.nodeId}: backup ${backup.backupId}, ${formatBytes(backup.dataBytes)} of data stored as ${formatBytes(stored)} (${backup.compression}), WAL ${backup.startLsn} to ${backup.endLsn}${degraded}`);
        }
        console.log(`Cluster ${clusterId}: ${result.backups.length} node backup(s) complete.`);
      }),
    );
}

function parseCompression(value: string): BackupCompression {
  if (!(backupCompressions as readonly string[]).includes(value)) {
    throw new InvalidArgumentError(`use one of ${backupCompressions.join(', ')}`);
  }
  return value as BackupCompression;
}

function parseRate(value: string): number {
  const rate = Number(value);
  if (!Number.isInteger(rate) || rate < 32 || rate > 1_048_576) throw new InvalidArgumentError('a whole number of kB/s from 32 to 1048576');
  return rate;
}

function parseConcurrency(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 64) throw new InvalidArgumentError('a whole number from 1 to 64');
  return n;
}
