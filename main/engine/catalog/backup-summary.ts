import type { BaseBackupRecord } from './records.js';

/** A base backup as lists and the timeline show it. */
export interface BackupSummary {
  backupId: string;
  startedAt: string;
  endedAt: string;
  startLsn: string;
  endLsn: string;
  timeline: number;
  compression: BaseBackupRecord['compression'];
  /** stored bytes (compressed archives and manifest, before encryption) */
  storedBytes: number;
  /** uncompressed size */
  dataBytes: number;
  serverVersion: string;
  degradedZones: string[];
}

/** Bytes a backup occupies in each zone, before encryption. */
export function storedBackupBytes(record: BaseBackupRecord): number {
  return record.archives.reduce((sum, a) => sum + a.bytes, 0) + record.manifestBytes;
}

export function summarizeBackup(record: BaseBackupRecord): BackupSummary {
  return {
    backupId: record.backupId,
    startedAt: record.startedAt,
    endedAt: record.endedAt,
    startLsn: record.startLsn,
    endLsn: record.endLsn,
    timeline: record.timeline,
    compression: record.compression,
    storedBytes: storedBackupBytes(record),
    dataBytes: record.dataBytes,
    serverVersion: record.serverConfig.serverVersion,
    degradedZones: record.degradedZones,
  };
}
