import { useId, type ReactNode } from 'react';

interface FieldProps {
  label: string;
  error?: string | undefined;
  description?: ReactNode;
  /** gets the id the label points at */
  children: (id: string, describedBy: string | undefined) => ReactNode;
  wide?: boolean;
}

/** A label, the control, a description and the message that refused it. */
export function Field({ label, error, description, children, wide }: FieldProps) {
  const id = useId();
  const describedBy =
    [description ? `${id}-d` : '', error ? `${id}-e` : ''].filter(Boolean).join(' ') || undefined;
  return (
    <div className={`field${wide ? ' field-wide' : ''}${error ? ' field-invalid' : ''}`}>
      <label htmlFor={id}>{label}</label>
      {children(id, describedBy)}
      {description && (
        <p className="field-description" id={`${id}-d`}>
          {description}
        </p>
      )}
      {error && (
        <p className="field-error" id={`${id}-e`} data-testid="field-error">
          {error}
        </p>
      )}
    </div>
  );
}

interface TextFieldProps {
  label: string;
  value: string;
  onChange(value: string): void;
  error?: string | undefined;
  description?: ReactNode;
  type?: 'text' | 'password' | 'datetime-local' | 'url';
  placeholder?: string;
  testId?: string;
  autoComplete?: string;
  wide?: boolean;
  mono?: boolean;
  disabled?: boolean;
}

export function TextField({
  label,
  value,
  onChange,
  error,
  description,
  type = 'text',
  placeholder,
  testId,
  autoComplete = 'off',
  wide,
  mono,
  disabled,
}: TextFieldProps) {
  return (
    <Field label={label} error={error} description={description} wide={wide}>
      {(id, describedBy) => (
        <input
          id={id}
          type={type}
          value={value}
          placeholder={placeholder}
          autoComplete={autoComplete}
          spellCheck={false}
          disabled={disabled}
          className={mono ? 'mono' : undefined}
          aria-invalid={error ? true : undefined}
          aria-describedby={describedBy}
          data-testid={testId}
          step={type === 'datetime-local' ? 1 : undefined}
          onChange={(event) => onChange(event.target.value)}
        />
      )}
    </Field>
  );
}

interface SelectFieldProps<V extends string> {
  label: string;
  value: V;
  options: readonly { value: V; label: string }[];
  onChange(value: V): void;
  error?: string | undefined;
  description?: ReactNode;
  testId?: string;
  wide?: boolean;
}

export function SelectField<V extends string>({
  label,
  value,
  options,
  onChange,
  error,
  description,
  testId,
  wide,
}: SelectFieldProps<V>) {
  return (
    <Field label={label} error={error} description={description} wide={wide}>
      {(id, describedBy) => (
        <select
          id={id}
          value={value}
          aria-invalid={error ? true : undefined}
          aria-describedby={describedBy}
          data-testid={testId}
          onChange={(event) => onChange(event.target.value as V)}
        >
          {options.map((o) => (
            <option key={o.value} value={o.value}>
              {o.label}
            </option>
          ))}
        </select>
      )}
    </Field>
  );
}

export function CheckboxField({
  label,
  checked,
  onChange,
  description,
  testId,
}: {
  label: string;
  checked: boolean;
  onChange(checked: boolean): void;
  description?: ReactNode;
  testId?: string;
}) {
  const id = useId();
  return (
    <div className="field field-toggle field-wide">
      <input
        id={id}
        type="checkbox"
        checked={checked}
        data-testid={testId}
        onChange={(e) => onChange(e.target.checked)}
      />
      <div>
        <label htmlFor={id}>{label}</label>
        {description && <p className="field-description">{description}</p>}
      </div>
    </div>
  );
}
