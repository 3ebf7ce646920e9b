import type { ReactNode } from 'react';

/** What a section says when it has nothing to show, and what would change that. */
export function EmptyState({ title, children }: { title: string; children?: ReactNode }) {
  return (
    <div className="empty-state" data-testid="empty-state">
      <p className="empty-state-title">{title}</p>
      {children}
    </div>
  );
}
