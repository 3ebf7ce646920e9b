import type { AccessRules } from './access-config.js';
import type { MetadataRewrite } from './citus-metadata.js';
import type { ConfigNote } from './recovery-config.js';
import type { DisabledSubscription } from './subscriptions.js';

export interface ChecklistItem {
  id: 'redirect-clients' | 'access-rules' | 'logins' | 'monitoring' | 'subscriptions' | 'ssl' | 'parameters' | 'outbound-connections' | 'citus-metadata';
  title: string;
  detail: string;
}

export interface ChecklistInput {
  /** e.g. postgresql://postgres@127.0.0.1:6001/postgres */
  connectionString: string;
  superuser: string;
  access: AccessRules;
  nodeAddresses: string[];
  configNotes: ConfigNote[];
  disabledSubscriptions: DisabledSubscription[];
  /** extension names present on the source */
  extensions: string[];
  metadata: MetadataRewrite[];
}

/** Extensions whose objects (foreign servers, scheduled jobs) may name production hosts. */
const outboundExtensions = ['dblink', 'postgres_fdw', 'pg_cron', 'mysql_fdw', 'oracle_fdw', 'tds_fdw'];

/** What the DBA still has to do: the restore never copies access rules or touches clients. */
export function buildChecklist(input: ChecklistInput): ChecklistItem[] {
  const items: ChecklistItem[] = [
    {
      id: 'redirect-clients',
      title: 'Redirect clients',
      detail: `Point applications at the new coordinator: ${input.connectionString}. The source cluster is unchanged and still serves its clients.`,
    },
    {
      id: 'access-rules',
      title: 'Review access rules',
      detail: `pg_hba.conf was generated, not copied: local peer access for "${input.superuser}"${(input.access.allowLocalhost ?? true) ? ', localhost' : ''}${(input.access.clientCidrs ?? []).length ? `, ${(input.access.clientCidrs ?? []).join(', ')}` : ''} and the nodes ${input.nodeAddresses.join(', ')}, with ${input.access.method ?? 'scram-sha-256'}. The source's file is kept as pg_hba.conf.source in each data directory, for reference.`,
    },
    {
      id: 'logins',
      title: 'Logins and permissions',
      detail: 'Roles, passwords and grants came with the data. If the restored cluster is for another team or environment, rotate the passwords and review who may log in.',
    },
    {
      id: 'monitoring',
      title: 'Alerts, monitoring and backups',
      detail: 'Add the new nodes to monitoring and alerting. WAL archiving is off (archive_mode = off) so nothing is written into the source\'s archive: set up backups of the new cluster (add it to Tidemark) before relying on it.',
    },
  ];
  if (input.disabledSubscriptions.length > 0) {
    items.push({
      id: 'subscriptions',
      title: 'Logical replication subscriptions were disabled',
      detail: `${input.disabledSubscriptions.map((s) => `${s.name} (database ${s.database})`).join(', ')} still name their publishers and would consume their changes. Point them elsewhere (ALTER SUBSCRIPTION … CONNECTION …) before enabling them, if at all.`,
    });
  }
  for (const note of input.configNotes) {
    items.push({ id: note.kind === 'ssl_disabled' ? 'ssl' : 'parameters', title: note.kind === 'ssl_disabled' ? 'SSL was turned off' : 'Parameters not carried', detail: note.message });
  }
  const outbound = outboundExtensions.filter((e) => input.extensions.includes(e));
  if (outbound.length > 0) {
    items.push({
      id: 'outbound-connections',
      title: 'Check objects that connect out',
      detail: `The cluster uses ${outbound.join(', ')}: foreign servers, user mappings and scheduled jobs came with the data and may still name production hosts. Review them before the restored cluster runs jobs.`,
    });
  }
  const unrestored = input.metadata.flatMap((m) => m.unrestored);
  if (unrestored.length > 0) {
    items.push({
      id: 'citus-metadata',
      title: 'Nodes not restored',
      detail: `pg_dist_node rows with no restored node (${[...new Set(unrestored.map((u) => `nodeid ${u.nodeId}, was ${u.nodename}:${u.nodeport}`))].join('; ')}) now name unresolvable .invalid hosts. Remove them (citus_remove_node) or add replacements.`,
    });
  }
  return items;
}
