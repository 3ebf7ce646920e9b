import type { RetentionResult, RetentionRun } from '../../engine/catalog/retention-executor.js';
import type { RepositoryRepairReport } from '../../engine/catalog/verify-repair.js';
import { formatBytes } from '../../engine/catalog/verify-summary.js';
import type { LockRecord } from '../../engine/catalog/records.js';
import type { RepositoryConfig } from '../../engine/repository/repository-config.js';
import type { RepositoryStatus } from '../../engine/repository/repository-manager.js';

export function formatLock(lock: LockRecord): string {
  return lock.locked
    ? `LOCKED since ${lock.changedAt} by ${lock.changedBy}${lock.reason ? ` (${lock.reason})` : ''}`
    : 'unlocked';
}

export function formatStatus(status: RepositoryStatus): string {
  const lines = [
    `Repository ${status.id} (${status.name})`,
    `  Lock:      ${formatLock(status.lock)}`,
    `  Retention: ${status.retentionDays} days; an object is stored once ${status.minZones} zone(s) have it; key: ${status.keySource}`,
    '  Zones:',
  ];
  for (const zone of status.zones) {
    const health = zone.reachable
      ? `reachable (${zone.latencyMs} ms)`
      : `UNREACHABLE: ${zone.error ?? 'no answer'}`;
    const missed = status.missedWrites[zone.id] ?? 0;
    lines.push(
      `    ${zone.id} (${zone.kind}, "${zone.name}"): ${health}${missed > 0 ? `, DEGRADED: missed ${missed} write(s); run "tidemark repo repair ${status.id}"` : ''}`,
    );
  }
  const c = status.counts;
  lines.push(
    `  Catalog:   ${c.clusters} cluster(s), ${c.nodes} node(s), ${c.backups} base backup(s), ${c.walSegments} WAL segment(s), ${c.restorePoints} restore point(s)`,
  );
  lines.push(
    `  Sizes:     base backups ${formatBytes(status.sizes.backupBytes)}, WAL ${formatBytes(status.sizes.walBytes)}`,
  );
  if (status.oldestBackupAt)
    lines.push(
      `  Backups:   oldest started ${status.oldestBackupAt}, newest ${status.newestBackupAt}`,
    );
  return lines.join('\n');
}

export function formatList(configs: RepositoryConfig[]): string {
  if (configs.length === 0)
    return 'No repository is configured. Create one with "tidemark repo init".';
  return configs
    .map(
      (c) =>
        `${c.id}  "${c.name}"  ${c.zones.length} zone(s): ${c.zones.map((z) => `${z.id} (${z.kind})`).join(', ')}; retention ${c.retentionDays} days`,
    )
    .join('\n');
}

export function formatPlan(run: RetentionRun, dryRun: boolean): string {
  const { plan } = run;
  const lines = [
    `Retention window: ${plan.retentionDays} days; everything since ${plan.windowStart} stays restorable.`,
  ];
  for (const node of plan.nodes) {
    const cut = node.walCutoff
      ? `; WAL before ${node.walCutoff.lsn} (segment ${node.walCutoff.segment}) goes`
      : '';
    lines.push(
      `  ${node.clusterId}/${node.nodeId}: keeps ${node.keptBackups.length} base backup(s)${node.keptBackups.length > 0 ? ` from ${node.keptBackups[0]}` : ''}, deletes ${node.deletedBackups.length}${cut}`,
    );
  }
  const verb = dryRun ? 'Would delete' : 'Deleting';
  lines.push(
    `${verb} ${plan.totals.objects} object(s), ${formatBytes(plan.totals.bytes)}${plan.totals.objects > 0 ? ':' : '.'}`,
  );
  if (dryRun) for (const d of plan.deletions) lines.push(`  ${d.key}  ${formatBytes(d.bytes)}`);
  if (run.unreachableZones.length > 0)
    lines.push(
      `Zone(s) ${run.unreachableZones.join(', ')} could not be listed; their copies are not included.`,
    );
  if (run.locked) lines.push('The repository is LOCKED: nothing is deleted until it is unlocked.');
  return lines.join('\n');
}

export function formatPruneResult(result: RetentionResult): string {
  const lines = [`Deleted ${result.deleted} object(s), ${formatBytes(result.bytes)}.`];
  if (result.incomplete.length > 0) {
    lines.push(
      `${result.incomplete.length} object(s) remain in unreachable zones and will be deleted by a later prune:`,
    );
    for (const item of result.incomplete.slice(0, 10))
      lines.push(`  ${item.key} (${item.zones.join(', ')})`);
  }
  return lines.join('\n');
}

export function formatRepair(report: RepositoryRepairReport): string {
  const lines = [`Checked ${report.checked} object(s).`];
  for (const zone of report.zones) {
    lines.push(
      `  ${zone.zoneId}: ${zone.copied.length} copied${zone.failed.length > 0 ? `, ${zone.failed.length} FAILED` : ''}`,
    );
    for (const failure of zone.failed.slice(0, 10))
      lines.push(`    ${failure.key}: ${failure.message}`);
  }
  lines.push(
    report.ok
      ? 'Every zone holds a good copy of every object.'
      : 'Some objects could not be repaired; see above.',
  );
  return lines.join('\n');
}
