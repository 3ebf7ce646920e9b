import type { ClusterConfig } from '../cluster/cluster-config.js';
import { TidemarkError } from '../errors.js';
import type { RepositoryConfig } from '../repository/repository-config.js';
import type { Settings, SettingsPatch } from '../settings/settings-schema.js';
import type { SettingsStore } from '../settings/settings-store.js';
import type { AgentConfig } from './agent-config.js';

/** The clusters the agent schedules and the settings its engine runs on. */
export interface AgentSettings {
  /** the settings file with the config's clusters and repositories laid over it */
  settings: SettingsStore;
  /** the clusters to schedule, as they are resolved (declared ones, then referenced ones) */
  clusters: ClusterConfig[];
  /** the repositories those clusters write to */
  repositories: RepositoryConfig[];
}

/**
 * Resolves the agent config against Tidemark's settings: a declared cluster or repository is
 * used as the config file says (it wins over a settings entry with the same id); a reference
 * must name one the settings have (added with `tidemark cluster add` / `tidemark repo init`),
 * with the config's schedules when it gives them. The settings file itself is never changed:
 * the engine sees the config's entries through an overlay.
 */
export async function resolveAgentSettings(base: SettingsStore, config: AgentConfig, settingsPath: string): Promise<AgentSettings> {
  const stored = await base.get();
  const problems: string[] = [];
  const referenced: ClusterConfig[] = [];
  for (const reference of config.clusterReferences) {
    const found = stored.clusters.find((c) => c.id === reference.id);
    if (!found) {
      problems.push(`cluster "${reference.id}": no cluster with this id has been added in ${settingsPath}${known(stored.clusters)}; add it with "tidemark cluster add" under the same user and TIDEMARK_HOME as the agent, or declare it in full in the agent config`);
      continue;
    }
    referenced.push(reference.schedules ? { ...found, schedules: reference.schedules } : found);
  }
  for (const reference of config.repositoryReferences) {
    if (!stored.repositories.some((r) => r.id === reference.id)) {
      problems.push(`repository "${reference.id}": no repository with this id has been added in ${settingsPath}${known(stored.repositories)}; create it with "tidemark repo init" (or "tidemark repo attach") under the same user and TIDEMARK_HOME as the agent, or declare it in full in the agent config`);
    }
  }
  const overlaid = { clusters: [...config.clusters, ...referenced], repositories: config.repositories };
  const settings = new OverlaySettingsStore(base, overlaid);
  const view = await settings.get();
  const clusters = overlaid.clusters;
  const repositories: RepositoryConfig[] = [];
  for (const cluster of clusters) {
    const repository = view.repositories.find((r) => r.id === cluster.repositoryId);
    if (!repository) {
      problems.push(`cluster "${cluster.id}": its repository "${cluster.repositoryId}" is neither in the agent config nor in ${settingsPath}; declare it in "repositories" or add it with "tidemark repo init"`);
    } else if (!repositories.some((r) => r.id === repository.id)) {
      repositories.push(repository);
    }
  }
  if (problems.length > 0) {
    throw new TidemarkError('invalid_input', `The agent config names what Tidemark does not know:\n${problems.map((p) => `  - ${p}`).join('\n')}`, { details: { problems } });
  }
  return { settings, clusters, repositories };
}

function known(entries: readonly { id: string }[]): string {
  return entries.length === 0 ? ' (it has none)' : ` (it has ${entries.map((e) => `"${e.id}"`).join(', ')})`;
}

/**
 * Settings as the file has them, with some clusters and repositories replaced or added. A
 * write keeps the file's own entries for those ids: the config file stays their source.
 */
export class OverlaySettingsStore implements SettingsStore {
  private readonly clusterIds: Set<string>;
  private readonly repositoryIds: Set<string>;

  constructor(
    private readonly base: SettingsStore,
    private readonly overlay: { clusters: readonly ClusterConfig[]; repositories: readonly RepositoryConfig[] },
  ) {
    this.clusterIds = new Set(overlay.clusters.map((c) => c.id));
    this.repositoryIds = new Set(overlay.repositories.map((r) => r.id));
  }

  async get(): Promise<Settings> {
    return this.apply(await this.base.get());
  }

  async update(patch: SettingsPatch): Promise<Settings> {
    const stored = await this.base.get();
    const own: SettingsPatch = { ...patch };
    if (patch.clusters) own.clusters = keepStored(patch.clusters, stored.clusters, this.clusterIds);
    if (patch.repositories) own.repositories = keepStored(patch.repositories, stored.repositories, this.repositoryIds);
    return this.apply(await this.base.update(own));
  }

  private apply(settings: Settings): Settings {
    return {
      ...settings,
      clusters: overlay(settings.clusters, this.overlay.clusters),
      repositories: overlay(settings.repositories, this.overlay.repositories),
    };
  }
}

/** The stored list with the overlay's entries in place of those with the same id, new ones appended. */
function overlay<T extends { id: string }>(stored: readonly T[], over: readonly T[]): T[] {
  const byId = new Map(over.map((e) => [e.id, e]));
  const out = stored.map((e) => byId.get(e.id) ?? e);
  for (const e of over) if (!stored.some((s) => s.id === e.id)) out.push(e);
  return structuredClone(out);
}

/** A list about to be written, with the overlaid ids back to what the file had (or left out). */
function keepStored<T extends { id: string }>(next: readonly (T | undefined)[], stored: readonly T[], overlaid: ReadonlySet<string>): T[] {
  return next.flatMap((e) => {
    if (e === undefined) return [];
    if (!overlaid.has(e.id)) return [e];
    const original = stored.find((s) => s.id === e.id);
    return original ? [original] : [];
  });
}
