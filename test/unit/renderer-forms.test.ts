import { describe, expect, it } from 'vitest';
import { methods } from '../../main/api/contract/index.js';
import { ApiError } from '../../renderer/src/api/api-error.js';
import {
  clusterFieldOf,
  clusterFormToInput,
  emptyClusterForm,
} from '../../renderer/src/forms/cluster-form.js';
import { formErrorsFrom, parseInvalidInput } from '../../renderer/src/forms/field-errors.js';
import { slugify } from '../../renderer/src/forms/form-result.js';
import { passphraseStrength } from '../../renderer/src/forms/passphrase-strength.js';
import {
  emptyRepositoryForm,
  emptyZone,
  repositoryFieldOf,
  repositoryFormToInput,
  zoneIds,
} from '../../renderer/src/forms/repository-form.js';
import {
  emptySshHost,
  emptyWhereForm,
  fromDatetimeLocal,
  parseCidrs,
  restoreStartInput,
  targetFromForm,
  toDatetimeLocal,
} from '../../renderer/src/forms/restore-form.js';

const invalid = (message: string) =>
  new ApiError({ code: 'invalid_input', message, retryable: false });

describe('invalid_input messages to form fields', () => {
  it('splits the dispatcher message into issues by path', () => {
    expect(
      parseInvalidInput(
        'Invalid input for clusters.add: coordinator.host: a host name or IP address; coordinator.port: Too big: expected number to be <=65535',
      ),
    ).toEqual({
      'coordinator.host': 'a host name or IP address',
      'coordinator.port': 'Too big: expected number to be <=65535',
    });
    expect(
      parseInvalidInput(
        'Invalid input for repositories.create: config.zones.0.path: Too small; (input): Unrecognized key: "x"',
      ),
    ).toEqual({
      'config.zones.0.path': 'Too small',
      '(input)': 'Unrecognized key: "x"',
    });
  });

  it('reads the engine\'s "... are invalid:" messages too, and nothing else', () => {
    expect(
      parseInvalidInput(
        'The cluster settings are invalid: repositoryId: lower-case letters, digits and dashes',
      ),
    ).toEqual({
      repositoryId: 'lower-case letters, digits and dashes',
    });
    expect(
      parseInvalidInput('To delete repository "r", type its id "r" as the confirmation.'),
    ).toBeNull();
  });

  it('places issues next to their fields and the rest above the form', () => {
    const errors = formErrorsFrom(
      invalid(
        'Invalid input for clusters.add: coordinator.host: a host name or IP address; nodeOverrides.x: bad',
      ),
      clusterFieldOf,
    );
    expect(errors.fields).toEqual({ host: 'a host name or IP address' });
    expect(errors.general).toBe('Some values were refused: nodeOverrides.x: bad');
    const refused = formErrorsFrom(
      new ApiError({
        code: 'connection_failed',
        message: 'The coordinator cannot be reached.',
        retryable: true,
      }),
      clusterFieldOf,
    );
    expect(refused).toEqual({ fields: {}, general: 'The coordinator cannot be reached.' });
  });
});

describe('Add cluster form', () => {
  const filled = {
    ...emptyClusterForm,
    name: ' Production EU ',
    host: 'coord.example',
    port: '6432',
    password: 'secret pw',
    repositoryId: 'backups',
  };

  it('builds exactly the clusters.add input the API accepts', () => {
    const result = clusterFormToInput(filled);
    expect(result).toEqual({
      ok: true,
      input: {
        name: 'Production EU',
        coordinator: {
          host: 'coord.example',
          port: 6432,
          database: 'postgres',
          user: 'postgres',
          sslmode: 'prefer',
        },
        password: 'secret pw',
        repositoryId: 'backups',
      },
    });
    if (result.ok) expect(methods['clusters.add'].input.safeParse(result.input).success).toBe(true);
    const verified = clusterFormToInput({
      ...filled,
      sslmode: 'verify-full',
      caFile: '/etc/ca.pem',
      password: '',
    });
    expect(verified.ok && verified.input).toMatchObject({
      coordinator: { sslmode: 'verify-full', caFile: '/etc/ca.pem' },
    });
    expect(verified.ok && 'password' in verified.input).toBe(false);
  });

  it('says what is missing before anything is sent', () => {
    const result = clusterFormToInput({
      ...emptyClusterForm,
      port: '70000',
      user: '',
      sslmode: 'verify-ca',
    });
    expect(result.ok).toBe(false);
    if (!result.ok)
      expect(Object.keys(result.errors).sort()).toEqual([
        'caFile',
        'host',
        'name',
        'port',
        'repositoryId',
        'user',
      ]);
  });
});

