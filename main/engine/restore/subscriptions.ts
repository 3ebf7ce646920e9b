import pg from 'pg';

export interface DisabledSubscription {
  database: string;
  name: string;
}

/**
 * Disables every enabled logical replication subscription of a restored node. They came with
 * the data and still name their publishers (often production): enabled, they would connect
 * there and consume changes from a replication slot another subscriber relies on. Disabling
 * does not contact the publisher. `connect` opens a superuser connection to a database.
 */
export async function disableSubscriptions(listClient: pg.Client, connect: (database: string) => Promise<pg.Client>): Promise<DisabledSubscription[]> {
  const { rows } = await listClient.query<{ datname: string; subname: string }>(
    `SELECT d.datname, s.subname FROM pg_catalog.pg_subscription s JOIN pg_catalog.pg_database d ON d.oid = s.subdbid WHERE s.subenabled ORDER BY 1, 2`,
  );
  const disabled: DisabledSubscription[] = [];
  for (const row of rows) {
    const client = await connect(row.datname);
    try {
      await client.query(`ALTER SUBSCRIPTION ${pg.escapeIdentifier(row.subname)} DISABLE`);
      disabled.push({ database: row.datname, name: row.subname });
    } finally {
      await client.end().catch(() => undefined);
    }
  }
  return disabled;
}
