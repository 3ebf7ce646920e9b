import { create } from 'zustand';
import { errorMessage } from '../api/api-error.js';
import { call } from '../api/call.js';
import type { RestorePlan, RestoreTarget } from '../api/types.js';
import { formErrorsFrom, noErrors, type FormErrors } from '../forms/field-errors.js';
import {
  emptyTargetForm,
  emptyWhereForm,
  restoreFieldOf,
  restoreStartInput,
  targetFromForm,
  type TargetForm,
  type WhereForm,
} from '../forms/restore-form.js';
import { useJobsStore } from './jobs-store.js';
import { loadRestores } from './restores-store.js';

/**
 * The restore wizard, kept outside the section so leaving it (to look at the timeline or the
 * jobs) loses nothing: target → plan → where → the running job → its result.
 */
interface WizardState {
  clusterId: string | null;
  target: TargetForm;
  targetErrors: Record<string, string>;
  planning: boolean;
  /** the plan, and the target it was made for (a restore starts with exactly that target) */
  plan: { plan: RestorePlan; target: RestoreTarget } | null;
  /** why the engine refused to plan: shown prominently */
  refusal: string | null;
  where: WhereForm;
  whereErrors: FormErrors;
  starting: boolean;
  jobId: string | null;
}

const initial = (): WizardState => ({
  clusterId: null,
  target: emptyTargetForm,
  targetErrors: {},
  planning: false,
  plan: null,
  refusal: null,
  where: emptyWhereForm(),
  whereErrors: noErrors,
  starting: false,
  jobId: null,
});

export const useRestoreWizard = create<WizardState>()(initial);

export function setWizardCluster(clusterId: string | null): void {
  useRestoreWizard.setState({ clusterId, plan: null, refusal: null });
}

export function setWizardTarget(target: TargetForm): void {
  // a changed target makes the plan stale
  useRestoreWizard.setState({ target, plan: null, refusal: null, targetErrors: {} });
}

export function setWizardWhere(where: WhereForm): void {
  useRestoreWizard.setState({ where });
}

export async function planWizard(): Promise<void> {
  const { clusterId, target } = useRestoreWizard.getState();
  if (!clusterId) return;
  const parsed = targetFromForm(target);
  if (!parsed.ok) {
    useRestoreWizard.setState({ targetErrors: parsed.errors });
    return;
  }
  useRestoreWizard.setState({ planning: true, plan: null, refusal: null, targetErrors: {} });
  try {
    const plan = await call('restores.plan', { clusterId, target: parsed.input });
    const where = useRestoreWizard.getState().where;
    // every node on the first SSH host until the user spreads them out
    const nodes = plan.nodes.map((n) => n.nodeId);
    const hosts = where.hosts.map((h, i) => ({
      ...h,
      nodes: i === 0 && h.nodes.length === 0 ? nodes : h.nodes.filter((n) => nodes.includes(n)),
    }));
    useRestoreWizard.setState({ plan: { plan, target: parsed.input }, where: { ...where, hosts } });
  } catch (err) {
    useRestoreWizard.setState({ refusal: errorMessage(err) });
  } finally {
    useRestoreWizard.setState({ planning: false });
  }
}

export async function startWizardRestore(): Promise<void> {
  const { clusterId, plan, where } = useRestoreWizard.getState();
  if (!clusterId || !plan) return;
  const built = restoreStartInput(
    clusterId,
    plan.target,
    where,
    plan.plan.nodes.map((n) => n.nodeId),
  );
  if (!built.ok) {
    useRestoreWizard.setState({ whereErrors: { fields: built.errors, general: null } });
    return;
  }
  useRestoreWizard.setState({ starting: true, whereErrors: noErrors });
  try {
    const { job } = await call('restores.start', built.input);
    useJobsStore.getState().receive(job);
    useRestoreWizard.setState({ jobId: job.id });
    void loadRestores();
  } catch (err) {
    useRestoreWizard.setState({ whereErrors: formErrorsFrom(err, restoreFieldOf) });
  } finally {
    useRestoreWizard.setState({ starting: false });
  }
}

/** Back to step one for another restore (the last cluster stays chosen). */
export function resetWizard(): void {
  const { clusterId } = useRestoreWizard.getState();
  useRestoreWizard.setState({ ...initial(), clusterId });
}