describe('Create repository form', () => {
  it('builds a folder repository with its passphrase, validated by the contract', () => {
    const form = {
      ...emptyRepositoryForm(),
      name: 'Backups EU',
      passphrase: 'long enough phrase',
      passphraseRepeat: 'long enough phrase',
    };
    form.zones = [{ ...form.zones[0]!, path: ' /mnt/nas/tidemark ' }];
    const result = repositoryFormToInput(form);
    expect(result).toEqual({
      ok: true,
      input: {
        config: {
          id: 'backups-eu',
          name: 'Backups EU',
          zones: [{ kind: 'folder', id: 'zone-a', name: 'Zone A', path: '/mnt/nas/tidemark' }],
          minZones: 1,
          retentionDays: 35,
        },
        passphrase: 'long enough phrase',
      },
    });
    if (result.ok)
      expect(methods['repositories.create'].input.safeParse(result.input).success).toBe(true);
  });

  it('puts S3 and Azure credentials in zoneSecrets under the zone ids, never in the config', () => {
    const s3 = {
      ...emptyZone('s3', 'Primary'),
      endpoint: 'http://127.0.0.1:9000',
      bucket: 'tidemark',
      prefix: 'team/a',
      accessKeyId: 'AK',
      secretAccessKey: 'SK',
      forcePathStyle: true,
    };
    const azure = {
      ...emptyZone('azure', 'Primary'),
      accountUrl: 'http://127.0.0.1:10000/devstoreaccount1',
      accountName: 'devstoreaccount1',
      container: 'backups',
      azureCredential: 'sasToken' as const,
      azureSecret: 'sv=x',
    };
    const result = repositoryFormToInput({
      ...emptyRepositoryForm(),
      name: 'Two',
      zones: [s3, azure],
      minZones: '2',
      passphrase: 'p'.repeat(12),
      passphraseRepeat: 'p'.repeat(12),
    });
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.input.config.zones).toEqual([
      {
        kind: 's3',
        id: 'primary',
        name: 'Primary',
        endpoint: 'http://127.0.0.1:9000',
        region: 'us-east-1',
        bucket: 'tidemark',
        prefix: 'team/a/',
        forcePathStyle: true,
        accessKeyId: 'AK',
      },
      {
        kind: 'azure',
        id: 'primary-2',
        name: 'Primary',
        accountUrl: 'http://127.0.0.1:10000/devstoreaccount1',
        accountName: 'devstoreaccount1',
        container: 'backups',
        prefix: '',
      },
    ]);
    expect(result.input.zoneSecrets).toEqual({
      primary: { secretAccessKey: 'SK' },
      'primary-2': { sasToken: 'sv=x' },
    });
    expect(JSON.stringify(result.input.config)).not.toMatch(/SK|sv=x/);
    expect(methods['repositories.create'].input.safeParse(result.input).success).toBe(true);
  });

  it('refuses differing passphrases, a missing path and an impossible zone count', () => {
    const result = repositoryFormToInput({
      ...emptyRepositoryForm(),
      name: 'R',
      passphrase: 'abcdefghij',
      passphraseRepeat: 'abcdefghik',
      minZones: '2',
    });
    expect(result.ok).toBe(false);
    if (!result.ok)
      expect(Object.keys(result.errors).sort()).toEqual([
        'minZones',
        'passphraseRepeat',
        'zones.0.path',
      ]);
  });

  it('maps API paths back to its fields', () => {
    expect(repositoryFieldOf('config.zones.1.bucket')).toBe('zones.1.bucket');
    expect(repositoryFieldOf('passphrase')).toBe('passphrase');
    expect(repositoryFieldOf('config.id')).toBe('name');
    expect(repositoryFieldOf('zoneSecrets.a.secretAccessKey')).toBeNull();
  });

  it('makes ids the API accepts from any name', () => {
    expect(slugify('Backups – Zürich #2')).toBe('backups-zurich-2');
    expect(zoneIds([{ name: 'A' }, { name: 'a' }, { name: '' }])).toEqual(['a', 'a-2', 'zone-3']);
  });
});

