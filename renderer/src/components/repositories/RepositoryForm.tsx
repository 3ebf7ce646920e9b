import { useState, type FormEvent } from 'react';
import { call } from '../../api/call.js';
import { formErrorsFrom, noErrors, type FormErrors } from '../../forms/field-errors.js';
import { passphraseStrength } from '../../forms/passphrase-strength.js';
import {
  emptyRepositoryForm,
  emptyZone,
  repositoryFieldOf,
  repositoryFormToInput,
  zoneIds,
  zoneKindLabels,
  type RepositoryForm as Form,
  type ZoneForm,
  type ZoneKind,
} from '../../forms/repository-form.js';
import { slugify } from '../../forms/form-result.js';
import { loadRepositories } from '../../state/repositories-store.js';
import { ErrorNote } from '../ErrorNote.js';
import { CheckboxField, SelectField, TextField } from '../Field.js';

const zoneKinds = Object.keys(zoneKindLabels) as ZoneKind[];

function ZoneFields({
  zone,
  index,
  id,
  errors,
  onChange,
  onRemove,
}: {
  zone: ZoneForm;
  index: number;
  id: string;
  errors: Record<string, string>;
  onChange(zone: ZoneForm): void;
  onRemove?: () => void;
}) {
  const set =
    <K extends keyof ZoneForm>(key: K) =>
    (value: ZoneForm[K]) =>
      onChange({ ...zone, [key]: value });
  const err = (field: string) => errors[`zones.${index}.${field}`];
  return (
    <fieldset className="zone-fieldset" data-testid={`zone-${index}`}>
      <legend>
        Zone {index + 1} <span className="muted small">id {id}</span>
      </legend>
      <div className="form-grid">
        <TextField
          label="Zone name"
          value={zone.name}
          onChange={set('name')}
          error={err('name')}
          testId={`zone-${index}-name`}
        />
        <SelectField
          label="Kind"
          value={zone.kind}
          onChange={set('kind')}
          options={zoneKinds.map((k) => ({ value: k, label: zoneKindLabels[k] }))}
          testId={`zone-${index}-kind`}
        />
        {zone.kind === 'folder' && (
          <TextField
            label="Folder path"
            value={zone.path}
            onChange={set('path')}
            error={err('path')}
            placeholder="/mnt/backup-nas/tidemark"
            description="An existing, empty folder on this computer or a mounted network share."
            testId={`zone-${index}-path`}
            mono
            wide
          />
        )}
        {zone.kind === 's3' && (
          <>
            <TextField
              label="Endpoint URL"
              value={zone.endpoint}
              onChange={set('endpoint')}
              error={err('endpoint')}
              placeholder="empty for AWS; https://minio.example:9000"
              mono
            />
            <TextField
              label="Region"
              value={zone.region}
              onChange={set('region')}
              error={err('region')}
              mono
            />
            <TextField
              label="Bucket"
              value={zone.bucket}
              onChange={set('bucket')}
              error={err('bucket')}
              mono
            />
            <TextField
              label="Prefix"
              value={zone.prefix}
              onChange={set('prefix')}
              error={err('prefix')}
              placeholder="tidemark/"
              mono
            />
            <TextField
              label="Access key id"
              value={zone.accessKeyId}
              onChange={set('accessKeyId')}
              error={err('accessKeyId')}
              mono
            />
            <TextField
              label="Secret access key"
              type="password"
              autoComplete="new-password"
              value={zone.secretAccessKey}
              onChange={set('secretAccessKey')}
              error={err('secretAccessKey')}
              description="Kept in the secret store; never shown again."
            />
            <CheckboxField
              label="Path-style addressing"
              checked={zone.forcePathStyle}
              onChange={set('forcePathStyle')}
              description="For MinIO, Ceph and other servers that do not serve buckets as sub-domains."
            />
          </>
        )}
        {zone.kind === 'azure' && (
          <>
            <TextField
              label="Account URL"
              value={zone.accountUrl}
              onChange={set('accountUrl')}
              error={err('accountUrl')}
              placeholder="https://myaccount.blob.core.windows.net"
              mono
              wide
            />
            <TextField
              label="Account name"
              value={zone.accountName}
              onChange={set('accountName')}
              error={err('accountName')}
              mono
            />
            <TextField
              label="Container"
              value={zone.container}
              onChange={set('container')}
              error={err('container')}
              mono
            />
            <TextField
              label="Prefix"
              value={zone.prefix}
              onChange={set('prefix')}
              error={err('prefix')}
              placeholder="tidemark/"
              mono
            />
            <SelectField
              label="Credential"
              value={zone.azureCredential}
              onChange={set('azureCredential')}
              options={[
                { value: 'accountKey', label: 'Account key' },
                { value: 'sasToken', label: 'SAS token' },
              ]}
            />
            <TextField
              label={zone.azureCredential === 'accountKey' ? 'Account key' : 'SAS token'}
              type="password"
              autoComplete="new-password"
              value={zone.azureSecret}
              onChange={set('azureSecret')}
              error={err('azureSecret')}
              description="Kept in the secret store; never shown again."
            />
          </>
        )}
      </div>
      {onRemove && (
        <button type="button" className="link-button small" onClick={onRemove}>
          Remove this zone
        </button>
      )}
    </fieldset>
  );
}

