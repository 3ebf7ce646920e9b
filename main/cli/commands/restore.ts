import { readFile } from 'node:fs/promises';
import { InvalidArgumentError, type Command } from 'commander';
import { TidemarkError } from '../../engine/errors.js';
import type { RestorePlan, RestoreTarget } from '../../engine/restore/restore-planner.js';
import type { ProvisionerChoice } from '../../engine/restore/restore-service.js';
import { sshProvisionerConfigSchema } from '../../engine/restore/ssh-config.js';
import { followJob, formatBytes } from '../follow-job.js';
import { withEngine } from '../with-engine.js';

interface RunOptions {
  to: RestoreTarget;
  provisioner: 'local' | 'ssh';
  dir?: string;
  binDir?: string;
  hosts?: string;
  allow?: string[];
  fullVerify?: boolean;
  keepFailed?: boolean;
  registerAs?: string;
  registerRepository?: string;
  json?: boolean;
}

export function register(program: Command): void {
  const command = program.command('restore').description('point-in-time restore into a new cluster');

  command
    .command('plan <cluster>')
    .description('show what a restore to a target would do, or why it cannot be done')
    .requiredOption('--to <target>', 'latest, earliest, a time (ISO 8601) or a restore point name', parseTarget)
    .option('--json', 'print JSON')
    .action((clusterId: string, options: { to: RestoreTarget; json?: boolean }) =>
      withEngine(async (engine) => {
        const plan = await engine.restores.plan(clusterId, options.to);
        if (options.json) return void console.log(JSON.stringify(plan, null, 2));
        printPlan(plan);
      }),
    );

  command
    .command('run <cluster>')
    .description('restore into a newly provisioned cluster (never in place)')
    .requiredOption('--to <target>', 'latest, earliest, a time (ISO 8601) or a restore point name', parseTarget)
    .option('--provisioner <kind>', 'local (this machine) or ssh (remote hosts)', 'local')
    .option('--dir <folder>', 'local: the folder that will hold the new nodes (must not exist or be empty)')
    .option('--bin-dir <folder>', 'local: PostgreSQL server binaries of the backup\'s major version')
    .option('--hosts <file>', 'ssh: JSON file with the target hosts and the nodes each gets')
    .option('--allow <cidr...>', 'client networks allowed to connect (scram-sha-256); localhost always')
    .option('--full-verify', 'authenticate every byte of every object before creating anything (reads everything one more time); by default each object is checked at both ends first and every chunk as it is restored')
    .option('--keep-failed', 'on failure keep the new nodes (stopped) for inspection')
    .option('--register-as <name>', 'register the new cluster in Tidemark under this name')
    .option('--register-repository <id>', 'repository for backups of the registered cluster')
    .action((clusterId: string, options: RunOptions) =>
      withEngine(async (engine) => {
        const provisioner = await provisionerFrom(options);
        if ((options.registerAs === undefined) !== (options.registerRepository === undefined)) {
          throw new TidemarkError('invalid_input', 'Give both --register-as and --register-repository, or neither.');
        }
        const { job, plan } = await engine.restores.start({
          clusterId,
          target: options.to,
          provisioner,
          ...(options.allow ? { access: { clientCidrs: options.allow } } : {}),
          ...(options.fullVerify ? { fullVerify: true } : {}),
          ...(options.keepFailed ? { keepFailedNodes: true } : {}),
          ...(options.registerAs && options.registerRepository ? { register: { name: options.registerAs, repositoryId: options.registerRepository } } : {}),
        });
        printPlan(plan);
        const ended = await followJob(engine, job);
        const record = await engine.restores.records.get(ended.id);
        console.log(`\nRestored to ${plan.point.name}. Connect with: ${record?.connectionString ?? '(see tidemark restore list)'}`);
        if (record?.registeredClusterId) console.log(`Registered as cluster "${record.registeredClusterId}".`);
        if (record && record.checklist.length > 0) {
          console.log('\nAfter the restore:');
          for (const item of record.checklist) console.log(`  [ ] ${item.title} — ${item.detail}`);
        }
      }),
    );

  command
    .command('list')
    .description('past and running restores')
    .option('--json', 'print JSON')
    .action((options: { json?: boolean }) =>
      withEngine(async (engine) => {
        const records = await engine.restores.records.list();
        if (options.json) return void console.log(JSON.stringify(records, null, 2));
        if (records.length === 0) return void console.log('No restores yet.');
        for (const r of records) {
          console.log(`${r.startedAt}  ${r.clusterId} → ${r.point.name}  ${r.state}${r.connectionString ? `  ${r.connectionString}` : ''}${r.error ? `  (${r.error})` : ''}`);
        }
      }),
    );
}

function printPlan(plan: RestorePlan): void {
  console.log(`Restore point: ${plan.point.name}${plan.point.label ? ` ("${plan.point.label}")` : ''} at ${plan.point.createdAt}`);
  if (plan.distanceSeconds > 0) console.log(`  ${plan.distanceSeconds} s before the asked time (restores land on consistent points only)`);
  for (const node of plan.nodes) {
    console.log(
      `  ${node.nodeId} (${node.role}, was ${node.sourceName}:${node.sourcePort}): backup ${node.backup.backupId} of ${node.backup.startedAt}, ${formatBytes(node.backupBytes)} + ${node.walFiles.length} WAL files (${formatBytes(node.walBytes)}) to ${node.targetLsn} on timeline ${node.timeline}`,
    );
  }
  console.log(`  total ${formatBytes(plan.totalBytes)} to read, roughly ${Math.max(1, Math.round(plan.estimatedSeconds / 60))} min`);
  for (const warning of plan.warnings) console.log(`  ! ${warning}`);
}

function parseTarget(value: string): RestoreTarget {
  if (value === 'latest' || value === 'earliest') return { kind: value };
  if (/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$/.test(value)) {
    const at = new Date(value);
    if (Number.isNaN(at.getTime())) throw new InvalidArgumentError(`"${value}" is not a valid time.`);
    return { kind: 'time', at };
  }
  if (value.length > 63) throw new InvalidArgumentError('A restore point name is shorter than 64 bytes.');
  return { kind: 'point', name: value };
}

async function provisionerFrom(options: RunOptions): Promise<ProvisionerChoice> {
  if (options.provisioner === 'local') {
    if (!options.dir) throw new TidemarkError('invalid_input', 'A local restore needs --dir <folder> for the new nodes.');
    return { kind: 'local', dir: options.dir, ...(options.binDir ? { binDir: options.binDir } : {}) };
  }
  if (options.provisioner === 'ssh') {
    if (!options.hosts) throw new TidemarkError('invalid_input', 'An SSH restore needs --hosts <file.json> (see docs/operations.md).');
    let config: unknown;
    try {
      config = JSON.parse(await readFile(options.hosts, 'utf8'));
    } catch (err) {
      throw new TidemarkError('invalid_input', `Cannot read ${options.hosts}: ${(err as Error).message}`);
    }
    const parsed = sshProvisionerConfigSchema.safeParse(config);
    if (!parsed.success) throw new TidemarkError('invalid_input', `${options.hosts} is not a valid SSH target file: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    return { kind: 'ssh', config: parsed.data };
  }
  throw new TidemarkError('invalid_input', `Unknown provisioner "${String(options.provisioner)}"; use local or ssh.`);
}
