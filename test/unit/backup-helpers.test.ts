import { describe, expect, it } from 'vitest';
import { newBackupId } from '../../main/engine/backup/base-backup-job.js';
import { nodePartName } from '../../main/engine/backup/cluster-backup.js';
import { atNode, describeEndpoint, type NodeEndpoint } from '../../main/engine/backup/node-endpoint.js';
import { splitLibraries } from '../../main/engine/backup/server-config-capture.js';
import { walApplicationName, walSlotName } from '../../main/engine/backup/slot-name.js';
import { TidemarkError } from '../../main/engine/errors.js';

const endpoint: NodeEndpoint = {
  clusterId: 'prod-eu',
  nodeId: 'n2',
  role: 'worker',
  distNodeId: 2,
  groupId: 1,
  name: 'worker-1.internal',
  port: 5432,
  address: { host: '10.0.0.2', port: 6432 },
  user: 'backup',
  database: 'postgres',
  tls: { mode: 'require' },
};

describe('backup helpers', () => {
  it('names slots tidemark_<cluster>_<node> within 63 characters, unique for long names', () => {
    expect(walSlotName('prod-eu', 'n2')).toBe('tidemark_prod_eu_n2');
    const long = 'a'.repeat(60);
    const a = walSlotName(long, 'n1');
    const b = walSlotName(long, 'n2');
    expect(a).toHaveLength(63);
    expect(a).toMatch(/^[a-z0-9_]+$/);
    expect(a.startsWith('tidemark_aaaa')).toBe(true);
    expect(a).not.toBe(b);
    expect(walApplicationName('prod-eu', 'n2')).toBe('tidemark-wal prod-eu/n2');
  });

  it('makes backup ids that sort by time and fit the catalog id rule', () => {
    const id = newBackupId(new Date('2025-01-02T03:04:05.678Z'));
    expect(id).toMatch(/^20250102t030405z-[0-9a-f]{4}$/);
    expect(newBackupId(new Date('2025-01-02T03:04:06Z')) > id).toBe(true);
  });

  it('names the node in errors: cluster, node id, role and the address used', () => {
    expect(describeEndpoint(endpoint)).toBe('cluster "prod-eu" node n2 (worker 10.0.0.2:6432)');
    expect(nodePartName(endpoint)).toBe('n2 worker 10.0.0.2:6432');
    const wrapped = atNode(endpoint, new TidemarkError('permission_denied', 'Role "backup" lacks REPLICATION.', { retryable: false, details: { sqlstate: '42501' } }));
    expect(wrapped).toMatchObject({ code: 'permission_denied', retryable: false });
    expect(wrapped.message).toBe('Cluster "prod-eu" node n2 (worker 10.0.0.2:6432): Role "backup" lacks REPLICATION.');
    expect(wrapped.details).toEqual({ sqlstate: '42501', clusterId: 'prod-eu', nodeId: 'n2', node: '10.0.0.2:6432' });
    // already named: left alone
    expect(atNode(endpoint, wrapped)).toBe(wrapped);
    expect(atNode(endpoint, new Error('boom')).code).toBe('internal');
  });

  it('splits shared_preload_libraries', () => {
    expect(splitLibraries('citus, pg_stat_statements,"auto_explain"')).toEqual(['citus', 'pg_stat_statements', 'auto_explain']);
    expect(splitLibraries('')).toEqual([]);
  });
});
