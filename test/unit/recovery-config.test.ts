import { describe, expect, it } from 'vitest';
import type { ServerConfig } from '../../main/engine/catalog/records.js';
import { finalHba, identFile, isolatedHba } from '../../main/engine/restore/access-config.js';
import { carryParameters, finalSettings, quoteConfValue, recoverySettings, renderAutoConf } from '../../main/engine/restore/recovery-config.js';
import { TidemarkError } from '../../main/engine/errors.js';

const conf = (value: string, source = 'configuration file') => ({ value, source });

function serverConfig(parameters: ServerConfig['parameters'], extra: Partial<ServerConfig> = {}): ServerConfig {
  return {
    serverVersion: '15.8',
    serverVersionNum: 150008,
    systemIdentifier: '7300000000000000000',
    parameters,
    extensions: [],
    sharedPreloadLibraries: [],
    dataChecksums: true,
    bootstrapSuperuser: 'postgres',
    ...extra,
  };
}

const citusSource = serverConfig(
  {
    data_directory: conf('/var/lib/postgresql/15/main', 'override'),
    config_file: conf('/etc/postgresql/15/main/postgresql.conf', 'override'),
    hba_file: conf('/etc/postgresql/15/main/pg_hba.conf', 'override'),
    listen_addresses: conf('*'),
    port: conf('5432'),
    unix_socket_directories: conf('/var/run/postgresql'),
    primary_conninfo: conf('host=prod-db-2 user=replicator password=secret'),
    primary_slot_name: conf('slot1'),
    archive_mode: conf('on'),
    archive_command: conf('pgbackrest --stanza=prod archive-push %p'),
    restore_command: conf('cp /mnt/archive/%f %p'),
    recovery_target_time: conf('2024-01-01 00:00:00'),
    synchronous_standby_names: conf('ANY 1 (s1, s2)'),
    shared_preload_libraries: conf('pg_stat_statements,citus'),
    max_logical_replication_workers: conf('8'),
    cluster_name: conf('prod'),
    ssl: conf('on'),
    ssl_cert_file: conf('server.crt'),
    ssl_key_file: conf('/var/lib/postgresql/15/main/server.key'),
    log_directory: conf('/var/log/postgresql'),
    stats_temp_directory: conf('/run/pg_stat_tmp'),
    shared_buffers: conf('16384'),
    work_mem: conf("4MB it's"),
    'citus.node_conninfo': conf('sslmode=require'),
    max_connections: conf('300'),
    max_prepared_transactions: conf('200'),
    max_worker_processes: conf('8', 'default'),
    max_wal_senders: conf('10', 'default'),
    max_locks_per_transaction: conf('128'),
    application_name: conf('psql', 'client'),
    DateStyle: conf('ISO, MDY', 'client'),
    TimeZone: conf('UTC', 'configuration file'),
  },
  { sharedPreloadLibraries: ['pg_stat_statements', 'citus'], extensions: [{ database: 'app', name: 'citus', version: '13.2-1' }] },
);

describe('carryParameters', () => {
  it('keeps the DBA settings and drops everything that names the source or reaches it', () => {
    const { parameters, ssl, notes } = carryParameters(citusSource);
    expect(parameters.get('shared_buffers')).toBe('16384');
    expect(parameters.get('citus.node_conninfo')).toBe('sslmode=require');
    expect(parameters.get('timezone')).toBe('UTC');
    for (const name of ['data_directory', 'config_file', 'hba_file', 'listen_addresses', 'port', 'unix_socket_directories', 'primary_conninfo', 'primary_slot_name', 'archive_mode', 'archive_command', 'restore_command', 'recovery_target_time', 'log_directory', 'stats_temp_directory', 'synchronous_standby_names']) {
      expect(parameters.has(name), name).toBe(false);
    }
    // session values of the capturing client are not server settings
    expect(parameters.has('application_name')).toBe(false);
    expect(parameters.has('datestyle')).toBe(false);
    expect(ssl).toBe(true);
    // an absolute path inside the source's data directory becomes relative to the new one
    expect(parameters.get('ssl_key_file')).toBe('server.key');
    expect(parameters.get('ssl_cert_file')).toBe('server.crt');
    const dropped = notes.find((n) => n.kind === 'parameters_not_carried');
    expect(dropped?.message).toContain('primary_conninfo');
    expect(dropped?.message).toContain('log_directory');
    expect(dropped?.message).not.toContain('secret');
  });

  it('carries the hot-standby-critical parameters whatever their source', () => {
    const { parameters } = carryParameters(citusSource);
    expect(parameters.get('max_connections')).toBe('300');
    expect(parameters.get('max_prepared_transactions')).toBe('200');
    expect(parameters.get('max_worker_processes')).toBe('8');
    expect(parameters.get('max_wal_senders')).toBe('10');
    expect(parameters.get('max_locks_per_transaction')).toBe('128');
  });

  it('turns ssl off, and says so, when the certificate is outside the data directory', () => {
    const config = serverConfig({
      data_directory: conf('/var/lib/postgresql/15/main', 'override'),
      ssl: conf('on'),
      ssl_cert_file: conf('/etc/ssl/certs/ssl-cert-snakeoil.pem'),
      ssl_key_file: conf('/etc/ssl/private/ssl-cert-snakeoil.key'),
    });
    const carried = carryParameters(config);
    expect(carried.ssl).toBe(false);
    expect(carried.parameters.has('ssl_cert_file')).toBe(false);
    expect(carried.parameters.has('ssl_key_file')).toBe(false);
    expect(carried.notes.find((n) => n.kind === 'ssl_disabled')?.message).toContain('/etc/ssl/certs/ssl-cert-snakeoil.pem');
    expect(finalSettings({ config, port: 6000, socketDir: '/r', listenAddresses: '*' }).get('ssl')).toBe('off');
  });

  it('treats a relative path that climbs out of the data directory as outside', () => {
    const config = serverConfig({ ssl: conf('on'), ssl_cert_file: conf('../certs/server.crt') });
    expect(carryParameters(config).ssl).toBe(false);
  });
});

