import { InvalidArgumentError, type Command } from 'commander';
import type { RestorePointRecord } from '../../engine/catalog/records.js';
import { withEngine } from '../with-engine.js';

interface ListOptions {
  from?: Date;
  to?: Date;
  status?: RestorePointRecord['status'];
  limit?: number;
  json?: boolean;
}

const dayMs = 24 * 60 * 60 * 1000;

export function register(program: Command): void {
  const command = program
    .command('restore-point')
    .description('consistent restore points of a cluster');

  command
    .command('create <cluster>')
    .description('create a restore point on every node now (citus_create_restore_point)')
    .option('--label <text>', 'what the point is for, e.g. "before migration 42"')
    .option('--json', 'print JSON')
    .action((clusterId: string, options: { label?: string; json?: boolean }) =>
      withEngine(async (engine) => {
        const point = await engine.clusters.restorePoints.create(
          clusterId,
          options.label === undefined ? {} : { label: options.label },
        );
        if (options.json) return void console.log(JSON.stringify(point, null, 2));
        console.log(
          `Restore point ${point.name} created at ${point.createdAt}${point.label ? ` ("${point.label}")` : ''}.`,
        );
        console.log(`  coordinator LSN ${point.coordinatorLsn}`);
        for (const [node, lsn] of Object.entries(point.nodeLsns))
          console.log(
            `  ${node}: its WAL must be archived up to ${lsn} (timeline ${point.nodeTimelines[node] ?? '?'})`,
          );
        console.log(
          point.status === 'restorable'
            ? 'It is restorable already.'
            : 'It becomes restorable once every node has archived its WAL up to these positions.',
        );
      }),
    );

  command
    .command('list <cluster>')
    .description('restore points in a time range (default: the last 24 hours), oldest first')
    .option(
      '--from <time>',
      'from this time (ISO 8601, e.g. 2026-03-01T12:00Z; local time without a zone)',
      parseTime,
    )
    .option('--to <time>', 'up to this time (inclusive)', parseTime)
    .option('--status <status>', 'only created, restorable or failed points', parseStatus)
    .option('--limit <n>', 'at most this many', parseLimit)
    .option('--json', 'print JSON')
    .action((clusterId: string, options: ListOptions) =>
      withEngine(async (engine) => {
        const range = {
          from: options.from ?? (options.to ? undefined : new Date(Date.now() - dayMs)),
          to: options.to,
        };
        const query = {
          ...(range.from ? { from: range.from } : {}),
          ...(range.to ? { to: range.to } : {}),
        };
        const points = await engine.clusters.restorePoints.list(clusterId, {
          ...query,
          ...(options.status ? { status: options.status } : {}),
          ...(options.limit === undefined ? {} : { limit: options.limit }),
        });
        const total = await engine.clusters.restorePoints.count(clusterId, query);
        if (options.json) return void console.log(JSON.stringify({ points, total }, null, 2));
        if (points.length === 0)
          return void console.log(`No restore point of ${clusterId} ${describeRange(range)}.`);
        for (const point of points) {
          const detail =
            point.status === 'failed'
              ? `  ${point.error ?? ''}`
              : point.label
                ? `  "${point.label}"`
                : '';
          console.log(`${point.createdAt}  ${point.status.padEnd(10)}  ${point.name}${detail}`);
        }
        console.log(`${points.length} shown of ${total} restore point(s) ${describeRange(range)}.`);
      }),
    );
}

function describeRange(range: { from?: Date | undefined; to?: Date | undefined }): string {
  if (range.from && range.to)
    return `from ${range.from.toISOString()} to ${range.to.toISOString()}`;
  if (range.from) return `since ${range.from.toISOString()}`;
  if (range.to) return `up to ${range.to.toISOString()}`;
  return 'in all';
}

function parseTime(value: string): Date {
  const date = new Date(value);
  if (Number.isNaN(date.getTime()))
    throw new InvalidArgumentError(
      `"${value}" is not a time; use ISO 8601, e.g. 2026-03-01T12:00Z.`,
    );
  return date;
}

function parseStatus(value: string): RestorePointRecord['status'] {
  if (value !== 'created' && value !== 'restorable' && value !== 'failed')
    throw new InvalidArgumentError('expected created, restorable or failed.');
  return value;
}

function parseLimit(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1)
    throw new InvalidArgumentError('expected a positive whole number.');
  return n;
}
