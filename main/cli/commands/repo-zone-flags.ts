import { InvalidArgumentError } from 'commander';
import { TidemarkError } from '../../engine/errors.js';
import type { RepositorySecrets } from '../../engine/repository/repository-manager.js';
import { secretEnvName } from '../../engine/secrets/env-file-secret-store.js';
import { zoneSecretName } from '../../engine/repository/zones/zone-factory.js';
import { readSecretFile } from './repo-secret-input.js';

/** A zone as given on the command line, before ids are assigned. */
export interface ZoneFlag {
  kind: 'folder' | 's3' | 'azure';
  fields: Record<string, string>;
}

/** `key=value,key=value`; a value may not contain a comma. */
export function parseSpec(text: string, kind: ZoneFlag['kind']): ZoneFlag {
  const fields: Record<string, string> = {};
  for (const part of text.split(',')) {
    const at = part.indexOf('=');
    if (at <= 0)
      throw new InvalidArgumentError(
        `expected key=value pairs separated by commas, got "${part}".`,
      );
    fields[part.slice(0, at).trim()] = part.slice(at + 1).trim();
  }
  return { kind, fields };
}

/** `--folder /path` or `--folder id=local,path=/path,name=…` */
export function parseFolderFlag(text: string, previous: ZoneFlag[] = []): ZoneFlag[] {
  const flag = /^[a-z-]+=/.test(text)
    ? parseSpec(text, 'folder')
    : { kind: 'folder' as const, fields: { path: text } };
  return [...previous, flag];
}

export const parseS3Flag = (text: string, previous: ZoneFlag[] = []): ZoneFlag[] => [
  ...previous,
  parseSpec(text, 's3'),
];
export const parseAzureFlag = (text: string, previous: ZoneFlag[] = []): ZoneFlag[] => [
  ...previous,
  parseSpec(text, 'azure'),
];

const allowed: Record<ZoneFlag['kind'], string[]> = {
  folder: ['id', 'name', 'path'],
  s3: [
    'id',
    'name',
    'endpoint',
    'bucket',
    'region',
    'prefix',
    'access-key-id',
    'path-style',
    'secret-file',
  ],
  azure: ['id', 'name', 'account-url', 'account', 'container', 'prefix', 'secret-file', 'sas-file'],
};

/**
 * Zone configs and their credentials from the flags. Credentials come from a 0600 file named
 * in the spec (`secret-file=`), from `--secret-file` when there is one cloud zone, or from the
 * environment (then nothing is stored: the environment keeps providing it).
 */
export async function zonesFromFlags(
  repositoryId: string,
  flags: ZoneFlag[],
  options: { secretFile?: string; env: NodeJS.ProcessEnv },
): Promise<{ zones: Record<string, unknown>[]; secrets: NonNullable<RepositorySecrets['zones']> }> {
  const counters: Record<string, number> = {};
  const cloud = flags.filter((f) => f.kind !== 'folder');
  if (options.secretFile && cloud.length !== 1) {
    throw new TidemarkError(
      'invalid_input',
      '--secret-file applies when there is exactly one S3 or Azure zone; with several, give each its own secret-file=… in its spec.',
    );
  }
  const zones: Record<string, unknown>[] = [];
  const secrets: NonNullable<RepositorySecrets['zones']> = {};
  for (const flag of flags) {
    const unknown = Object.keys(flag.fields).filter((k) => !allowed[flag.kind].includes(k));
    if (unknown.length > 0)
      throw new TidemarkError(
        'invalid_input',
        `Unknown ${flag.kind} zone setting(s) ${unknown.join(', ')}; allowed: ${allowed[flag.kind].join(', ')}.`,
      );
    counters[flag.kind] = (counters[flag.kind] ?? 0) + 1;
    const f = flag.fields;
    const id =
      f.id ??
      `${flag.kind === 'folder' ? 'local' : flag.kind}${counters[flag.kind]! > 1 ? `-${counters[flag.kind]}` : ''}`;
    const name = f.name ?? id;
    if (flag.kind === 'folder') {
      zones.push({ kind: 'folder', id, name, path: f.path });
      continue;
    }
    const secretFile = f['secret-file'] ?? options.secretFile;
    if (flag.kind === 's3') {
      zones.push({
        kind: 's3',
        id,
        name,
        ...(f.endpoint ? { endpoint: f.endpoint } : {}),
        ...(f.region ? { region: f.region } : {}),
        bucket: f.bucket,
        ...(f.prefix !== undefined ? { prefix: f.prefix } : {}),
        // emulators and most non-AWS services answer on path-style URLs only
        forcePathStyle:
          f['path-style'] !== undefined ? f['path-style'] === 'true' : f.endpoint !== undefined,
        accessKeyId: f['access-key-id'],
      });
      const env = secretEnvName(zoneSecretName(repositoryId, id, 'secretAccessKey'));
      if (secretFile)
        secrets[id] = {
          secretAccessKey: await readSecretFile(
            secretFile,
            `the secret access key of zone "${id}"`,
          ),
        };
      else if (!options.env[env]) throw missing(id, 'its S3 secret access key', [env]);
    } else {
      zones.push({
        kind: 'azure',
        id,
        name,
        accountUrl: f['account-url'],
        accountName: f.account,
        container: f.container,
        ...(f.prefix !== undefined ? { prefix: f.prefix } : {}),
      });
      const keyEnv = secretEnvName(zoneSecretName(repositoryId, id, 'accountKey'));
      const sasEnv = secretEnvName(zoneSecretName(repositoryId, id, 'sasToken'));
      if (f['sas-file'])
        secrets[id] = {
          sasToken: await readSecretFile(f['sas-file'], `the SAS token of zone "${id}"`),
        };
      else if (secretFile)
        secrets[id] = {
          accountKey: await readSecretFile(secretFile, `the account key of zone "${id}"`),
        };
      else if (!options.env[keyEnv] && !options.env[sasEnv])
        throw missing(id, 'an Azure account key or SAS token', [keyEnv, sasEnv]);
    }
  }
  return { zones, secrets };
}

function missing(zoneId: string, what: string, envs: string[]): TidemarkError {
  return new TidemarkError(
    'invalid_input',
    `Zone "${zoneId}" needs ${what}: add secret-file=<file readable only by you> to its spec, or set ${envs.join(' or ')}.`,
  );
}
