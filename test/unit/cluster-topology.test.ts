import { describe, expect, it } from 'vitest';
import { mapConnectionError } from '../../main/engine/cluster/connect.js';
import {
  backupTargets,
  diffTopology,
  resolveNodeAddress,
  type ClusterNode,
} from '../../main/engine/cluster/discovery.js';
import {
  newRestorePointName,
  validateRestorePointName,
} from '../../main/engine/cluster/restore-points.js';

const node = (
  nodeId: number,
  groupId: number,
  name: string,
  port = 5432,
  extra: Partial<ClusterNode> = {},
): ClusterNode => ({
  nodeId,
  groupId,
  name,
  port,
  role: groupId === 0 ? 'coordinator' : 'worker',
  isActive: true,
  hasMetadata: true,
  nodeRole: 'primary',
  ...extra,
});

describe('topology', () => {
  const coordinator = node(1, 0, 'coord');
  const w1 = node(2, 1, 'w1');
  const w2 = node(3, 2, 'w2');

  it('reports added, removed and changed nodes by node id', () => {
    const w3 = node(4, 3, 'w3');
    const moved = { ...w1, name: 'w1-new', port: 6432 };
    const diff = diffTopology(
      { nodes: [coordinator, w1, w2] },
      { nodes: [coordinator, moved, w3] },
    );
    expect(diff.added).toEqual([w3]);
    expect(diff.removed).toEqual([w2]);
    expect(diff.changed).toEqual([
      { nodeId: 2, before: w1, after: moved, fields: ['name', 'port'] },
    ]);
    expect(diffTopology({ nodes: [coordinator, w1] }, { nodes: [w1, coordinator] })).toEqual({
      added: [],
      removed: [],
      changed: [],
    });
  });

  it('backs up active primaries only', () => {
    const secondary = node(5, 1, 'w1-replica', 5432, { nodeRole: 'secondary' });
    const inactive = node(6, 4, 'w4', 5432, { isActive: false });
    expect(
      backupTargets({ nodes: [coordinator, w1, secondary, inactive] } as never).map(
        (n) => n.nodeId,
      ),
    ).toEqual([1, 2]);
  });

  it('resolves a node through its override, else its pg_dist_node address', () => {
    const overrides = { 'w1:5432': { host: '198.51.100.4', port: 15432 } };
    expect(resolveNodeAddress(w1, overrides)).toEqual({ host: '198.51.100.4', port: 15432 });
    expect(resolveNodeAddress(w2, overrides)).toEqual({ host: 'w2', port: 5432 });
  });
});

describe('connection errors', () => {
  const target = { host: 'db1', port: 5433, user: 'tm', database: 'app' };

  it('maps each failure to a code and a message naming the node', () => {
    const cases: Array<[unknown, string, RegExp]> = [
      [
        Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }),
        'connection_failed',
        /db1:5433: connection refused/,
      ],
      [
        Object.assign(new Error('getaddrinfo ENOTFOUND db1'), { code: 'ENOTFOUND' }),
        'connection_failed',
        /"db1" does not resolve/,
      ],
      [
        new Error('Connection terminated due to connection timeout'),
        'connection_failed',
        /no answer in time/,
      ],
      [
        Object.assign(new Error('password authentication failed for user "tm"'), { code: '28P01' }),
        'authentication_failed',
        /rejected the password of user "tm"/,
      ],
      [
        Object.assign(new Error('no pg_hba.conf entry for host'), { code: '28000' }),
        'permission_denied',
        /pg_hba\.conf/,
      ],
      [
        Object.assign(new Error('database "app" does not exist'), { code: '3D000' }),
        'not_found',
        /Database "app" does not exist on db1:5433/,
      ],
      [
        new Error('SASL: SCRAM-SERVER-FIRST-MESSAGE: client password must be a string'),
        'authentication_failed',
        /none is stored/,
      ],
      [
        new Error('The server does not support SSL connections'),
        'connection_failed',
        /does not accept TLS/,
      ],
      [
        Object.assign(new Error('self-signed certificate'), {
          code: 'DEPTH_ZERO_SELF_SIGNED_CERT',
        }),
        'connection_failed',
        /TLS with db1:5433 failed/,
      ],
    ];
    for (const [err, code, message] of cases) {
      const mapped = mapConnectionError(err, target);
      expect(mapped.code, String(err)).toBe(code);
      expect(mapped.message).toMatch(message);
      expect(mapped.details).toMatchObject({ host: 'db1', port: 5433 });
    }
  });
});

describe('restore point names', () => {
  it('makes sortable, valid names', () => {
    const name = newRestorePointName(new Date('2026-11-24T03:15:00.123Z'), 'abcd1234');
    expect(name).toBe('tidemark-20261124T031500Z-abcd1234');
    expect(newRestorePointName().length).toBeLessThan(64);
  });

  it('rejects names PostgreSQL would refuse or that are unsafe in a recovery config', () => {
    expect(() => validateRestorePointName('x'.repeat(63))).not.toThrow();
    expect(() => validateRestorePointName('x'.repeat(64))).toThrow(/at most 63 bytes/);
    for (const bad of ['', "it's", 'a b', '-leading', 'new\nline', 'ümlaut']) {
      expect(() => validateRestorePointName(bad), bad).toThrow(
        expect.objectContaining({ code: 'invalid_input' }),
      );
    }
  });
});
