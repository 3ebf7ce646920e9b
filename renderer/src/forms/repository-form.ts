import type { RepositoryCreateInput, ZoneConfigInput } from '../api/types.js';
import { formResult, parseWhole, slugify, type FormResult } from './form-result.js';
import { minPassphraseLength } from './passphrase-strength.js';

export type ZoneKind = ZoneConfigInput['kind'];

/** One zone of the form; every kind's fields are kept so switching kind loses nothing typed. */
export interface ZoneForm {
  /** stable React key, not sent */
  key: number;
  kind: ZoneKind;
  name: string;
  path: string;
  endpoint: string;
  region: string;
  bucket: string;
  prefix: string;
  forcePathStyle: boolean;
  accessKeyId: string;
  /** write-only */
  secretAccessKey: string;
  accountUrl: string;
  accountName: string;
  container: string;
  azureCredential: 'accountKey' | 'sasToken';
  /** write-only: the account key or the SAS token */
  azureSecret: string;
}

export interface RepositoryForm {
  name: string;
  zones: ZoneForm[];
  /** write-only */
  passphrase: string;
  passphraseRepeat: string;
  retentionDays: string;
  minZones: string;
}

export const zoneKindLabels: Record<ZoneKind, string> = {
  folder: 'Folder (local or network)',
  s3: 'S3-compatible bucket',
  azure: 'Azure Blob container',
};

let nextZoneKey = 1;

export function emptyZone(kind: ZoneKind = 'folder', name = ''): ZoneForm {
  return {
    key: nextZoneKey++,
    kind,
    name,
    path: '',
    endpoint: '',
    region: 'us-east-1',
    bucket: '',
    prefix: '',
    forcePathStyle: false,
    accessKeyId: '',
    secretAccessKey: '',
    accountUrl: '',
    accountName: '',
    container: '',
    azureCredential: 'accountKey',
    azureSecret: '',
  };
}

export function emptyRepositoryForm(): RepositoryForm {
  return {
    name: '',
    zones: [emptyZone('folder', 'Zone A')],
    passphrase: '',
    passphraseRepeat: '',
    retentionDays: '35',
    minZones: '1',
  };
}

/** Zone ids from the zone names, unique inside the repository. */
export function zoneIds(zones: readonly Pick<ZoneForm, 'name'>[]): string[] {
  const taken = new Set<string>();
  return zones.map((zone, i) => {
    const base = slugify(zone.name) || `zone-${i + 1}`;
    let id = base;
    for (let n = 2; taken.has(id); n++) id = `${base}-${n}`.slice(0, 63);
    taken.add(id);
    return id;
  });
}

/** S3 prefixes and Azure prefixes are folders: "backups" means "backups/". */
function normalizePrefix(prefix: string): string {
  const trimmed = prefix.trim().replace(/^\/+/, '');
  return trimmed === '' || trimmed.endsWith('/') ? trimmed : `${trimmed}/`;
}

function zoneConfig(zone: ZoneForm, id: string): ZoneConfigInput {
  const name = zone.name.trim() || id;
  switch (zone.kind) {
    case 'folder':
      return { kind: 'folder', id, name, path: zone.path.trim() };
    case 's3':
      return {
        kind: 's3',
        id,
        name,
        ...(zone.endpoint.trim() ? { endpoint: zone.endpoint.trim() } : {}),
        region: zone.region.trim() || 'us-east-1',
        bucket: zone.bucket.trim(),
        prefix: normalizePrefix(zone.prefix),
        forcePathStyle: zone.forcePathStyle,
        accessKeyId: zone.accessKeyId.trim(),
      };
    case 'azure':
      return {
        kind: 'azure',
        id,
        name,
        accountUrl: zone.accountUrl.trim(),
        accountName: zone.accountName.trim(),
        container: zone.container.trim(),
        prefix: normalizePrefix(zone.prefix),
      };
  }
}