describe('recoverySettings', () => {
  const settings = recoverySettings({ config: citusSource, port: 6001, socketDir: '/srv/restore/n1/run', restoreCommand: "sh -c 'x'", pointName: "nightly 'p1'" });

  it('isolates the node: no TCP, no Citus, no logical workers, no archiving, no standby wait', () => {
    expect(settings.get('listen_addresses')).toBe('');
    expect(settings.get('port')).toBe('6001');
    expect(settings.get('unix_socket_directories')).toBe('/srv/restore/n1/run');
    expect(settings.get('shared_preload_libraries')).toBe('pg_stat_statements');
    expect(settings.get('max_logical_replication_workers')).toBe('0');
    expect(settings.get('archive_mode')).toBe('off');
    expect(settings.get('synchronous_standby_names')).toBe('');
    expect(settings.get('ssl')).toBe('off');
    expect(settings.get('hot_standby')).toBe('on');
    expect(settings.has('primary_conninfo')).toBe(false);
    expect(settings.has('archive_command')).toBe(false);
  });

  it('targets the named point, pausing there, on the latest timeline', () => {
    expect(settings.get('restore_command')).toBe("sh -c 'x'");
    expect(settings.get('recovery_target_name')).toBe("nightly 'p1'");
    expect(settings.get('recovery_target_timeline')).toBe('latest');
    expect(settings.get('recovery_target_action')).toBe('pause');
    expect(settings.has('recovery_target_inclusive')).toBe(false);
    expect(settings.has('recovery_target_time')).toBe(false);
    expect(settings.get('cluster_name')).toBe('restored-prod');
  });

  it('keeps the hot-standby-critical values of the source', () => {
    expect(settings.get('max_prepared_transactions')).toBe('200');
    expect(settings.get('max_connections')).toBe('300');
  });
});

describe('finalSettings', () => {
  const settings = finalSettings({ config: citusSource, port: 6001, socketDir: '/srv/restore/n1/run', listenAddresses: '*', clusterNamePrefix: 'copy-' });

  it('loads citus first again, restores the logical workers, and never archives', () => {
    expect(settings.get('shared_preload_libraries')).toBe('citus,pg_stat_statements');
    expect(settings.get('max_logical_replication_workers')).toBe('8');
    expect(settings.get('archive_mode')).toBe('off');
    expect(settings.get('listen_addresses')).toBe('*');
    expect(settings.get('ssl')).toBe('on');
    expect(settings.get('cluster_name')).toBe('copy-prod');
    expect(settings.has('restore_command')).toBe(false);
    expect(settings.has('recovery_target_name')).toBe(false);
    expect(settings.get('synchronous_standby_names')).toBe('');
  });
});

describe('rendering postgresql.auto.conf', () => {
  it('doubles single quotes and backslashes', () => {
    expect(quoteConfValue("it's")).toBe("'it''s'");
    expect(quoteConfValue('C:\\pg\\data')).toBe("'C:\\\\pg\\\\data'");
    expect(() => quoteConfValue('a\nrestore_command = x')).toThrow(RangeError);
  });

  it('writes one quoted line per setting', () => {
    const text = renderAutoConf(new Map([['work_mem', "4MB it's"], ['recovery_target_name', 'p1']]), 'test');
    expect(text).toContain("work_mem = '4MB it''s'\n");
    expect(text).toContain("recovery_target_name = 'p1'\n");
    expect(() => renderAutoConf(new Map([['bad name', 'x']]), 'test')).toThrow(RangeError);
  });
});

describe('access rules', () => {
  it('allows only the superuser over the local socket while isolated', () => {
    const hba = isolatedHba('postgres');
    const rules = hba.split('\n').filter((l) => l !== '' && !l.startsWith('#'));
    expect(rules).toEqual(['local all postgres peer map=tidemark']);
  });

  it('maps the OS users to the superuser, quoting odd names', () => {
    expect(identFile(['root', 'postgres', 'root'], 'Admin User')).toBe('# Written by Tidemark for a restored node.\ntidemark root "Admin User"\ntidemark postgres "Admin User"\n');
    expect(() => identFile(['root'], 'bad"name')).toThrow(TidemarkError);
  });

  it('final rules: localhost, the chosen networks and the other nodes, with scram-sha-256', () => {
    const hba = finalHba('postgres', { clientCidrs: ['10.1.0.0/16'] }, ['127.0.0.1', '10.2.0.7', 'worker-2.internal', 'fd00::5']);
    const rules = hba.split('\n').filter((l) => l !== '' && !l.startsWith('#'));
    expect(rules).toEqual([
      'local all postgres peer map=tidemark',
      'host all all 127.0.0.1/32 scram-sha-256',
      'host all all ::1/128 scram-sha-256',
      'host all all 10.1.0.0/16 scram-sha-256',
      'host all all 10.2.0.7/32 scram-sha-256',
      'host all all worker-2.internal scram-sha-256',
      'host all all fd00::5/128 scram-sha-256',
    ]);
    expect(() => finalHba('postgres', { clientCidrs: ['10.0.0.0/33'] }, [])).toThrow(TidemarkError);
    expect(() => finalHba('postgres', { clientCidrs: ['everyone'] }, [])).toThrow(TidemarkError);
    expect(() => finalHba('postgres', {}, ['bad host; rm'])).toThrow(TidemarkError);
  });
});
