import { execFile } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { appendFile, chmod, mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import type { Catalog } from '../../main/engine/catalog/catalog.js';
import { layout } from '../../main/engine/catalog/layout.js';
import type { BaseBackupRecord } from '../../main/engine/catalog/records.js';
import { createDecompressor } from '../../main/engine/compression/decompressor.js';
import type { Repository } from '../../main/engine/repository/repository.js';
import { exportWal } from './backup-fixtures.js';
import { extractTarForPostgres } from './tar-extract.js';

const exec = promisify(execFile);

export interface ManualRestore {
  dataDir: string;
  manifest: string;
  walDir: string;
  /** tablespace oid → where its archive was extracted */
  tablespaces: Record<number, string>;
}

/**
 * Restores a backup by hand, as a DBA would with only the repository: each archive decrypted
 * (openObject) and decompressed (createDecompressor) into a plain tar, extracted with tar; the
 * manifest decrypted beside it; the node's complete WAL segments decrypted into a folder.
 * Tablespaces are extracted to their own folders and linked from pg_tblspc.
 */
export async function restoreByHand(repository: Repository, catalog: Catalog, record: BaseBackupRecord, dir: string): Promise<ManualRestore> {
  await mkdir(dir, { recursive: true });
  await chmod(dir, 0o777);
  const dataDir = join(dir, 'data');
  const tablespaces: Record<number, string> = {};
  const ordered = [...record.archives].sort((a, b) => (a.tablespaceOid === null ? -1 : b.tablespaceOid === null ? 1 : 0));
  for (const archive of ordered) {
    const tar = join(dir, archive.name.replace(/\.(lz4|zst|gz)$/, ''));
    const key = layout.backupArchive(record.clusterId, record.nodeId, record.backupId, archive.name);
    await pipeline(repository.openObject(key), createDecompressor(record.compression), createWriteStream(tar));
    if (archive.tablespaceOid === null) {
      await extractTarForPostgres(tar, dataDir);
    } else {
      const location = join(dir, `tablespace-${archive.tablespaceOid}`);
      await extractTarForPostgres(tar, location);
      tablespaces[archive.tablespaceOid] = location;
    }
  }
  for (const [oid, location] of Object.entries(tablespaces)) {
    await mkdir(join(dataDir, 'pg_tblspc'), { recursive: true });
    await symlink(location, join(dataDir, 'pg_tblspc', oid));
    if (process.getuid?.() === 0) await exec('chown', ['-h', 'postgres:postgres', join(dataDir, 'pg_tblspc', oid)]);
  }
  const manifest = join(dir, 'backup_manifest');
  await writeFile(manifest, await repository.readObject(layout.backupManifest(record.clusterId, record.nodeId, record.backupId)));
  const walDir = join(dir, 'wal');
  await exportWal(repository, catalog, record.clusterId, record.nodeId, walDir);
  await chmod(walDir, 0o755);
  if (process.getuid?.() === 0) await exec('chown', ['-R', 'postgres:postgres', dataDir, walDir, manifest, ...Object.values(tablespaces)]);
  return { dataDir, manifest, walDir, tablespaces };
}

/**
 * Sets the data directory up to recover from `walDir` to the end of the archived WAL, with
 * tablespace_map naming where the tablespaces were extracted (after pg_verifybackup: the map is
 * in the manifest as the server wrote it).
 */
export async function configureRecovery(restore: ManualRestore): Promise<void> {
  if (Object.keys(restore.tablespaces).length > 0) {
    const lines = Object.entries(restore.tablespaces).map(([oid, location]) => `${oid} ${location}`);
    await writeFile(join(restore.dataDir, 'tablespace_map'), `${lines.join('\n')}\n`);
    if (process.getuid?.() === 0) await exec('chown', ['postgres:postgres', join(restore.dataDir, 'tablespace_map')]);
  }
  await writeFile(join(restore.dataDir, 'recovery.signal'), '');
  await appendFile(
    join(restore.dataDir, 'postgresql.auto.conf'),
    `restore_command = 'cp ${restore.walDir}/%f %p'\nrecovery_target_timeline = 'latest'\n`,
  );
  if (process.getuid?.() === 0) await exec('chown', ['postgres:postgres', join(restore.dataDir, 'recovery.signal'), join(restore.dataDir, 'postgresql.auto.conf')]);
}
