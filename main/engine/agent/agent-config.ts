import { readFile, stat } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import { z } from 'zod';
import { clusterConfigSchema, type ClusterConfig } from '../cluster/cluster-config.js';
import { TidemarkError } from '../errors.js';
import { repositoryConfigSchema, type RepositoryConfig } from '../repository/repository-config.js';
import { schedulesSchema } from '../schedule/schedule-config.js';
import { findSecretsInConfig, secretInConfigError } from './agent-secrets.js';

export const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const;

const id = clusterConfigSchema.shape.id;

/**
 * A cluster already added to Tidemark's settings (`tidemark cluster add`, or the desktop app
 * under the same user), named by its id. Schedules given here replace the stored ones
 * (fields left out take their defaults, as in a declaration).
 */
export const agentClusterReferenceSchema = z.object({ id, schedules: schedulesSchema.unwrap().optional() }).strict();
export type AgentClusterReference = z.infer<typeof agentClusterReferenceSchema>;

/** A repository already added to Tidemark's settings (`tidemark repo init` or `repo attach`), named by its id. */
export const agentRepositoryReferenceSchema = z.object({ id }).strict();
export type AgentRepositoryReference = z.infer<typeof agentRepositoryReferenceSchema>;

/**
 * An entry that is either a reference (only the keys `referenceKeys` allows) or a full
 * declaration, each checked by its own schema so every problem names its exact field.
 */
function declarationOrReference<D extends z.ZodType, R extends z.ZodType>(declaration: D, reference: R, referenceKeys: readonly string[]) {
  return z.unknown().transform((value, ctx): z.output<D> | z.output<R> => {
    const isReference = value !== null && typeof value === 'object' && !Array.isArray(value) && Object.keys(value).every((k) => referenceKeys.includes(k));
    const parsed = (isReference ? reference : declaration).safeParse(value);
    if (parsed.success) return parsed.data;
    for (const issue of parsed.error.issues) ctx.issues.push({ ...issue, input: value } as z.core.$ZodRawIssue);
    return z.NEVER;
  });
}

/** A cluster the agent schedules: declared in full here, or a reference to one in the settings. */
export const agentClusterSchema = declarationOrReference(clusterConfigSchema, agentClusterReferenceSchema, ['id', 'schedules']);

/** A repository the clusters write to: declared in full here, or a reference to one in the settings. */
export const agentRepositorySchema = declarationOrReference(repositoryConfigSchema, agentRepositoryReferenceSchema, ['id']);

/**
 * The agent's config file (JSON). Secrets are never in it: they come from
 * `TIDEMARK_SECRET_<NAME>` environment variables or 0600 files under `secretsDir`.
 */
export const agentConfigSchema = z
  .object({
    /** state, job history, locks; relative paths are read from the config file's folder */
    dataDir: z.string().min(1).optional(),
    logDir: z.string().min(1).optional(),
    secretsDir: z.string().min(1).optional(),
    logLevel: z.enum(logLevels).default('info'),
    /** on SIGTERM: how long a running task may go on before it is cancelled */
    stopGraceSeconds: z.number().min(0).max(3600).default(10),
    /** on SIGTERM: how long to wait for running tasks in all (keep systemd's TimeoutStopSec above it) */
    stopTimeoutSeconds: z.number().min(1).max(3600).default(60),
    clusters: z.array(agentClusterSchema).default([]),
    repositories: z.array(agentRepositorySchema).default([]),
  })
  .strict()
  .superRefine((config, ctx) => {
    for (const problem of crossReferenceProblems(config)) ctx.addIssue({ code: 'custom', ...problem });
  })
  // Declarations and references apart: a reference is resolved against the settings at start.
  .transform(({ clusters, repositories, ...rest }) => ({
    ...rest,
    clusters: clusters.filter((c): c is ClusterConfig => 'coordinator' in c),
    clusterReferences: clusters.filter((c): c is AgentClusterReference => !('coordinator' in c)),
    repositories: repositories.filter((r): r is RepositoryConfig => 'zones' in r),
    repositoryReferences: repositories.filter((r): r is AgentRepositoryReference => !('zones' in r)),
  }));
export type AgentConfig = z.infer<typeof agentConfigSchema>;

/** Positions matter (they name the entry); an id a broken entry lacks is undefined. */
interface CrossReferenced {
  clusters: { id?: string | undefined; repositoryId?: string | undefined }[];
  repositories: { id?: string | undefined }[];
}

/** Ids used twice, and clusters naming a repository the file does not define. */
function crossReferenceProblems(config: CrossReferenced): { path: (string | number)[]; message: string }[] {
  const problems: { path: (string | number)[]; message: string }[] = [];
  const repositoryIds = config.repositories.map((r) => r.id);
  const knownIds = repositoryIds.filter((id) => id !== undefined);
  for (const index of duplicates(repositoryIds)) {
    problems.push({ path: ['repositories', index, 'id'], message: `the id "${repositoryIds[index]}" is used twice; every repository needs its own` });
  }
  const clusterIds = config.clusters.map((c) => c.id);
  for (const index of duplicates(clusterIds)) {
    problems.push({ path: ['clusters', index, 'id'], message: `the id "${clusterIds[index]}" is used twice; every cluster needs its own` });
  }
  config.clusters.forEach((cluster, index) => {
    // a reference's repository is the one the settings name
    if ('repositoryId' in cluster && cluster.repositoryId !== undefined && !knownIds.includes(cluster.repositoryId)) {
      const known = knownIds.length > 0 ? `the repositories are: ${knownIds.map((id) => `"${id}"`).join(', ')}` : 'the "repositories" list is empty';
      problems.push({ path: ['clusters', index, 'repositoryId'], message: `no repository "${cluster.repositoryId}" in "repositories"; ${known}` });
    }
  });
  return problems;
}

