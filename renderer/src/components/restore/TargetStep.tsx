import { useId } from 'react';
import type { TargetForm, TargetKind } from '../../forms/restore-form.js';
import { planWizard, setWizardTarget, useRestoreWizard } from '../../state/restore-wizard-store.js';
import { TextField } from '../Field.js';

const kinds: { kind: TargetKind; label: string; description: string }[] = [
  { kind: 'latest', label: 'Latest', description: 'the newest restorable point' },
  { kind: 'earliest', label: 'Earliest', description: 'the oldest restorable point in the window' },
  { kind: 'time', label: 'A time', description: 'the latest restorable point at or before it' },
  { kind: 'point', label: 'A named restore point', description: 'exactly that point' },
];

export function TargetStep() {
  const target = useRestoreWizard((s) => s.target);
  const errors = useRestoreWizard((s) => s.targetErrors);
  const planning = useRestoreWizard((s) => s.planning);
  const name = useId();
  const set = (patch: Partial<TargetForm>) => setWizardTarget({ ...target, ...patch });
  return (
    <form
      className="step-body"
      noValidate
      onSubmit={(e) => {
        e.preventDefault();
        void planWizard();
      }}
    >
      <fieldset className="radio-group" data-testid="restore-target">
        <legend className="offscreen">Restore to</legend>
        {kinds.map((k) => (
          <label key={k.kind} className="radio">
            <input
              type="radio"
              name={name}
              checked={target.kind === k.kind}
              data-testid={`target-${k.kind}`}
              onChange={() => set({ kind: k.kind })}
            />
            <span>
              <strong>{k.label}</strong> <span className="muted small">— {k.description}</span>
            </span>
          </label>
        ))}
      </fieldset>
      <div className="form-grid">
        {target.kind === 'time' && (
          <TextField
            label="Time (this computer’s time zone)"
            type="datetime-local"
            value={target.time}
            onChange={(time) => set({ time })}
            error={errors.time}
            testId="target-time-input"
          />
        )}
        {target.kind === 'point' && (
          <TextField
            label="Restore point name"
            value={target.pointName}
            onChange={(pointName) => set({ pointName })}
            error={errors.pointName}
            testId="target-point-input"
            mono
          />
        )}
      </div>
      <div className="actions">
        <button
          type="submit"
          className="button button-primary"
          disabled={planning}
          data-testid="restore-plan"
        >
          {planning ? 'Planning…' : 'Plan the restore'}
        </button>
      </div>
    </form>
  );
}
