import type { z } from 'zod';
import type { Engine } from '../../engine/engine.js';
import type { RestorePlan, RestoreTarget } from '../../engine/restore/restore-planner.js';
import type { ProvisionerChoice } from '../../engine/restore/restore-service.js';
import type { provisionerChoiceSchema, restorePlanSchema, restoreTargetSchema } from '../contract/restores.js';
import type { HandlerGroup } from './index.js';

export function restoreHandlers(engine: Engine): HandlerGroup<'restores.plan' | 'restores.start' | 'restores.list' | 'restores.setChecklistItem'> {
  return {
    'restores.plan': async ({ clusterId, target }) => planSummary(await engine.restores.plan(clusterId, toTarget(target))),
    'restores.start': async (input) => {
      const { job, plan } = await engine.restores.start({
        clusterId: input.clusterId,
        target: toTarget(input.target),
        provisioner: toProvisioner(input.provisioner),
        ...(input.clientCidrs ? { access: { clientCidrs: input.clientCidrs } } : {}),
        ...(input.fullVerify !== undefined ? { fullVerify: input.fullVerify } : {}),
        ...(input.keepFailedNodes !== undefined ? { keepFailedNodes: input.keepFailedNodes } : {}),
        ...(input.register ? { register: input.register } : {}),
      });
      return { job, plan: planSummary(plan) };
    },
    'restores.list': () => engine.restores.records.list(),
    'restores.setChecklistItem': ({ restoreId, itemId, done }) => engine.restores.setChecklistItem(restoreId, itemId, done),
  };
}

export function toTarget(target: z.output<typeof restoreTargetSchema>): RestoreTarget {
  return target.kind === 'time' ? { kind: 'time', at: new Date(target.at) } : target;
}

function toProvisioner(choice: z.output<typeof provisionerChoiceSchema>): ProvisionerChoice {
  if (choice.kind === 'local') return choice;
  return {
    kind: 'ssh',
    config: {
      hosts: choice.hosts.map((h) => ({
        host: h.host,
        port: h.port,
        user: h.user,
        auth: h.agent || !h.privateKeyPath ? { agent: true as const } : { privateKeyPath: h.privateKeyPath },
        hostKey: { sha256: h.hostKeySha256 },
        ...(h.binDir ? { binDir: h.binDir } : {}),
        baseDir: h.baseDir,
        nodes: h.nodes,
      })),
    },
  };
}

/** The plan as the UI and CLI show it: file lists reduced to counts. */
export function planSummary(plan: RestorePlan): z.output<typeof restorePlanSchema> {
  return {
    clusterId: plan.clusterId,
    repositoryId: plan.repositoryId,
    point: plan.point,
    distanceSeconds: plan.distanceSeconds,
    nodes: plan.nodes.map((n) => ({
      nodeId: n.nodeId,
      role: n.role,
      sourceName: n.sourceName,
      sourcePort: n.sourcePort,
      backupId: n.backup.backupId,
      backupStartedAt: n.backup.startedAt,
      targetLsn: n.targetLsn,
      timeline: n.timeline,
      walFiles: n.walFiles.length,
      backupBytes: n.backupBytes,
      walBytes: n.walBytes,
    })),
    totalBytes: plan.totalBytes,
    estimatedSeconds: plan.estimatedSeconds,
    warnings: plan.warnings,
    plannedAt: plan.plannedAt,
  };
}
