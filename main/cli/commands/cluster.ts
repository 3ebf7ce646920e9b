import { InvalidArgumentError, type Command } from 'commander';
import {
  clusterSecretName,
  nodeKey,
  type NodeAddress,
} from '../../engine/cluster/cluster-config.js';
import { uniqueId, type AddClusterInput } from '../../engine/cluster/cluster-manager.js';
import type { PreflightCheck } from '../../engine/cluster/preflight.js';
import type { TopologyRefresh } from '../../engine/cluster/topology-refresh.js';
import { TidemarkError } from '../../engine/errors.js';
import { sslModes, type SslMode } from '../../engine/net/ssl-modes.js';
import { secretEnvName } from '../../engine/secrets/env-file-secret-store.js';
import { withEngine } from '../with-engine.js';
import { canPrompt, promptSecret, readSecretFile } from './repo-secret-input.js';

interface AddOptions {
  name: string;
  id?: string;
  host: string;
  port: number;
  database: string;
  user: string;
  sslmode: SslMode;
  caFile?: string;
  certFile?: string;
  keyFile?: string;
  repository: string;
  passwordFile?: string;
  password: boolean;
  nodeAddress: Record<string, NodeAddress>;
  force?: boolean;
}

export function register(program: Command): void {
  const cluster = program
    .command('cluster')
    .description('add, check and remove the Citus clusters Tidemark backs up');

  cluster
    .command('add')
    .description('connect to a coordinator, discover its nodes, check them and add the cluster')
    .requiredOption('--name <name>', 'a display name')
    .option('--id <id>', 'the cluster id (default: derived from the name)')
    .requiredOption('--host <host>', "the coordinator's host name or address")
    .option('--port <n>', "the coordinator's port", parsePort, 5432)
    .option('--database <name>', 'the database where Citus is installed', 'postgres')
    .requiredOption('--user <role>', 'a superuser with REPLICATION (same role on every node)')
    .option('--sslmode <mode>', `one of ${sslModes.join(', ')}`, parseSslMode, 'prefer')
    .option('--ca-file <file>', 'PEM CA certificate(s) for verify-ca / verify-full')
    .option('--cert-file <file>', 'PEM client certificate (certificate authentication)')
    .option('--key-file <file>', 'PEM key of the client certificate')
    .requiredOption('--repository <id>', 'the repository that keeps its backups')
    .option(
      '--password-file <file>',
      'a file (mode 0600) with the password; default: TIDEMARK_SECRET_CLUSTER_<ID>_PASSWORD, or asked on the terminal',
    )
    .option('--no-password', 'do not ask for a password (certificate or trust authentication)')
    .option(
      '--node-address <node=host:port>',
      'reach a node under another address than pg_dist_node names it, e.g. 10.0.0.2:5432=db2.example.com:6432 (repeatable)',
      parseNodeAddress,
      {},
    )
    .option('--force', 'add even though a check failed')
    .action((options: AddOptions) => addCommand(options));

  cluster
    .command('list')
    .description('the clusters Tidemark backs up')
    .option('--json', 'print JSON')
    .action((options: { json?: boolean }) =>
      withEngine(async (engine) => {
        const clusters = await engine.clusters.list();
        if (options.json) return void console.log(JSON.stringify(clusters, null, 2));
        if (clusters.length === 0)
          return void console.log('No cluster is configured. Add one with "tidemark cluster add".');
        for (const { config, passwordSet } of clusters) {
          const c = config.coordinator;
          console.log(
            `${config.id}  "${config.name}"  coordinator ${c.user}@${c.host}:${c.port}/${c.database} (sslmode ${c.sslmode})  repository ${config.repositoryId}${passwordSet ? '' : '  (no password stored)'}`,
          );
          for (const [node, address] of Object.entries(config.nodeOverrides)) {
            console.log(`    node ${node} reached at ${address.host}:${address.port}`);
          }
        }
      }),
    );

  cluster
    .command('check <id>')
    .description('run every check on every node and print the fix of each failure')
    .option('--json', 'print JSON')
    .action((id: string, options: { json?: boolean }) =>
      withEngine(async (engine) => {
        const result = await engine.clusters.check(id);
        if (options.json) console.log(JSON.stringify(result, null, 2));
        else {
          console.log(formatChecks(result.checks));
          console.log(
            result.passed
              ? `Cluster ${id} is ready for backups.`
              : `Cluster ${id} is NOT ready: fix the failures above.`,
          );
        }
        if (!result.passed) process.exitCode = 1;
      }),
    );

  cluster
    .command('refresh <id>')
    .description(
      'rediscover the nodes: new ones are recorded and backed up, removed ones marked removed',
    )
    .action((id: string) =>
      withEngine(async (engine) =>
        console.log(formatRefresh(await engine.clusters.refreshTopology(id))),
      ),
    );

  cluster
    .command('set-address <id> <node> [address]')
    .description(
      'reach <node> (name:port as in pg_dist_node) at <address> (host:port); without <address>, remove the override',
    )
    .action((id: string, node: string, address: string | undefined) =>
      withEngine(async (engine) => {
        const target = parseHostPort(node, 'node');
        const config = await engine.clusters.setNodeOverride(
          id,
          { name: target.host, port: target.port },
          address ? parseHostPort(address, 'address') : null,
        );
        const set = config.nodeOverrides[nodeKey(target.host, target.port)];
        console.log(
          set
            ? `Node ${node} of ${id} is reached at ${set.host}:${set.port}.`
            : `Node ${node} of ${id} is reached at its own address.`,
        );
      }),
    );

  cluster
    .command('remove <id>')
    .description('stop backing up a cluster; its backups stay in the repository')
    .action((id: string) =>
      withEngine(async (engine) => console.log((await engine.clusters.remove(id)).message)),
    );
}