describe('passphrase strength', () => {
  it('grades from too short to strong', () => {
    expect(passphraseStrength('short').level).toBe('too-short');
    expect(passphraseStrength('aaaaaaaaaaaa').level).toBe('weak');
    expect(passphraseStrength('12345678').level).toBe('weak');
    expect(passphraseStrength('Blue7Tiger!').level).toBe('fair');
    expect(passphraseStrength('correct horse battery staple').level).toBe('strong');
  });
});

describe('Restore wizard forms', () => {
  it('turns each kind of target into the API target', () => {
    expect(targetFromForm({ kind: 'latest', time: '', pointName: '' })).toEqual({
      ok: true,
      input: { kind: 'latest' },
    });
    expect(targetFromForm({ kind: 'point', time: '', pointName: ' tm-20250301 ' })).toEqual({
      ok: true,
      input: { kind: 'point', name: 'tm-20250301' },
    });
    const at = '2025-03-01T13:45:30.000Z';
    expect(targetFromForm({ kind: 'time', time: toDatetimeLocal(at), pointName: '' })).toEqual({
      ok: true,
      input: { kind: 'time', at },
    });
    expect(targetFromForm({ kind: 'time', time: '', pointName: '' })).toMatchObject({
      ok: false,
      errors: { time: expect.any(String) },
    });
    expect(fromDatetimeLocal('yesterday')).toBeNull();
  });

  it('builds a local restore with client networks and registration, validated by the contract', () => {
    const where = {
      ...emptyWhereForm(),
      dir: '/srv/restore',
      clientCidrs: '10.0.0.0/8\nfd00::/64, 192.168.1.0/24',
      register: true,
      registerName: 'Copy',
      registerRepositoryId: 'backups',
      fullVerify: true,
    };
    const result = restoreStartInput('prod', { kind: 'latest' }, where, ['n1', 'n2']);
    expect(result).toEqual({
      ok: true,
      input: {
        clusterId: 'prod',
        target: { kind: 'latest' },
        provisioner: { kind: 'local', dir: '/srv/restore' },
        clientCidrs: ['10.0.0.0/8', 'fd00::/64', '192.168.1.0/24'],
        fullVerify: true,
        register: { name: 'Copy', repositoryId: 'backups' },
      },
    });
    if (result.ok)
      expect(methods['restores.start'].input.safeParse(result.input).success).toBe(true);
    expect(parseCidrs('10.0.0.0/8 nonsense')).toEqual({
      cidrs: ['10.0.0.0/8'],
      invalid: ['nonsense'],
    });
  });

  it('needs every node of the plan on exactly one SSH host', () => {
    const host = (nodes: string[]) => ({
      ...emptySshHost(nodes),
      host: 'h1',
      user: 'pg',
      privateKeyPath: '/k',
      hostKeySha256: 'SHA256:abc',
      baseDir: '/srv',
    });
    const base = { ...emptyWhereForm(), kind: 'ssh' as const };
    expect(
      restoreStartInput('prod', { kind: 'latest' }, { ...base, hosts: [host(['n1'])] }, [
        'n1',
        'n2',
      ]),
    ).toMatchObject({
      ok: false,
      errors: { hosts: 'Node n2 is on no host: every node needs one.' },
    });
    expect(
      restoreStartInput(
        'prod',
        { kind: 'latest' },
        { ...base, hosts: [host(['n1', 'n2']), host(['n2'])] },
        ['n1', 'n2'],
      ),
    ).toMatchObject({ ok: false, errors: { hosts: 'Node n2 is on 2 hosts: choose one.' } });
    const ok = restoreStartInput(
      'prod',
      { kind: 'latest' },
      {
        ...base,
        hosts: [
          host(['n2', 'n1']),
          { ...host([]), useAgent: true, privateKeyPath: '', nodes: ['n3'] },
        ],
      },
      ['n1', 'n2', 'n3'],
    );
    expect(ok.ok).toBe(true);
    if (!ok.ok) return;
    expect(ok.input.provisioner).toEqual({
      kind: 'ssh',
      hosts: [
        {
          host: 'h1',
          port: 22,
          user: 'pg',
          privateKeyPath: '/k',
          hostKeySha256: 'SHA256:abc',
          baseDir: '/srv',
          nodes: ['n1', 'n2'],
        },
        {
          host: 'h1',
          port: 22,
          user: 'pg',
          agent: true,
          hostKeySha256: 'SHA256:abc',
          baseDir: '/srv',
          nodes: ['n3'],
        },
      ],
    });
    expect(methods['restores.start'].input.safeParse(ok.input).success).toBe(true);
  });
});
