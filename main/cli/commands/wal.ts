import type { Command } from 'commander';
import type { WalNodeOverview } from '../../engine/backup/wal-overview.js';
import type { WalStatus } from '../../engine/backup/wal-archiver.js';
import { formatBytes } from '../../engine/catalog/verify-summary.js';
import { TidemarkError } from '../../engine/errors.js';
import { waitForShutdownSignal } from '../shutdown-signal.js';
import { withEngine } from '../with-engine.js';

export function register(program: Command): void {
  const wal = program.command('wal').description("the continuous WAL streams of a cluster's nodes");

  wal
    .command('status <cluster>')
    .description("each node's slot, where its archived WAL ends and who streams it")
    .option('--json', 'print JSON')
    .action((clusterId: string, options: { json?: boolean }) =>
      withEngine(async (engine) => {
        const overview = await engine.backups.walOverview(clusterId);
        if (options.json) return void console.log(JSON.stringify(overview, null, 2));
        for (const node of overview) console.log(formatOverview(node));
        if (overview.some((n) => n.error || !n.slotOnServer?.active)) process.exitCode = 1;
      }),
    );

  wal
    .command('stream <cluster>')
    .description('stream every node\'s WAL into the repository in the foreground, until SIGINT or SIGTERM')
    .action((clusterId: string) =>
      withEngine(async (engine) => {
        const print = (status: WalStatus): void => console.log(`[${time()}] ${formatStatus(status)}`);
        engine.backups.on('walStatus', print);
        engine.backups.on('walGap', (e) => console.error(`[${time()}] ALERT ${e.message}`));
        engine.backups.on('walBacklog', (e) => console.error(`[${time()}] WARNING ${e.message}`));
        engine.backups.on('walWarning', (e) => console.error(`[${time()}] WARNING ${e.message}`));
        await engine.backups.startWalStreams(clusterId);
        const summary = setInterval(() => {
          for (const status of engine.backups.walStatus(clusterId)) print(status);
        }, 60_000);
        const signal = await waitForShutdownSignal();
        clearInterval(summary);
        console.log(`[${time()}] ${signal}: storing what was received and stopping…`);
        const stopped = await engine.backups.stopWalStreams(clusterId);
        for (const status of stopped) print(status);
        const failed = stopped.filter((s) => s.state === 'failed');
        if (failed.length > 0) {
          throw new TidemarkError(failed[0]!.lastError?.code ?? 'internal', failed.map((s) => s.lastError?.message ?? `${s.nodeId} failed`).join(' | '));
        }
      }),
    );
}

function time(): string {
  return new Date().toISOString().slice(11, 19);
}

export function formatStatus(s: WalStatus): string {
  const where = s.storedLsn ? ` timeline ${s.timeline}, stored up to ${s.storedLsn}${s.lagBytes > 0 ? ` (${formatBytes(s.lagBytes)} received, not yet stored)` : ''}` : '';
  const backlog = s.backlogBytes !== null ? `, slot holds ${formatBytes(s.backlogBytes)}` : '';
  const error = s.lastError && s.state !== 'streaming' ? ` — ${s.lastError.message}` : '';
  return `${s.nodeId} ${s.node} [${s.slot}]: ${s.state}${where}${backlog}${error}`;
}

export function formatOverview(n: WalNodeOverview): string {
  const lines = [`${n.nodeId} ${n.node}  slot ${n.slot}`];
  if (n.error) lines.push(`  node: unreachable — ${n.error.message}`);
  else if (n.slotOnServer && !n.slotOnServer.exists) lines.push('  slot: missing on the server (no WAL is held for Tidemark; start "tidemark wal stream" or the agent)');
  else if (n.slotOnServer) {
    const holder = n.slotOnServer.holder
      ? `streamed by pid ${n.slotOnServer.holder.pid}${n.slotOnServer.holder.applicationName ? ` "${n.slotOnServer.holder.applicationName}"` : ''}${n.slotOnServer.holder.clientAddress ? ` from ${n.slotOnServer.holder.clientAddress}` : ''}`
      : 'NOT streamed by anyone';
    const backlog = n.slotOnServer.backlogBytes !== null ? `, holds ${formatBytes(n.slotOnServer.backlogBytes)} of WAL` : '';
    lines.push(`  slot: ${holder}; restart ${n.slotOnServer.restartLsn ?? 'none'}${backlog}${n.slotOnServer.walStatus ? ` (${n.slotOnServer.walStatus})` : ''}; server at ${n.serverLsn ?? 'unknown'}`);
  }
  lines.push(n.archived ? `  repository: WAL archived up to ${n.archived.storedEnd} on timeline ${n.archived.timeline}` : '  repository: no WAL archived yet');
  if (n.stream) lines.push(`  this process: ${formatStatus(n.stream)}`);
  return lines.join('\n');
}
