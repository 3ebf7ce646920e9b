import { EmptyState } from '../components/EmptyState.js';

export function TimelineSection() {
  return (
    <section className="section" data-testid="section-timeline">
      <h1>Timeline</h1>
      <EmptyState title="No backups yet — add a cluster and take a backup">
        <p>
          Once backups exist, the timeline shows the whole retention window: base backups,
          consistent restore points, WAL coverage of every node and any gaps.
        </p>
      </EmptyState>
    </section>
  );
}
