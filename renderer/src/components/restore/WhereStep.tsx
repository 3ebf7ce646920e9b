import { useId } from 'react';
import { emptySshHost, type SshHostForm, type WhereForm } from '../../forms/restore-form.js';
import { useRepositoriesStore } from '../../state/repositories-store.js';
import {
  setWizardWhere,
  startWizardRestore,
  useRestoreWizard,
} from '../../state/restore-wizard-store.js';
import { ErrorNote } from '../ErrorNote.js';
import { CheckboxField, Field, SelectField, TextField } from '../Field.js';

function HostFields({
  host,
  index,
  nodes,
  errors,
  onChange,
  onRemove,
}: {
  host: SshHostForm;
  index: number;
  nodes: string[];
  errors: Record<string, string>;
  onChange(h: SshHostForm): void;
  onRemove?: () => void;
}) {
  const set =
    <K extends keyof SshHostForm>(key: K) =>
    (value: SshHostForm[K]) =>
      onChange({ ...host, [key]: value });
  const err = (f: string) => errors[`hosts.${index}.${f}`];
  return (
    <fieldset className="zone-fieldset">
      <legend>Host {index + 1}</legend>
      <div className="form-grid">
        <TextField label="Host" value={host.host} onChange={set('host')} error={err('host')} mono />
        <TextField
          label="SSH port"
          value={host.port}
          onChange={set('port')}
          error={err('port')}
          mono
        />
        <TextField label="User" value={host.user} onChange={set('user')} error={err('user')} mono />
        <TextField
          label="Private key file"
          value={host.privateKeyPath}
          onChange={set('privateKeyPath')}
          error={err('privateKeyPath')}
          placeholder="~/.ssh/id_ed25519"
          mono
          disabled={host.useAgent}
        />
        <CheckboxField
          label="Use the SSH agent instead of a key file"
          checked={host.useAgent}
          onChange={set('useAgent')}
        />
        <TextField
          label="Host key fingerprint"
          value={host.hostKeySha256}
          onChange={set('hostKeySha256')}
          error={err('hostKeySha256')}
          placeholder="SHA256:…"
          description={
            <>
              From a trusted channel: <code>ssh-keyscan HOST | ssh-keygen -lf -</code>. A different
              key refuses the connection.
            </>
          }
          mono
          wide
        />
        <TextField
          label="Base folder on the host"
          value={host.baseDir}
          onChange={set('baseDir')}
          error={err('baseDir')}
          placeholder="/srv/pg-restore"
          mono
        />
        <TextField
          label="PostgreSQL bin folder (optional)"
          value={host.binDir}
          onChange={set('binDir')}
          error={err('binDir')}
          placeholder="/usr/lib/postgresql/15/bin"
          mono
        />
        <Field label="Nodes on this host" error={err('nodes')} wide>
          {(id) => (
            <div className="node-choices" id={id}>
              {nodes.map((n) => (
                <label key={n} className="inline-label">
                  <input
                    type="checkbox"
                    checked={host.nodes.includes(n)}
                    onChange={(e) =>
                      set('nodes')(
                        e.target.checked ? [...host.nodes, n] : host.nodes.filter((x) => x !== n),
                      )
                    }
                  />{' '}
                  <span className="mono">{n}</span>
                </label>
              ))}
            </div>
          )}
        </Field>
      </div>
      {onRemove && (
        <button type="button" className="link-button small" onClick={onRemove}>
          Remove this host
        </button>
      )}
    </fieldset>
  );
}

