import { isAbsolute, relative } from 'node:path/posix';
import { hotStandbyCriticalParameters, type ServerConfig } from '../catalog/records.js';

/**
 * The restored node's server settings, derived from the parameters captured at backup time.
 * Two sets: one for the ISOLATED phase (recovery, promotion and metadata fix-up: no TCP, no
 * Citus, nothing that could reach the source or another system) and the FINAL one the user's
 * new cluster runs with. Everything goes to `postgresql.auto.conf`; the source's
 * `postgresql.conf` is replaced by a stub because it may include files or name paths that only
 * exist on the source host (Debian keeps it outside the data directory, so it may be missing).
 */

/** Only settings the DBA made in the server's configuration are carried; session/client values are not. */
const carriedSources = new Set(['configuration file', 'command line', 'environment variable']);

/** Name source paths or hosts, or would reach the source or another system. Lower case. */
const neverCarried = new Set([
  'data_directory',
  'config_file',
  'hba_file',
  'ident_file',
  'external_pid_file',
  'unix_socket_directories',
  'unix_socket_group',
  'listen_addresses',
  'port',
  'primary_conninfo',
  'primary_slot_name',
  'restore_command',
  'archive_command',
  'archive_library',
  'archive_mode',
  'archive_cleanup_command',
  'promote_trigger_file',
  'stats_temp_directory',
  'krb_server_keyfile',
  'dynamic_library_path',
  'synchronous_standby_names',
  // decided below, per phase
  'shared_preload_libraries',
  'max_logical_replication_workers',
  'cluster_name',
  'hot_standby',
  'ssl',
  'ssl_passphrase_command',
  'ssl_passphrase_command_supports_reload',
]);

/** Files the TLS setup reads; relative names are inside the data directory. */
const sslFileParameters = ['ssl_cert_file', 'ssl_key_file', 'ssl_ca_file', 'ssl_crl_file', 'ssl_crl_dir', 'ssl_dh_params_file'];

const defaultClusterNamePrefix = 'restored-';

export type ServerSettings = Map<string, string>;

export interface ConfigNote {
  kind: 'ssl_disabled' | 'parameters_not_carried' | 'logical_replication_paused';
  message: string;
}

export interface CarriedConfig {
  /** parameters carried as they were on the source (lower-case names) */
  parameters: ServerSettings;
  /** whether TLS stays on (its files are inside the data directory) */
  ssl: boolean;
  notes: ConfigNote[];
}

/** What of the source's configuration a restored node may keep. Pure. */
export function carryParameters(config: ServerConfig): CarriedConfig {
  const parameters: ServerSettings = new Map();
  const dropped: string[] = [];
  const notes: ConfigNote[] = [];
  const byName = lowerCaseParameters(config);

  for (const [name, { value, source }] of byName) {
    if (!carriedSources.has(source) && !isHotStandbyCritical(name)) continue;
    if (sslFileParameters.includes(name)) continue;
    if (neverCarried.has(name) || name.startsWith('recovery_')) {
      if (!carriedSources.has(source) || value === '') continue;
      if (!['shared_preload_libraries', 'max_logical_replication_workers', 'cluster_name', 'hot_standby', 'ssl'].includes(name)) {
        dropped.push(name);
      }
      continue;
    }
    if (name === 'log_directory' && isAbsolute(value)) {
      dropped.push(name);
      continue;
    }
    parameters.set(name, value);
  }
  for (const name of hotStandbyCriticalParameters) {
    const captured = byName.get(name);
    if (captured) parameters.set(name, captured.value);
  }

  const sslWanted = isOn(byName.get('ssl')?.value);
  const sslFiles = sslFileLocations(byName);
  const outside = sslFiles.filter((f) => f.inside === null).map((f) => f.name);
  const passphraseCommand = byName.get('ssl_passphrase_command')?.value ?? '';
  let ssl = false;
  for (const file of sslFiles) {
    if (file.inside !== null) parameters.set(file.name, file.inside);
    else if (!sslWanted) dropped.push(file.name);
  }
  if (sslWanted && outside.length === 0 && passphraseCommand === '') {
    ssl = true;
  } else if (sslWanted) {
    for (const file of sslFiles) parameters.delete(file.name);
    const reasons = [...outside.map((n) => `${n} = '${byName.get(n)?.value ?? ''}'`), ...(passphraseCommand ? ['ssl_passphrase_command'] : [])];
    notes.push({
      kind: 'ssl_disabled',
      message: `SSL was turned off: the source's certificate files are outside its data directory (${reasons.join(', ')}), so they are not in the backup. Install a certificate and key, set ssl_cert_file/ssl_key_file and ssl = on, then reload.`,
    });
  }
  if (dropped.length > 0) {
    notes.push({
      kind: 'parameters_not_carried',
      message: `These source parameters name the source's paths or hosts, or would reach the source, and were not carried: ${dropped.sort().join(', ')}. Set them for the new cluster if it needs them.`,
    });
  }
  return { parameters, ssl, notes };
}

export interface RecoverySettingsInput {
  config: ServerConfig;
  port: number;
  socketDir: string;
  restoreCommand: string;
  pointName: string;
  clusterNamePrefix?: string;
}

/**
 * Settings for the isolated phase. Besides the carried parameters: no TCP listener, Citus not
 * loaded (its maintenance daemon would connect to the production nodes named in the restored
 * metadata), no logical replication workers (subscriptions would connect to their publishers),
 * no archiving (the source's archive must never receive a restored node's WAL), no TLS (no TCP
 * anyway, and missing certificate files would stop the start), and a log format and language the
 * restore can read.
 */
