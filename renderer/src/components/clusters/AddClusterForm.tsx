import { useState, type FormEvent } from 'react';
import { ApiError } from '../../api/api-error.js';
import { call } from '../../api/call.js';
import type { AddClusterResult, PreflightCheck } from '../../api/types.js';
import {
  clusterFieldOf,
  clusterFormToInput,
  emptyClusterForm,
  sslModeDescriptions,
  sslModes,
  type ClusterForm,
} from '../../forms/cluster-form.js';
import { formErrorsFrom, noErrors, type FormErrors } from '../../forms/field-errors.js';
import { loadClusters } from '../../state/clusters-store.js';
import { useRepositoriesStore } from '../../state/repositories-store.js';
import { ErrorNote } from '../ErrorNote.js';
import { SelectField, TextField } from '../Field.js';
import { PreflightChecks } from '../PreflightChecks.js';

interface Refusal {
  headline: string;
  checks: PreflightCheck[];
}

function isCheck(value: unknown): value is PreflightCheck {
  if (typeof value !== 'object' || value === null) return false;
  const c = value as Record<string, unknown>;
  return (
    typeof c.node === 'string' &&
    typeof c.message === 'string' &&
    typeof c.fix === 'string' &&
    (c.status === 'ok' || c.status === 'warn' || c.status === 'fail')
  );
}

/** The preflight refusal of `clusters.add`: its first line, and the checks from `details.checks`. */
function refusalOf(err: unknown): Refusal | null {
  if (!(err instanceof ApiError) || err.code !== 'preflight_failed') return null;
  const checks = Array.isArray(err.details?.checks) ? err.details.checks.filter(isCheck) : [];
  return { headline: err.message.split('\n')[0] ?? err.message, checks };
}

export function AddClusterForm({ onClose }: { onClose(): void }) {
  const repositories = useRepositoriesStore((s) => s.repositories);
  const [form, setForm] = useState<ClusterForm>(() => ({
    ...emptyClusterForm,
    repositoryId: repositories[0]?.config.id ?? '',
  }));
  const [errors, setErrors] = useState<FormErrors>(noErrors);
  const [refusal, setRefusal] = useState<Refusal | null>(null);
  const [busy, setBusy] = useState(false);
  const [added, setAdded] = useState<AddClusterResult | null>(null);
  const set =
    <K extends keyof ClusterForm>(key: K) =>
    (value: ClusterForm[K]) =>
      setForm((f) => ({ ...f, [key]: value }));

  if (added)
    return (
      <div className="panel" data-testid="cluster-added">
        <h2 className="panel-title">Cluster “{added.cluster.config.name}” added</h2>
        <p>
          {added.nodes.length} node{added.nodes.length === 1 ? '' : 's'} found: Citus{' '}
          {added.citusVersion}, PostgreSQL {added.serverVersion}. Its backups go to repository{' '}
          <code>{added.cluster.config.repositoryId}</code>.
        </p>
        <PreflightChecks checks={added.checks} />
        <div className="actions">
          <button type="button" className="button button-primary" onClick={onClose}>
            Done
          </button>
        </div>
      </div>
    );

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setRefusal(null);
    const result = clusterFormToInput(form);
    if (!result.ok) {
      setErrors({ fields: result.errors, general: null });
      return;
    }
    setErrors(noErrors);
    setBusy(true);
    try {
      const value = await call('clusters.add', result.input);
      // the password went to the secret store; the form forgets it
      setForm((f) => ({ ...f, password: '' }));
      setAdded(value);
      void loadClusters();
    } catch (err) {
      const refused = refusalOf(err);
      if (refused) setRefusal(refused);
      else setErrors(formErrorsFrom(err, clusterFieldOf));
    } finally {
      setBusy(false);
    }
  };

  return (
    <form
      className="panel"
      onSubmit={(e) => void submit(e)}
      data-testid="add-cluster-form"
      noValidate
    >
      <h2 className="panel-title">Add a cluster</h2>
      <p className="muted">
        Tidemark connects to the coordinator, finds the workers in <code>pg_dist_node</code>, and
        checks every node before adding the cluster.
      </p>
      {repositories.length === 0 && (
        <p className="note">
          There is no repository yet: create one in <a href="#/settings">Settings → Repositories</a>{' '}
          first; backups need somewhere to go.
        </p>
      )}
      <div className="form-grid">
        <TextField
          label="Name"
          value={form.name}
          onChange={set('name')}
          error={errors.fields.name}
          placeholder="Production EU"
          testId="cluster-name"
        />
        <SelectField
          label="Repository"
          value={form.repositoryId}
          onChange={set('repositoryId')}
          error={errors.fields.repositoryId}
          options={[
            { value: '', label: '— choose —' },
            ...repositories.map((r) => ({
              value: r.config.id,
              label: `${r.config.name} (${r.config.id})`,
            })),
          ]}
          testId="cluster-repository"
        />
        <TextField
          label="Coordinator host"
          value={form.host}
          onChange={set('host')}
          error={errors.fields.host}
          placeholder="citus-coord.example.net"
          testId="cluster-host"
          mono
        />
        <TextField
          label="Port"
          value={form.port}
          onChange={set('port')}
          error={errors.fields.port}
          testId="cluster-port"
          mono
        />
        <TextField
          label="Database"
          value={form.database}
          onChange={set('database')}
          error={errors.fields.database}
          description="Where the citus extension is installed."
          testId="cluster-database"
          mono
        />
        <TextField
          label="User"
          value={form.user}
          onChange={set('user')}
          error={errors.fields.user}
          description="A superuser with REPLICATION."
          testId="cluster-user"
          mono
        />
        <TextField
          label="Password"
          type="password"
          value={form.password}
          onChange={set('password')}
          error={errors.fields.password}
          autoComplete="new-password"
          description="Sent once, kept in the system's secret store, never shown again."
          testId="cluster-password"
        />
        <SelectField
          label="TLS (sslmode)"
          value={form.sslmode}
          onChange={set('sslmode')}
          error={errors.fields.sslmode}
          options={sslModes.map((m) => ({ value: m, label: `${m} — ${sslModeDescriptions[m]}` }))}
          testId="cluster-sslmode"
        />
        {form.sslmode !== 'disable' && (
          <TextField
            label="CA file"
            value={form.caFile}
            onChange={set('caFile')}
            error={errors.fields.caFile}
            placeholder="/etc/ssl/certs/citus-ca.pem"
            description="Path on this computer; needed for verify-ca and verify-full."
            testId="cluster-ca-file"
            mono
            wide
          />
        )}
      </div>
      {errors.general && <ErrorNote testId="add-cluster-error">{errors.general}</ErrorNote>}
      {refusal && (
        <ErrorNote title={refusal.headline} testId="add-cluster-refusal">
          <p>
            Nothing was stored. Fix each failure below on the node it names, then add the cluster
            again. Warnings do not block adding.
          </p>
          <PreflightChecks checks={refusal.checks} />
        </ErrorNote>
      )}
      <div className="actions">
        <button
          type="submit"
          className="button button-primary"
          disabled={busy}
          data-testid="cluster-submit"
        >
          {busy ? 'Connecting and checking…' : 'Check and add'}
        </button>
        <button type="button" className="button" onClick={onClose} disabled={busy}>
          Cancel
        </button>
      </div>
    </form>
  );
}
