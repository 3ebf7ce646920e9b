import { EmptyState } from '../components/EmptyState.js';

export function RestoreSection() {
  return (
    <section className="section" data-testid="section-restore">
      <h1>Restore</h1>
      <EmptyState title="Nothing to restore yet">
        <p>
          A restore starts from a restore point on the timeline and always goes into a newly
          provisioned cluster, never over the original.
        </p>
      </EmptyState>
    </section>
  );
}