/** The ids a config that failed validation still has, so cross-reference problems are reported in the same round. */
function looseIds(raw: unknown): CrossReferenced | null {
  if (raw === null || typeof raw !== 'object') return null;
  const { clusters = [], repositories = [] } = raw as { clusters?: unknown; repositories?: unknown };
  if (!Array.isArray(clusters) || !Array.isArray(repositories)) return null;
  const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
  return {
    clusters: clusters.map((c: { id?: unknown; repositoryId?: unknown } | null) => ({ id: str(c?.id), repositoryId: str(c?.repositoryId) })),
    repositories: repositories.map((r: { id?: unknown } | null) => ({ id: str(r?.id) })),
  };
}

/** A validated config and where it came from. */
export interface LoadedAgentConfig {
  /** absolute path of the config file */
  path: string;
  config: AgentConfig;
}

/** `clusters[0].coordinator.port`, `nodeOverrides["db1:5432"]` */
export function formatConfigPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else if (typeof part === 'string' && /^[A-Za-z_$][\w$]*$/.test(part)) out += out === '' ? part : `.${part}`;
    else out += `[${JSON.stringify(String(part))}]`;
  }
  return out === '' ? '(top level)' : out;
}

/** One line per problem, each naming the exact field and what is expected there. */
export function describeConfigIssues(issues: readonly z.core.$ZodIssue[]): string[] {
  return issues.flatMap((issue) => {
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => `${formatConfigPath([...issue.path, key])}: unknown field (check its spelling; docs/agent.md lists every field)`);
    }
    return [`${formatConfigPath(issue.path)}: ${issue.message}`];
  });
}

/** Checks a parsed config object; throws `invalid_input` listing every problem. */
export function parseAgentConfig(raw: unknown, source: string): AgentConfig {
  const parsed = agentConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const lines = describeConfigIssues(parsed.error.issues);
    const loose = looseIds(raw);
    for (const problem of loose ? crossReferenceProblems(loose) : []) {
      const line = `${formatConfigPath(problem.path)}: ${problem.message}`;
      if (!lines.includes(line)) lines.push(line);
    }
    throw new TidemarkError(
      'invalid_input',
      `The agent config ${source} is invalid:\n${lines.map((l) => `  - ${l}`).join('\n')}\nFix ${lines.length === 1 ? 'it' : 'them'} and start the agent again.`,
      { details: { problems: lines } },
    );
  }
  return parsed.data;
}

/**
 * Reads, checks and validates the agent's config file. Refuses a file that holds a secret
 * (worse: one other users can read). Relative `dataDir`, `logDir` and `secretsDir` are
 * resolved against the file's folder, so the agent does not depend on its working directory.
 */
export async function loadAgentConfig(file: string): Promise<LoadedAgentConfig> {
  const path = resolve(file);
  let text: string;
  let mode: number;
  try {
    [text, { mode }] = await Promise.all([readFile(path, 'utf8'), stat(path)]);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new TidemarkError('not_found', `The agent config ${path} does not exist; create it (docs/agent.md has an example) or pass the right --config path.`);
    if (code === 'EACCES') throw new TidemarkError('permission_denied', `The agent config ${path} cannot be read by this user; give the agent's user read access to it.`);
    throw err;
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new TidemarkError('invalid_input', `The agent config ${path} is not valid JSON${jsonErrorLocation(text, err)}; fix it and start the agent again.`);
  }
  const secrets = findSecretsInConfig(raw);
  if (secrets.length > 0) {
    const readableByOthers = process.platform !== 'win32' && (mode & 0o077) !== 0;
    throw secretInConfigError(path, secrets, readableByOthers);
  }
  const config = parseAgentConfig(raw, path);
  const base = dirname(path);
  const absolute = (p: string | undefined) => (p === undefined || isAbsolute(p) ? p : resolve(base, p));
  const dataDir = absolute(config.dataDir);
  const logDir = absolute(config.logDir);
  const secretsDir = absolute(config.secretsDir);
  return {
    path,
    config: {
      ...config,
      ...(dataDir === undefined ? {} : { dataDir }),
      ...(logDir === undefined ? {} : { logDir }),
      ...(secretsDir === undefined ? {} : { secretsDir }),
    },
  };
}

function duplicates(values: readonly (string | undefined)[]): number[] {
  return values.flatMap((v, i) => (v !== undefined && values.indexOf(v) < i ? [i] : []));
}

/** " at line 4, column 7" from a JSON.parse error, when its message gives a position. */
function jsonErrorLocation(text: string, err: unknown): string {
  const message = err instanceof Error ? err.message : '';
  const lineCol = /line (\d+) column (\d+)/.exec(message);
  if (lineCol) return ` at line ${lineCol[1]}, column ${lineCol[2]} (${message.replace(/\s*\(line \d+ column \d+\)$/, '')})`;
  const position = /position (\d+)/.exec(message);
  if (!position) return message ? ` (${message})` : '';
  const before = text.slice(0, Number(position[1]));
  const line = before.split('\n').length;
  const column = Number(position[1]) - before.lastIndexOf('\n');
  return ` at line ${line}, column ${column} (${message.replace(/ in JSON at position \d+.*$/, '')})`;
}
