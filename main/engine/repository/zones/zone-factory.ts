import { TidemarkError } from '../../errors.js';
import { secretEnvName } from '../../secrets/env-file-secret-store.js';
import type { ZoneConfig } from '../repository-config.js';
import type { Zone } from '../zone.js';
import { AzureZone } from './azure-zone.js';
import { FolderZone } from './folder-zone.js';
import { S3Zone } from './s3-zone.js';

export interface ZoneSecretSource {
  get(name: string): Promise<string | undefined>;
}

/** Where a zone's secret lives in the secret store. */
export function zoneSecretName(
  repositoryId: string,
  zoneId: string,
  secret: 'secretAccessKey' | 'accountKey' | 'sasToken',
): string {
  return `zone/${repositoryId}/${zoneId}/${secret}`;
}

/** Builds the zone a config describes, reading its credentials from the secret store. */
export async function createZone(
  config: ZoneConfig,
  secrets: ZoneSecretSource,
  repositoryId: string,
): Promise<Zone> {
  switch (config.kind) {
    case 'folder':
      return new FolderZone({ id: config.id, path: config.path });
    case 's3': {
      const name = zoneSecretName(repositoryId, config.id, 'secretAccessKey');
      const secretAccessKey = await secrets.get(name);
      if (!secretAccessKey) throw missingSecret(config.id, 'its S3 secret access key', [name]);
      return new S3Zone({
        id: config.id,
        ...(config.endpoint ? { endpoint: config.endpoint } : {}),
        region: config.region,
        bucket: config.bucket,
        prefix: config.prefix,
        forcePathStyle: config.forcePathStyle,
        accessKeyId: config.accessKeyId,
        secretAccessKey,
      });
    }
    case 'azure': {
      const keyName = zoneSecretName(repositoryId, config.id, 'accountKey');
      const sasName = zoneSecretName(repositoryId, config.id, 'sasToken');
      const accountKey = await secrets.get(keyName);
      const sasToken = accountKey ? undefined : await secrets.get(sasName);
      const credential = accountKey ? { accountKey } : sasToken ? { sasToken } : undefined;
      if (!credential)
        throw missingSecret(config.id, 'an Azure account key or SAS token', [keyName, sasName]);
      return new AzureZone({
        id: config.id,
        accountUrl: config.accountUrl,
        accountName: config.accountName,
        container: config.container,
        prefix: config.prefix,
        credential,
      });
    }
  }
}

function missingSecret(zoneId: string, what: string, names: string[]): TidemarkError {
  const options = names.map(
    (name) => `the secret "${name}" (environment variable ${secretEnvName(name)})`,
  );
  return new TidemarkError(
    'invalid_input',
    `Zone "${zoneId}" needs ${what}. Enter it in the zone's settings, or for the headless agent set ` +
      `${options.join(' or ')}.`,
    { details: { zoneId, secrets: names } },
  );
}
