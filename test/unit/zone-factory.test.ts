import { describe, expect, it } from 'vitest';
import { MemorySecretStore } from '../../main/engine/secrets/secret-store.js';
import { repositoryConfigSchema } from '../../main/engine/repository/repository-config.js';
import { AzureZone } from '../../main/engine/repository/zones/azure-zone.js';
import { FolderZone } from '../../main/engine/repository/zones/folder-zone.js';
import { createZone, zoneSecretName } from '../../main/engine/repository/zones/zone-factory.js';
import { rejection } from '../support/zone-test-helpers.js';

const config = repositoryConfigSchema.parse({
  id: 'repo-1',
  name: 'Repo',
  zones: [
    { kind: 'folder', id: 'nas', name: 'NAS', path: '/mnt/nas' },
    { kind: 's3', id: 'aws', name: 'AWS', bucket: 'backups', accessKeyId: 'AKIA' },
    {
      kind: 'azure',
      id: 'blob',
      name: 'Blob',
      accountUrl: 'https://acct.blob.core.windows.net',
      accountName: 'acct',
      container: 'backups',
    },
  ],
});
const [folderConfig, s3Config, azureConfig] = config.zones;

describe('createZone', () => {
  it('builds a folder zone without secrets', async () => {
    const zone = await createZone(folderConfig!, new MemorySecretStore(), 'repo-1');
    expect(zone).toBeInstanceOf(FolderZone);
    expect(zone.id).toBe('nas');
  });

  it('says which secret to set, and its environment variable, when one is missing', async () => {
    const s3 = await rejection(() => createZone(s3Config!, new MemorySecretStore(), 'repo-1'));
    expect(s3.code).toBe('invalid_input');
    expect(s3.message).toContain('"zone/repo-1/aws/secretAccessKey"');
    expect(s3.message).toContain('TIDEMARK_SECRET_ZONE_REPO_1_AWS_SECRETACCESSKEY');
    const azure = await rejection(() =>
      createZone(azureConfig!, new MemorySecretStore(), 'repo-1'),
    );
    expect(azure.message).toContain('"zone/repo-1/blob/accountKey"');
    expect(azure.message).toContain('"zone/repo-1/blob/sasToken"');
  });

  it('takes an Azure SAS token when no account key is set', async () => {
    const secrets = new MemorySecretStore();
    await secrets.set(zoneSecretName('repo-1', 'blob', 'sasToken'), 'sv=2024&sig=abc');
    expect(await createZone(azureConfig!, secrets, 'repo-1')).toBeInstanceOf(AzureZone);
  });
});
