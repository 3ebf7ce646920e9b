import { useId } from 'react';

interface ToggleFieldProps {
  label: string;
  description: string;
  checked: boolean;
  disabled: boolean;
  testId: string;
  onChange(checked: boolean): void;
}

export function ToggleField({
  label,
  description,
  checked,
  disabled,
  testId,
  onChange,
}: ToggleFieldProps) {
  const id = useId();
  return (
    <div className="field field-toggle">
      <input
        id={id}
        type="checkbox"
        checked={checked}
        disabled={disabled}
        data-testid={testId}
        aria-describedby={`${id}-description`}
        onChange={(event) => onChange(event.target.checked)}
      />
      <div>
        <label htmlFor={id}>{label}</label>
        <p className="field-description" id={`${id}-description`}>
          {description}
        </p>
      </div>
    </div>
  );
}
