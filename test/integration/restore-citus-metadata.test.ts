import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { TidemarkError } from '../../main/engine/errors.js';
import { hasCitusMetadata, rewriteCitusMetadata, unrestoredNodeName } from '../../main/engine/restore/citus-metadata.js';
import { applyCitusFixture } from '../support/citus-cluster.js';
import { PgInstance, postgresAvailable } from '../support/postgres.js';
import { tempDir } from '../support/temp-dir.js';

/** The metadata rewrite on one node carrying the fixture's catalog (and its trigger that refuses writes without Citus). */
describe.skipIf(!postgresAvailable())('Citus metadata rewrite', () => {
  let root: { path: string; cleanup: () => Promise<void> };
  let node: PgInstance;
  let client: pg.Client;

  beforeAll(async () => {
    root = await tempDir('tidemark-meta-');
    node = await PgInstance.create({ dir: join(root.path, 'node'), conf: { max_prepared_transactions: 5 } });
    await applyCitusFixture(node);
    client = new pg.Client(node.connectionConfig());
    await client.connect();
  });
  afterAll(async () => {
    await client?.end();
    await node?.stop('immediate');
    await root?.cleanup();
  });

  beforeEach(async () => {
    await client.query(`BEGIN; SET LOCAL session_replication_role = replica;
      DELETE FROM pg_catalog.pg_dist_node; DELETE FROM pg_catalog.pg_dist_poolinfo; DELETE FROM pg_catalog.pg_dist_authinfo;
      INSERT INTO pg_catalog.pg_dist_node (nodeid, groupid, nodename, nodeport, isactive, noderole) VALUES
        (1, 0, 'prod-coord', 5432, true, 'primary'), (2, 1, 'prod-w1', 5432, true, 'primary'),
        (3, 2, 'prod-w2', 5432, true, 'primary'), (4, 1, 'prod-w1-standby', 5432, true, 'secondary');
      INSERT INTO pg_catalog.pg_dist_poolinfo VALUES (2, 'host=pgbouncer-w1 port=6432');
      INSERT INTO pg_catalog.pg_dist_authinfo VALUES (0, 'postgres', 'password=x'), (2, 'postgres', 'host=10.0.0.9 sslmode=require'), (3, 'app', 'sslcert=/c.crt hostaddr=10.0.0.8');
      COMMIT`);
  });

  it('the fixture refuses direct writes without Citus, as a real cluster does', async () => {
    await expect(client.query(`UPDATE pg_catalog.pg_dist_node SET nodeport = 1 WHERE nodeid = 1`)).rejects.toThrow('Citus can only be loaded via shared_preload_libraries');
    expect(await hasCitusMetadata(client)).toBe(true);
  });

  it('points every row at its restored node, swaps included, and clears production addresses', async () => {
    const result = await rewriteCitusMetadata(
      client,
      'postgres',
      [
        { distNodeId: 1, host: '127.0.0.1', port: 7001 },
        // the two workers swap addresses: the (nodename, nodeport) unique key must not trip
        { distNodeId: 2, host: '127.0.0.1', port: 7003 },
        { distNodeId: 3, host: '127.0.0.1', port: 7002 },
      ],
      'node n1',
    );
    expect(result).toMatchObject({ rewritten: 3, poolinfoRemoved: 1, authinfoRemoved: 2 });
    expect(result.unrestored).toEqual([{ nodeId: 4, nodename: 'prod-w1-standby', nodeport: 5432 }]);
    const { rows } = await client.query<{ nodeid: number; a: string }>(`SELECT nodeid, nodename || ':' || nodeport AS a FROM pg_catalog.pg_dist_node ORDER BY nodeid`);
    expect(rows).toEqual([
      { nodeid: 1, a: '127.0.0.1:7001' },
      { nodeid: 2, a: '127.0.0.1:7003' },
      { nodeid: 3, a: '127.0.0.1:7002' },
      { nodeid: 4, a: `${unrestoredNodeName(4)}:5432` },
    ]);
    expect((await client.query('SELECT nodeid, rolename, authinfo FROM pg_catalog.pg_dist_authinfo')).rows).toEqual([{ nodeid: 0, rolename: 'postgres', authinfo: 'password=x' }]);
    // the session is back to normal: the trigger applies again
    await expect(client.query(`UPDATE pg_catalog.pg_dist_node SET nodeport = 1 WHERE nodeid = 1`)).rejects.toThrow('Citus can only be loaded');
  });

  it('refuses, changing nothing, when an active primary has no restored node', async () => {
    const error = await rewriteCitusMetadata(client, 'postgres', [{ distNodeId: 1, host: '127.0.0.1', port: 7001 }], 'node n1').catch((e: unknown) => e);
    expect((error as TidemarkError).code).toBe('invalid_input');
    expect((error as TidemarkError).message).toContain('nodeid 2 (prod-w1:5432)');
    const { rows } = await client.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_catalog.pg_dist_node WHERE nodename LIKE 'prod-%'`);
    expect(rows[0]?.n).toBe(4);
  });
});