export function recoverySettings(input: RecoverySettingsInput): ServerSettings {
  const carried = carryParameters(input.config);
  const settings = new Map(carried.parameters);
  for (const name of sslFileParameters) settings.delete(name);
  const preload = input.config.sharedPreloadLibraries.filter((lib) => lib !== 'citus');
  setAll(settings, {
    listen_addresses: '',
    port: String(input.port),
    unix_socket_directories: input.socketDir,
    shared_preload_libraries: preload.join(','),
    max_logical_replication_workers: '0',
    archive_mode: 'off',
    synchronous_standby_names: '',
    ssl: 'off',
    hot_standby: 'on',
    logging_collector: 'off',
    log_destination: 'stderr',
    log_line_prefix: serverLogLinePrefix,
    log_min_messages: 'warning',
    log_connections: 'off',
    log_disconnections: 'off',
    lc_messages: 'C',
    restore_command: input.restoreCommand,
    recovery_target_name: input.pointName,
    recovery_target_timeline: 'latest',
    recovery_target_action: 'pause',
  });
  setClusterName(settings, input.config, input.clusterNamePrefix);
  return settings;
}

export interface FinalSettingsInput {
  config: ServerConfig;
  port: number;
  socketDir: string;
  /** e.g. `*` or `localhost` */
  listenAddresses: string;
  clusterNamePrefix?: string;
}

/** Settings of the finished node: the source's parameters, its own address, Citus loaded first. */
export function finalSettings(input: FinalSettingsInput): ServerSettings {
  const carried = carryParameters(input.config);
  const settings = new Map(carried.parameters);
  const libraries = input.config.sharedPreloadLibraries;
  const preload = libraries.includes('citus') ? ['citus', ...libraries.filter((l) => l !== 'citus')] : [...libraries];
  setAll(settings, {
    listen_addresses: input.listenAddresses,
    port: String(input.port),
    unix_socket_directories: input.socketDir,
    shared_preload_libraries: preload.join(','),
    // No archive exists for the new cluster yet; with archive_mode on and no command, pg_wal would grow forever.
    archive_mode: 'off',
    synchronous_standby_names: '',
    ssl: carried.ssl ? 'on' : 'off',
  });
  const workers = lowerCaseParameters(input.config).get('max_logical_replication_workers');
  if (workers) settings.set('max_logical_replication_workers', workers.value);
  setClusterName(settings, input.config, input.clusterNamePrefix);
  return settings;
}

/** Lines the restore reads back: `tidemark|<time>|<pid>|<backend type>| LEVEL:  message`. */
export const serverLogLinePrefix = 'tidemark|%m|%p|%b| ';

/** A value as postgresql.conf reads it: single-quoted, quotes and backslashes doubled. */
export function quoteConfValue(value: string): string {
  if (/[\n\r\0]/.test(value)) throw new RangeError('A configuration value cannot contain a line break or NUL.');
  return `'${value.replaceAll('\\', '\\\\').replaceAll("'", "''")}'`;
}

const parameterNamePattern = /^[A-Za-z_][A-Za-z0-9_.$]*$/;

/** The content of `postgresql.auto.conf` for `settings`. */
export function renderAutoConf(settings: ServerSettings, header: string): string {
  const lines = [`# ${header}`, '# Written by Tidemark. It overrides postgresql.conf.'];
  for (const [name, value] of settings) {
    if (!parameterNamePattern.test(name)) throw new RangeError(`Not a parameter name: "${name}".`);
    lines.push(`${name} = ${quoteConfValue(value)}`);
  }
  return `${lines.join('\n')}\n`;
}

/** The stub `postgresql.conf`: the source's own file may include files that exist only on the source host. */
export function renderStubPostgresqlConf(sourceFileKept: boolean): string {
  return [
    '# Written by Tidemark for a restored node. Every setting is in postgresql.auto.conf.',
    sourceFileKept ? "# The source's postgresql.conf is kept next to this file as postgresql.conf.source, for reference." : '',
    '',
  ].join('\n');
}

function setAll(settings: ServerSettings, values: Record<string, string>): void {
  for (const [name, value] of Object.entries(values)) settings.set(name, value);
}

function setClusterName(settings: ServerSettings, config: ServerConfig, prefix = defaultClusterNamePrefix): void {
  const name = lowerCaseParameters(config).get('cluster_name')?.value ?? '';
  if (name !== '') settings.set('cluster_name', `${prefix}${name}`);
}

function lowerCaseParameters(config: ServerConfig): Map<string, { value: string; source: string }> {
  return new Map(Object.entries(config.parameters).map(([name, p]) => [name.toLowerCase(), p]));
}

function isHotStandbyCritical(name: string): boolean {
  return (hotStandbyCriticalParameters as readonly string[]).includes(name);
}

function isOn(value: string | undefined): boolean {
  return value !== undefined && ['on', 'true', 'yes', '1'].includes(value.toLowerCase());
}

/** Each TLS file the source set: its path relative to the data directory, or null when it is outside. */
function sslFileLocations(byName: Map<string, { value: string; source: string }>): { name: string; inside: string | null }[] {
  const dataDir = byName.get('data_directory')?.value ?? null;
  const result: { name: string; inside: string | null }[] = [];
  for (const name of sslFileParameters) {
    const value = byName.get(name)?.value ?? '';
    if (value === '') continue;
    if (!isAbsolute(value)) {
      result.push({ name, inside: value.split('/').includes('..') ? null : value });
      continue;
    }
    const rel = dataDir ? relative(dataDir, value) : '..';
    result.push({ name, inside: rel !== '' && !rel.startsWith('..') && !isAbsolute(rel) ? rel : null });
  }
  return result;
}
