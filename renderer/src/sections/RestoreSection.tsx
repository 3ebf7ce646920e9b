import { useEffect, type ReactNode } from 'react';
import { EmptyState } from '../components/EmptyState.js';
import { ErrorNote } from '../components/ErrorNote.js';
import { PastRestores } from '../components/restore/PastRestores.js';
import { PlanView } from '../components/restore/PlanView.js';
import { RestoreChecklist } from '../components/restore/RestoreChecklist.js';
import { RestoreJobView } from '../components/restore/RestoreJobView.js';
import { TargetStep } from '../components/restore/TargetStep.js';
import { WhereStep } from '../components/restore/WhereStep.js';
import { useClustersStore } from '../state/clusters-store.js';
import { isActive } from '../state/job-merge.js';
import { useJobsStore } from '../state/jobs-store.js';
import {
  planWizard,
  resetWizard,
  setWizardCluster,
  setWizardTarget,
  useRestoreWizard,
} from '../state/restore-wizard-store.js';
import { useRestoresStore } from '../state/restores-store.js';
import { selectCluster, useSelectionStore } from '../state/selection-store.js';

function Step({
  number,
  title,
  children,
  testId,
}: {
  number: number;
  title: string;
  children: ReactNode;
  testId?: string;
}) {
  return (
    <section className="step" data-testid={testId}>
      <h2 className="step-title">
        <span className="step-number">{number}</span> {title}
      </h2>
      {children}
    </section>
  );
}

export function RestoreSection() {
  const clusters = useClustersStore((s) => s.clusters);
  const loaded = useClustersStore((s) => s.loaded);
  const selected = useSelectionStore((s) => s.clusterId);
  const wizardCluster = useRestoreWizard((s) => s.clusterId);
  const plan = useRestoreWizard((s) => s.plan);
  const refusal = useRestoreWizard((s) => s.refusal);
  const jobId = useRestoreWizard((s) => s.jobId);
  const job = useJobsStore((s) => (jobId ? s.jobs[jobId] : undefined));
  const restores = useRestoresStore((s) => s.restores);
  const draft = useRestoresStore((s) => s.draft);
  const record = jobId ? restores.find((r) => r.jobId === jobId) : undefined;
  const clusterId =
    wizardCluster ??
    (clusters.some((c) => c.config.id === selected) ? selected : (clusters[0]?.config.id ?? null));

  // "Restore to this point" on the timeline: take the target once and plan right away
  useEffect(() => {
    if (!draft) return;
    useRestoresStore.setState({ draft: null });
    if (useRestoreWizard.getState().jobId && job && isActive(job)) return;
    resetWizard();
    setWizardCluster(draft.clusterId);
    setWizardTarget(draft.target);
    void planWizard();
  }, [draft, job]);

  useEffect(() => {
    if (wizardCluster === null && clusterId !== null) setWizardCluster(clusterId);
  }, [wizardCluster, clusterId]);

  const past = restores.filter((r) => r.jobId !== jobId);

  return (
    <section className="section" data-testid="section-restore">
      <div className="section-head">
        <h1>Restore</h1>
        {jobId && job && !isActive(job) && (
          <button type="button" className="button" onClick={resetWizard}>
            New restore
          </button>
        )}
      </div>
      {!loaded ? (
        <p className="muted">Loading…</p>
      ) : clusters.length === 0 ? (
        <EmptyState title="Nothing to restore yet">
          <p>
            A restore starts from a restore point of a cluster Tidemark backs up, and always goes
            into a newly provisioned cluster, never over the original. Add a cluster first.
          </p>
        </EmptyState>
      ) : jobId ? (
        <>
          <Step
            number={3}
            title={job && !isActive(job) ? 'The restore' : 'Restoring'}
            testId="restore-step-progress"
          >
            {job ? <RestoreJobView job={job} /> : <p className="muted">Waiting for the job…</p>}
          </Step>
          {job?.state === 'succeeded' && (
            <Step number={4} title="The new cluster" testId="restore-step-result">
              {record ? (
                <RestoreChecklist record={record} />
              ) : (
                <p className="muted">Loading the result…</p>
              )}
            </Step>
          )}
        </>
      ) : (
        <>
          <p className="muted">
            A restore creates a new cluster with the source’s node count, roles and server
            parameters, every node at the same consistent restore point. Access rules are not
            copied.
          </p>
          <label className="inline-label">
            Cluster{' '}
            <select
              value={clusterId ?? ''}
              data-testid="restore-cluster"
              onChange={(e) => {
                selectCluster(e.target.value);
                setWizardCluster(e.target.value);
              }}
            >
              {clusters.map((c) => (
                <option key={c.config.id} value={c.config.id}>
                  {c.config.name}
                </option>
              ))}
            </select>
          </label>
          <Step number={1} title="Restore to" testId="restore-step-target">
            <TargetStep />
            {refusal && (
              <ErrorNote title="This restore cannot be done" testId="restore-refusal">
                {refusal}
              </ErrorNote>
            )}
            {plan && <PlanView plan={plan.plan} askedTime={plan.target.kind === 'time'} />}
          </Step>
          {plan && (
            <Step number={2} title="Into a new cluster" testId="restore-step-where">
              <WhereStep />
            </Step>
          )}
        </>
      )}
      {past.length > 0 && (
        <>
          <h2>Past restores</h2>
          <PastRestores restores={past} />
        </>
      )}
    </section>
  );
}