export function WhereStep() {
  const where = useRestoreWizard((s) => s.where);
  const errors = useRestoreWizard((s) => s.whereErrors);
  const starting = useRestoreWizard((s) => s.starting);
  const plan = useRestoreWizard((s) => s.plan);
  const repositories = useRepositoriesStore((s) => s.repositories);
  const radio = useId();
  const nodes = plan?.plan.nodes.map((n) => n.nodeId) ?? [];
  const set = (patch: Partial<WhereForm>) => setWizardWhere({ ...where, ...patch });
  const f = errors.fields;

  return (
    <form
      className="step-body"
      noValidate
      onSubmit={(e) => {
        e.preventDefault();
        void startWizardRestore();
      }}
    >
      <fieldset className="radio-group">
        <legend className="offscreen">Where the new cluster runs</legend>
        <label className="radio">
          <input
            type="radio"
            name={radio}
            checked={where.kind === 'local'}
            onChange={() => set({ kind: 'local' })}
            data-testid="where-local"
          />
          <span>
            <strong>This computer</strong>{' '}
            <span className="muted small">
              — new data directories in a folder, free ports, the PostgreSQL found here
            </span>
          </span>
        </label>
        <label className="radio">
          <input
            type="radio"
            name={radio}
            checked={where.kind === 'ssh'}
            onChange={() => set({ kind: 'ssh' })}
            data-testid="where-ssh"
          />
          <span>
            <strong>Other servers over SSH</strong>{' '}
            <span className="muted small">
              — data streamed to the hosts, nothing left on this computer
            </span>
          </span>
        </label>
      </fieldset>
      {where.kind === 'local' ? (
        <div className="form-grid">
          <TextField
            label="Folder"
            value={where.dir}
            onChange={(dir) => set({ dir })}
            error={f.dir}
            placeholder="/srv/restores/prod-2025-03-05"
            description="One sub-folder per node is created in it."
            testId="where-dir"
            mono
          />
          <TextField
            label="PostgreSQL bin folder (optional)"
            value={where.binDir}
            onChange={(binDir) => set({ binDir })}
            error={f.binDir}
            placeholder="found automatically"
            description="Must be the backup’s major version, with the extensions the source had."
            mono
          />
        </div>
      ) : (
        <>
          {where.hosts.map((h, i) => (
            <HostFields
              key={h.key}
              host={h}
              index={i}
              nodes={nodes}
              errors={f}
              onChange={(next) =>
                set({ hosts: where.hosts.map((x) => (x.key === next.key ? next : x)) })
              }
              {...(where.hosts.length > 1
                ? { onRemove: () => set({ hosts: where.hosts.filter((x) => x.key !== h.key) }) }
                : {})}
            />
          ))}
          {f.hosts && <p className="field-error">{f.hosts}</p>}
          <button
            type="button"
            className="button"
            onClick={() => set({ hosts: [...where.hosts, emptySshHost()] })}
          >
            Add a host
          </button>
        </>
      )}
      <div className="form-grid">
        <Field
          label="Client networks allowed to connect"
          error={f.clientCidrs}
          description="CIDRs, one per line. pg_hba.conf is generated, never copied: by default only local connections and the nodes themselves are allowed."
          wide
        >
          {(id, describedBy) => (
            <textarea
              id={id}
              rows={2}
              className="mono"
              value={where.clientCidrs}
              aria-describedby={describedBy}
              placeholder="10.20.0.0/16"
              onChange={(e) => set({ clientCidrs: e.target.value })}
            />
          )}
        </Field>
        <CheckboxField
          label="Verify every object before starting"
          checked={where.fullVerify}
          onChange={(fullVerify) => set({ fullVerify })}
          description="Reads and authenticates the whole backup and WAL once first; slower, but nothing is created unless all of it is sound."
        />
        <CheckboxField
          label="Add the restored cluster to Tidemark"
          checked={where.register}
          onChange={(register) => set({ register })}
          description="As a cluster of its own with its own repository; it never writes into the source’s backups."
        />
        {where.register && (
          <>
            <TextField
              label="Name of the new cluster"
              value={where.registerName}
              onChange={(registerName) => set({ registerName })}
              error={f.registerName}
            />
            <SelectField
              label="Its repository"
              value={where.registerRepositoryId}
              onChange={(registerRepositoryId) => set({ registerRepositoryId })}
              error={f.registerRepositoryId}
              options={[
                { value: '', label: '— choose —' },
                ...repositories.map((r) => ({
                  value: r.config.id,
                  label: `${r.config.name} (${r.config.id})`,
                })),
              ]}
            />
          </>
        )}
      </div>
      {errors.general && <ErrorNote testId="restore-start-error">{errors.general}</ErrorNote>}
      <div className="actions">
        <button
          type="submit"
          className="button button-primary"
          disabled={starting}
          data-testid="restore-start"
        >
          {starting ? 'Starting…' : 'Start the restore'}
        </button>
        <span className="muted small">
          The source cluster is never touched; the new nodes cannot reach it.
        </span>
      </div>
    </form>
  );
}