function zoneErrors(zone: ZoneForm, index: number, errors: Record<string, string>): void {
  const at = (field: string, message: string) => (errors[`zones.${index}.${field}`] = message);
  if (zone.kind === 'folder' && !zone.path.trim())
    at('path', 'The folder every object is written to; it must be empty or not exist yet.');
  if (zone.kind === 's3') {
    if (!zone.bucket.trim()) at('bucket', 'The bucket name.');
    if (!zone.accessKeyId.trim()) at('accessKeyId', 'The access key id.');
    if (!zone.secretAccessKey)
      at('secretAccessKey', 'The secret access key (kept in the secret store).');
  }
  if (zone.kind === 'azure') {
    if (!zone.accountUrl.trim()) at('accountUrl', 'e.g. https://myaccount.blob.core.windows.net');
    if (!zone.accountName.trim()) at('accountName', 'The storage account name.');
    if (!zone.container.trim()) at('container', 'The container name.');
    if (!zone.azureSecret)
      at('azureSecret', 'The account key or a SAS token (kept in the secret store).');
  }
}

/** Checks the form and builds `repositories.create`: configuration, passphrase and zone credentials. */
export function repositoryFormToInput(form: RepositoryForm): FormResult<RepositoryCreateInput> {
  const errors: Record<string, string> = {};
  const id = slugify(form.name);
  if (!form.name.trim()) errors.name = 'Name the repository, e.g. "Backups EU".';
  else if (!id) errors.name = 'Use at least one letter or digit: the id is made from the name.';
  if (form.zones.length === 0) errors.zones = 'Add at least one zone.';
  form.zones.forEach((zone, i) => zoneErrors(zone, i, errors));
  if (form.passphrase.length < minPassphraseLength)
    errors.passphrase = `At least ${minPassphraseLength} characters.`;
  else if (form.passphrase !== form.passphraseRepeat)
    errors.passphraseRepeat = 'The two passphrases differ.';
  const retentionDays = parseWhole(form.retentionDays, 1, 3650);
  if (retentionDays === null) errors.retentionDays = 'Whole days, from 1 to 3650.';
  const minZones = parseWhole(form.minZones, 1, Math.max(1, form.zones.length));
  if (minZones === null) errors.minZones = `From 1 to the number of zones (${form.zones.length}).`;

  return formResult(errors, () => {
    const ids = zoneIds(form.zones);
    const zoneSecrets: NonNullable<RepositoryCreateInput['zoneSecrets']> = {};
    form.zones.forEach((zone, i) => {
      const zoneId = ids[i]!;
      if (zone.kind === 's3') zoneSecrets[zoneId] = { secretAccessKey: zone.secretAccessKey };
      if (zone.kind === 'azure') zoneSecrets[zoneId] = { [zone.azureCredential]: zone.azureSecret };
    });
    return {
      config: {
        id,
        name: form.name.trim(),
        zones: form.zones.map((zone, i) => zoneConfig(zone, ids[i]!)),
        minZones: minZones!,
        retentionDays: retentionDays!,
      },
      passphrase: form.passphrase,
      ...(Object.keys(zoneSecrets).length > 0 ? { zoneSecrets } : {}),
    };
  });
}

const zoneFieldPattern = /^config\.zones\.(\d+)\.(\w+)$/;
const topFields: Record<string, string> = {
  'config.id': 'name',
  'config.name': 'name',
  'config.zones': 'zones',
  'config.minZones': 'minZones',
  'config.retentionDays': 'retentionDays',
  passphrase: 'passphrase',
};

/** Where an `invalid_input` issue of `repositories.create` is shown in the form. */
export function repositoryFieldOf(apiPath: string): string | null {
  const zone = zoneFieldPattern.exec(apiPath);
  if (zone) return `zones.${zone[1]}.${zone[2]}`;
  const secret = /^zoneSecrets\.[^.]+\.(\w+)$/.exec(apiPath);
  if (secret) return null;
  return topFields[apiPath] ?? null;
}
