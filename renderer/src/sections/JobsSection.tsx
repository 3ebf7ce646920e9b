import { useMemo } from 'react';
import { EmptyState } from '../components/EmptyState.js';
import { JobRow } from '../components/JobRow.js';
import { isActive, jobsForDisplay } from '../state/job-merge.js';
import { useJobsStore } from '../state/jobs-store.js';

export function JobsSection() {
  const jobs = useJobsStore((state) => state.jobs);
  const loaded = useJobsStore((state) => state.loaded);
  const ordered = useMemo(() => jobsForDisplay(jobs), [jobs]);
  const active = ordered.filter(isActive);
  const ended = ordered.filter((job) => !isActive(job));
  return (
    <section className="section" data-testid="section-jobs">
      <h1>Jobs</h1>
      {ordered.length === 0 ? (
        loaded ? (
          <EmptyState title="No jobs yet">
            <p>
              Backups, restores and checks appear here while they run, and stay in the history
              afterwards.
            </p>
          </EmptyState>
        ) : (
          <p className="muted">Loading jobs…</p>
        )
      ) : (
        <>
          {active.length > 0 && (
            <>
              <h2>Running</h2>
              <ul className="job-list" data-testid="jobs-running">
                {active.map((job) => (
                  <JobRow key={job.id} job={job} />
                ))}
              </ul>
            </>
          )}
          {ended.length > 0 && (
            <>
              <h2>History</h2>
              <ul className="job-list" data-testid="jobs-history">
                {ended.map((job) => (
                  <JobRow key={job.id} job={job} />
                ))}
              </ul>
            </>
          )}
        </>
      )}
    </section>
  );
}