async function addCommand(options: AddOptions): Promise<void> {
  await withEngine(async (engine) => {
    const existing = new Set((await engine.clusters.list()).map((c) => c.config.id));
    const id = options.id ?? uniqueId(options.name, existing);
    const input: AddClusterInput = {
      id,
      name: options.name,
      coordinator: {
        host: options.host,
        port: options.port,
        database: options.database,
        user: options.user,
        sslmode: options.sslmode,
        ...(options.caFile ? { caFile: options.caFile } : {}),
        ...(options.certFile ? { certFile: options.certFile } : {}),
        ...(options.keyFile ? { keyFile: options.keyFile } : {}),
      },
      nodeOverrides: options.nodeAddress,
      repositoryId: options.repository,
      ...(options.force ? { force: true } : {}),
    };
    const envName = secretEnvName(clusterSecretName(id, 'password'));
    if (process.env[envName] !== undefined) {
      console.log(
        `The password comes from ${envName}; it is not stored, so keep it set wherever Tidemark backs up this cluster.`,
      );
    } else if (options.passwordFile) {
      input.password = await readSecretFile(options.passwordFile, 'the password');
    } else if (options.password && canPrompt()) {
      input.password = await promptSecret(
        `Password of ${options.user} on ${options.host}:${options.port}: `,
      );
    }
    let result;
    try {
      result = await engine.clusters.add(input);
    } catch (err) {
      const checks = (err as TidemarkError).details?.checks as PreflightCheck[] | undefined;
      if (err instanceof TidemarkError && err.code === 'preflight_failed' && checks) {
        console.log(formatChecks(checks));
        const failed = checks.filter((c) => c.status === 'fail').length;
        throw new TidemarkError(
          'preflight_failed',
          `Cluster "${options.name}" was not added: ${failed} check${failed === 1 ? '' : 's'} failed (see the fixes above). Fix them and run the command again, or add --force.`,
        );
      }
      throw err;
    }
    console.log(formatChecks(result.checks));
    console.log(
      `Cluster ${result.cluster.config.id} added: Citus ${result.citusVersion} on PostgreSQL ${result.serverVersion}, ${result.nodes.length} node(s):`,
    );
    for (const node of result.nodes)
      console.log(
        `  ${node.nodeId}  ${node.role} ${node.name}:${node.port} (group ${node.groupId})`,
      );
    console.log(`Backups go to repository ${result.cluster.config.repositoryId}.`);
  });
}

/** One line per check, ✓ ok, ! warning, ✗ failure, each problem followed by its fix. */
export function formatChecks(checks: readonly PreflightCheck[]): string {
  const mark = { ok: '✓', warn: '!', fail: '✗' } as const;
  const lines: string[] = [];
  let node = '';
  for (const check of checks) {
    if (check.node !== node) {
      node = check.node;
      lines.push(node);
    }
    lines.push(`  ${mark[check.status]} ${check.message}`);
    if (check.status !== 'ok' && check.fix) lines.push(`      fix: ${check.fix}`);
  }
  return lines.join('\n');
}

function formatRefresh(refresh: TopologyRefresh): string {
  const lines: string[] = [];
  for (const node of refresh.added)
    lines.push(
      `added    ${node.nodeId}  ${node.role} ${node.name}:${node.port}: its WAL stream and a base backup start with the next run`,
    );
  for (const node of refresh.removed)
    lines.push(
      `removed  ${node.nodeId}  ${node.role} ${node.name}:${node.port}: its backups are kept`,
    );
  for (const move of refresh.moved)
    lines.push(
      `moved    ${move.nodeId}  ${move.before.name}:${move.before.port} → ${move.after.name}:${move.after.port}`,
    );
  for (const node of refresh.unreachable) lines.push(`unreachable ${node.nodeId}: ${node.message}`);
  for (const warning of refresh.warnings) lines.push(`warning: ${warning}`);
  return lines.length > 0
    ? lines.join('\n')
    : `The nodes of ${refresh.clusterId} have not changed.`;
}

export function parsePort(value: string): number {
  const port = Number(value);
  if (!/^\d+$/.test(value) || port < 1 || port > 65535)
    throw new InvalidArgumentError('expected a port number from 1 to 65535.');
  return port;
}

function parseSslMode(value: string): SslMode {
  if (!(sslModes as readonly string[]).includes(value))
    throw new InvalidArgumentError(`expected one of ${sslModes.join(', ')}.`);
  return value as SslMode;
}

/** `host:port`, the host possibly an IPv6 address with colons. */
function parseHostPort(value: string, what: string): NodeAddress {
  const at = value.lastIndexOf(':');
  const host = value.slice(0, at).replace(/^\[(.*)\]$/, '$1');
  if (at <= 0 || host === '')
    throw new InvalidArgumentError(`expected the ${what} as host:port, got "${value}".`);
  return { host, port: parsePort(value.slice(at + 1)) };
}

function parseNodeAddress(
  value: string,
  previous: Record<string, NodeAddress>,
): Record<string, NodeAddress> {
  const eq = value.indexOf('=');
  if (eq <= 0)
    throw new InvalidArgumentError(
      `expected <name:port as in pg_dist_node>=<host:port>, got "${value}".`,
    );
  const node = parseHostPort(value.slice(0, eq), 'node');
  return {
    ...previous,
    [nodeKey(node.host, node.port)]: parseHostPort(value.slice(eq + 1), 'address'),
  };
}
