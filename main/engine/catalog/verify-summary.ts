import type { VerifyReport } from './verify.js';

const listed = 10;

/** A verify report as the lines a DBA reads: per zone, per node, per backup, then the verdict. */
export function summarizeVerify(report: VerifyReport): string {
  const lines: string[] = [];
  const objects = report.zones.reduce((sum, z) => sum + z.checked, 0);
  const bytes = report.zones.reduce((sum, z) => sum + z.bytesChecked, 0);
  const sample =
    report.sample >= 1
      ? 'every object'
      : `a ${(report.sample * 100).toFixed(1).replace(/\.0$/, '')}% sample`;
  lines.push(
    `Repository ${report.repositoryId}: authenticated ${objects} object copies (${formatBytes(bytes)}) in ${report.zones.length} zone(s), ${sample}.`,
  );

  for (const zone of report.zones) {
    if (!zone.reachable) {
      lines.push(`Zone ${zone.zoneId} (${zone.kind}): UNREACHABLE — ${zone.error ?? 'no answer'}`);
      continue;
    }
    const bad = zone.missing.length + zone.corrupt.length + zone.unreadable.length;
    lines.push(
      `Zone ${zone.zoneId} (${zone.kind}): ${bad === 0 ? 'OK' : `${bad} problem(s)`} — ${zone.objects} objects, ${zone.checked} authenticated.`,
    );
    lines.push(...limit(zone.missing.map((key) => `  missing: ${key}`)));
    lines.push(...limit(zone.corrupt.map((p) => `  corrupt: ${p.key} — ${p.message}`)));
    lines.push(...limit(zone.unreadable.map((p) => `  unreadable: ${p.key} — ${p.message}`)));
  }
  if (report.lost.length > 0) {
    lines.push(`Lost (in the catalog, in no zone): ${report.lost.length}`);
    lines.push(...limit(report.lost.map((key) => `  ${key}`)));
  }

  for (const node of report.wal) {
    const where = `WAL ${node.clusterId}/${node.nodeId}`;
    const { continuity } = node;
    const ranges = continuity.timelines.map(
      (t) =>
        `timeline ${t.timeline}: ${t.ranges.map((r) => `${r.from}–${r.to}`).join(', ') || 'none'}`,
    );
    lines.push(
      `${where}: ${ranges.join('; ') || 'no WAL stored'}${continuity.gaps.length === 0 ? ', no gaps' : ''}.`,
    );
    for (const gap of continuity.gaps) {
      lines.push(
        `  GAP on timeline ${gap.timeline} from ${gap.from} to ${gap.to} (first missing segment ${gap.firstSegment})${gap.affectsRestore ? '' : ' — before the oldest backup, no restore needs it'}`,
      );
    }
    for (const backup of continuity.backups.filter((b) => !b.complete)) {
      lines.push(
        `  backup ${backup.backupId} lacks the WAL it needs: ${backup.missing.map((m) => `${m.from}–${m.to}`).join(', ')}`,
      );
    }
    for (const timeline of continuity.missingHistories)
      lines.push(`  timeline ${timeline} has WAL but no history file`);
    for (const problem of node.historyErrors)
      lines.push(`  history ${problem.key}: ${problem.message}`);
    for (const gap of node.recordedGaps)
      lines.push(
        `  recorded gap on timeline ${gap.timeline} from ${gap.fromLsn} to ${gap.toLsn}: ${gap.reason}`,
      );
  }

  if (report.backups.length > 0) {
    const bad = report.backups.filter((b) => !b.ok);
    lines.push(
      `Base backups checked against their manifests: ${report.backups.length}, ${bad.length === 0 ? 'all match' : `${bad.length} do not`}.`,
    );
    for (const backup of bad) {
      const head = `  backup ${backup.backupId} of ${backup.clusterId}/${backup.nodeId}`;
      if (backup.error) lines.push(`${head}: ${backup.error.message}`);
      if (backup.manifestChecksumValid === false)
        lines.push(`${head}: the manifest's own checksum does not match`);
      lines.push(
        ...limit(
          backup.problems.map(
            (p) =>
              `${head}: ${p.path} ${p.problem === 'missing' ? 'is missing' : `${p.problem} differs (expected ${p.problem === 'size' ? p.expected.size : p.expected.checksum}, found ${p.problem === 'size' ? p.actual?.size : p.actual?.checksum})`}`,
          ),
        ),
      );
    }
  }

  if (report.ok) lines.push('Result: OK.');
  else {
    const repairable = report.zones.some((z) => z.missing.length + z.corrupt.length > 0);
    lines.push(
      `Result: ${report.problems} problem(s).${repairable ? ' Run "tidemark repo repair" to copy missing or damaged objects from a good zone.' : ''}`,
    );
  }
  return lines.join('\n');
}

function limit(lines: string[]): string[] {
  return lines.length <= listed
    ? lines
    : [...lines.slice(0, listed), `  … and ${lines.length - listed} more (see --json)`];
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}
