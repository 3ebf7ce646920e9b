import { useState, type ReactNode } from 'react';

interface ConfirmActionProps {
  label: string;
  /** the button that does it, e.g. "Remove cluster" */
  confirmLabel: string;
  /** what will happen and what will not, in plain words */
  children: ReactNode;
  onConfirm(): Promise<unknown> | void;
  disabled?: boolean;
  danger?: boolean;
  testId?: string;
}

/** A button whose action runs only after a second, explicit confirmation that says what it does. */
export function ConfirmAction({
  label,
  confirmLabel,
  children,
  onConfirm,
  disabled,
  danger = true,
  testId,
}: ConfirmActionProps) {
  const [open, setOpen] = useState(false);
  const [busy, setBusy] = useState(false);
  if (!open)
    return (
      <button
        type="button"
        className={danger ? 'button button-danger' : 'button'}
        disabled={disabled}
        data-testid={testId}
        onClick={() => setOpen(true)}
      >
        {label}
      </button>
    );
  return (
    <div
      className={danger ? 'confirm confirm-danger' : 'confirm'}
      role="alertdialog"
      aria-label={confirmLabel}
    >
      <div className="confirm-text">{children}</div>
      <div className="actions">
        <button
          type="button"
          className={danger ? 'button button-danger-solid' : 'button button-primary'}
          disabled={busy}
          data-testid={testId ? `${testId}-confirm` : undefined}
          onClick={() => {
            setBusy(true);
            void Promise.resolve(onConfirm()).finally(() => {
              setBusy(false);
              setOpen(false);
            });
          }}
        >
          {busy ? 'Working…' : confirmLabel}
        </button>
        <button type="button" className="button" disabled={busy} onClick={() => setOpen(false)}>
          Cancel
        </button>
      </div>
    </div>
  );
}
