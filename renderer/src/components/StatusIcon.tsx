const icons = {
  ok: { glyph: '✓', label: 'OK' },
  warn: { glyph: '!', label: 'Warning' },
  fail: { glyph: '✕', label: 'Failed' },
} as const;

/** A check's outcome as an icon with its word for screen readers. */
export function StatusIcon({ status }: { status: keyof typeof icons }) {
  const icon = icons[status];
  return (
    <span
      className={`status-icon status-${status}`}
      role="img"
      aria-label={icon.label}
      title={icon.label}
    >
      {icon.glyph}
    </span>
  );
}
