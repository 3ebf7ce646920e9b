import type { ReactNode } from 'react';

/** A refusal or failure shown where it happened, prominently, with what to do in the message. */
export function ErrorNote({
  title,
  children,
  testId,
}: {
  title?: string;
  children: ReactNode;
  testId?: string;
}) {
  return (
    <div className="error-note" role="alert" data-testid={testId}>
      {title && <p className="error-note-title">{title}</p>}
      <div className="error-note-body">{children}</div>
    </div>
  );
}
