import { summarizeVerify } from '../../engine/catalog/verify-summary.js';
import type { Engine } from '../../engine/engine.js';
import { TidemarkError, toErrorInfo } from '../../engine/errors.js';
import type { RepositoryConfig } from '../../engine/repository/repository-config.js';
import type { MethodOutput } from '../contract/index.js';
import type { HandlerGroup } from './index.js';

type RepositoryMethod =
  | 'repositories.list'
  | 'repositories.create'
  | 'repositories.attach'
  | 'repositories.status'
  | 'repositories.verify'
  | 'repositories.repair'
  | 'repositories.prune'
  | 'repositories.setRetention'
  | 'repositories.lock'
  | 'repositories.unlock'
  | 'repositories.rekey'
  | 'repositories.exportKit'
  | 'repositories.forget'
  | 'repositories.destroy';

type RepositorySummary = MethodOutput<'repositories.list'>[number];

export function repositoryHandlers(engine: Engine): HandlerGroup<RepositoryMethod> {
  const manager = engine.repositories;
  return {
    'repositories.list': async () =>
      Promise.all((await manager.list()).map((config) => summarize(engine, config))),
    'repositories.create': ({ config, passphrase, zoneSecrets }) =>
      manager.create(config, {
        ...(passphrase ? { passphrase } : {}),
        ...(zoneSecrets ? { zones: zoneSecrets } : {}),
      }),
    'repositories.attach': ({ config, passphrase, zoneSecrets, kit }) =>
      manager.attach(
        config,
        { ...(passphrase ? { passphrase } : {}), ...(zoneSecrets ? { zones: zoneSecrets } : {}) },
        kit === undefined ? {} : { kit },
      ),
    'repositories.status': ({ id }) => manager.status(id),
    'repositories.verify': async ({ id, sample }) => {
      await manager.get(id);
      return engine.jobs.start(
        { kind: 'repositories.verify', title: `Verify repository ${id}`, subject: id },
        async (ctx) => {
          let phase = '';
          const report = await manager.verify(id, {
            ...(sample === undefined ? {} : { sample }),
            signal: ctx.signal,
            onProgress: (p) => {
              if (p.phase !== phase) ctx.setPhase((phase = p.phase));
              ctx.progress(p.bytesChecked, p.bytesTotal, 'bytes');
              ctx.part('objects', {
                phase: p.phase,
                state: 'running',
                done: p.objectsChecked,
                total: p.objectsTotal,
                unit: 'items',
              });
            },
          });
          ctx.setPhase(report.ok ? 'no problems found' : `${report.problems} problem(s) found`);
          return { report, summary: summarizeVerify(report) };
        },
      );
    },
    'repositories.repair': async ({ id }) => {
      await manager.get(id);
      return engine.jobs.start(
        { kind: 'repositories.repair', title: `Repair repository ${id}`, subject: id },
        async (ctx) => {
          ctx.setPhase('copying missing or damaged objects');
          const report = await manager.repair(id, {
            signal: ctx.signal,
            onProgress: (p) => ctx.progress(p.checked, p.total, 'items'),
          });
          const copied = report.zones.reduce((sum, z) => sum + z.copied.length, 0);
          ctx.setPhase(
            report.ok
              ? `${copied} object(s) copied`
              : `${copied} copied, some could not be repaired`,
          );
          return report;
        },
      );
    },
    'repositories.prune': async ({ id, dryRun }) => {
      const run = await manager.planPrune(id);
      if (dryRun) return { run, job: null };
      if (run.locked) {
        const { repository } = await manager.open(id);
        await repository.assertUnlocked('delete backups past the retention window');
      }
      const job = engine.jobs.start(
        { kind: 'repositories.prune', title: `Apply retention to repository ${id}`, subject: id },
        async (ctx) => {
          ctx.setPhase('deleting');
          return manager.prune(id, {
            signal: ctx.signal,
            onProgress: (done, total) => ctx.progress(done, total, 'items'),
          });
        },
      );
      return { run: null, job };
    },
    'repositories.setRetention': ({ id, days }) => manager.setRetentionDays(id, days),
    'repositories.lock': ({ id, reason }) => manager.setLocked(id, true, reason ?? ''),
    'repositories.unlock': ({ id, reason }) => manager.setLocked(id, false, reason ?? ''),
    'repositories.rekey': ({ id, oldPassphrase, newPassphrase }) =>
      manager.rekey(id, oldPassphrase, newPassphrase),
    'repositories.exportKit': async ({ id }) => ({ kit: await manager.exportKit(id) }),
    'repositories.forget': async ({ id }) => {
      await manager.forget(id);
      return { forgotten: true as const };
    },
    'repositories.destroy': async ({ id, confirm }) => {
      await manager.get(id);
      if (confirm !== id)
        throw new TidemarkError(
          'invalid_input',
          `To delete repository "${id}" and every backup in it, type its id "${id}" as the confirmation.`,
        );
      const { repository } = await manager.open(id);
      await repository.assertUnlocked('delete it');
      return engine.jobs.start(
        { kind: 'repositories.destroy', title: `Delete repository ${id}`, subject: id },
        async (ctx) => {
          ctx.setPhase('deleting every object');
          return manager.destroy(id, {
            confirm,
            signal: ctx.signal,
            onProgress: (done, total) => ctx.progress(done, total, 'items'),
          });
        },
      );
    },
  };
}

/** One repository for the list: its lock and zone health, or why it cannot be opened. */
async function summarize(engine: Engine, config: RepositoryConfig): Promise<RepositorySummary> {
  const base = { config, lock: null, zones: [] };
  try {
    const status = await engine.repositories.status(config.id);
    const reachable = status.zones.filter((z) => z.reachable).length;
    const state =
      reachable === 0
        ? 'unavailable'
        : reachable < status.zones.length || status.zones.some((z) => z.degraded)
          ? 'degraded'
          : 'ok';
    return { config, state, lock: status.lock, zones: status.zones, problem: null };
  } catch (err) {
    const problem = toErrorInfo(err);
    const needsSecret =
      problem.code === 'invalid_input' && typeof problem.details?.secret === 'string';
    return {
      ...base,
      state: needsSecret
        ? 'needs-secret'
        : problem.code === 'zone_unavailable'
          ? 'unavailable'
          : 'error',
      problem,
    };
  }
}