export function RepositoryForm({ onClose }: { onClose(): void }) {
  const [form, setForm] = useState<Form>(emptyRepositoryForm);
  const [errors, setErrors] = useState<FormErrors>(noErrors);
  const [busy, setBusy] = useState(false);
  const strength = passphraseStrength(form.passphrase);
  const ids = zoneIds(form.zones);
  const set =
    <K extends keyof Form>(key: K) =>
    (value: Form[K]) =>
      setForm((f) => ({ ...f, [key]: value }));

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const result = repositoryFormToInput(form);
    if (!result.ok) {
      setErrors({ fields: result.errors, general: null });
      return;
    }
    setErrors(noErrors);
    setBusy(true);
    try {
      await call('repositories.create', result.input);
      await loadRepositories();
      onClose();
    } catch (err) {
      setErrors(formErrorsFrom(err, repositoryFieldOf));
    } finally {
      setBusy(false);
    }
  };

  return (
    <form
      className="panel"
      onSubmit={(e) => void submit(e)}
      data-testid="repository-form"
      noValidate
    >
      <h2 className="panel-title">Create a repository</h2>
      <p className="muted">
        Every object is encrypted (AES-256) on this computer and written to every zone. A restore
        works as long as one zone can be read.
      </p>
      <div className="form-grid">
        <TextField
          label="Name"
          value={form.name}
          onChange={set('name')}
          error={errors.fields.name}
          placeholder="Backups EU"
          description={
            form.name.trim() ? (
              <>
                id <code>{slugify(form.name) || '—'}</code>
              </>
            ) : undefined
          }
          testId="repository-name"
        />
        <TextField
          label="Retention (days)"
          value={form.retentionDays}
          onChange={set('retentionDays')}
          error={errors.fields.retentionDays}
          description="Backups older than this are deleted by the daily retention run."
          testId="repository-retention"
        />
      </div>
      {form.zones.map((zone, i) => (
        <ZoneFields
          key={zone.key}
          zone={zone}
          index={i}
          id={ids[i]!}
          errors={errors.fields}
          onChange={(z) =>
            setForm((f) => ({ ...f, zones: f.zones.map((x) => (x.key === z.key ? z : x)) }))
          }
          {...(form.zones.length > 1
            ? {
                onRemove: () =>
                  setForm((f) => ({ ...f, zones: f.zones.filter((x) => x.key !== zone.key) })),
              }
            : {})}
        />
      ))}
      {errors.fields.zones && <p className="field-error">{errors.fields.zones}</p>}
      <div className="toolbar">
        <button
          type="button"
          className="button"
          onClick={() =>
            setForm((f) => ({
              ...f,
              zones: [
                ...f.zones,
                emptyZone('folder', `Zone ${String.fromCharCode(65 + f.zones.length)}`),
              ],
            }))
          }
        >
          Add a zone
        </button>
        {form.zones.length > 1 && (
          <label className="inline-label">
            An object counts as stored once{' '}
            <input
              type="text"
              className="tiny-input"
              value={form.minZones}
              aria-label="Minimum zones"
              onChange={(e) => set('minZones')(e.target.value)}
            />{' '}
            zones have it
            {errors.fields.minZones && (
              <span className="field-error"> {errors.fields.minZones}</span>
            )}
          </label>
        )}
      </div>
      <div className="form-grid">
        <TextField
          label="Passphrase"
          type="password"
          autoComplete="new-password"
          value={form.passphrase}
          onChange={set('passphrase')}
          error={errors.fields.passphrase}
          testId="repository-passphrase"
          description={
            <span
              className={`strength strength-${strength.level}`}
              data-testid="passphrase-strength"
            >
              {strength.hint}
            </span>
          }
        />
        <TextField
          label="Passphrase again"
          type="password"
          autoComplete="new-password"
          value={form.passphraseRepeat}
          onChange={set('passphraseRepeat')}
          error={errors.fields.passphraseRepeat}
          testId="repository-passphrase-repeat"
        />
      </div>
      <p className="note">
        The passphrase is kept in this computer’s secret store. Write it down somewhere safe and
        export the recovery kit afterwards: without the passphrase, no backup can ever be read, by
        anyone.
      </p>
      {errors.general && <ErrorNote testId="repository-form-error">{errors.general}</ErrorNote>}
      <div className="actions">
        <button
          type="submit"
          className="button button-primary"
          disabled={busy}
          data-testid="repository-submit"
        >
          {busy ? 'Creating…' : 'Create repository'}
        </button>
        <button type="button" className="button" disabled={busy} onClick={onClose}>
          Cancel
        </button>
      </div>
    </form>
  );
}
