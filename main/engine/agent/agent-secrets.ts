import { clusterSecretName, type ClusterConfig } from '../cluster/cluster-config.js';
import { TidemarkError } from '../errors.js';
import type { RepositoryConfig } from '../repository/repository-config.js';
import { zoneSecretName } from '../repository/zones/zone-factory.js';
import { secretEnvName } from '../secrets/env-file-secret-store.js';
import type { SecretStore } from '../secrets/secret-store.js';

/** A key in the config file whose name says it holds a secret. */
export interface SecretInConfig {
  path: (string | number)[];
  /** where the secret belongs instead, when Tidemark knows it */
  secretName?: string;
}

// Names that hold secrets; `keyFile`, `secretsDir`, `accessKeyId` and the like do not.
const secretKeyPattern = /(password|passwd|passphrase|secret|token|credential|privatekey|accountkey|apikey|masterkey)/i;
const notSecretSuffix = /(file|path|dir|env|id)$/i;

/** Every key of a parsed config that looks like a secret, wherever it is nested. */
export function findSecretsInConfig(raw: unknown): SecretInConfig[] {
  const found: SecretInConfig[] = [];
  const walk = (value: unknown, path: (string | number)[]) => {
    if (Array.isArray(value)) {
      value.forEach((item, i) => walk(item, [...path, i]));
    } else if (value !== null && typeof value === 'object') {
      for (const [key, child] of Object.entries(value)) {
        const compact = key.replace(/[^A-Za-z0-9]/g, '');
        if (secretKeyPattern.test(compact) && !notSecretSuffix.test(compact) && child !== null && child !== '') {
          const secretName = knownSecretName(raw, [...path, key]);
          found.push({ path: [...path, key], ...(secretName ? { secretName } : {}) });
        } else {
          walk(child, [...path, key]);
        }
      }
    }
  };
  walk(raw, []);
  return found;
}

/** The refusal: where each secret is, where it belongs, and what to do if others could read it. */
export function secretInConfigError(file: string, found: readonly SecretInConfig[], readableByOthers: boolean): TidemarkError {
  const lines = found.map((s) => {
    const at = s.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${p}`)).join('').replace(/^\./, '');
    return s.secretName
      ? `  - ${at}: set the environment variable ${secretEnvName(s.secretName)}, or put it in the 0600 file <secretsDir>/${s.secretName}`
      : `  - ${at}: give it as a TIDEMARK_SECRET_<NAME> environment variable or a 0600 file under <secretsDir> (docs/agent.md, "Secrets")`;
  });
  const head = readableByOthers
    ? `The agent config ${file} can be read by other users and holds ${found.length === 1 ? 'a secret' : 'secrets'}: treat ${found.length === 1 ? 'it' : 'them'} as exposed and change ${found.length === 1 ? 'it' : 'them'} at the source, then move ${found.length === 1 ? 'it' : 'them'} out of the file.`
    : `The agent config ${file} holds ${found.length === 1 ? 'a secret' : 'secrets'}; the agent never reads secrets from its config file. Move ${found.length === 1 ? 'it' : 'them'} out of the file.`;
  return new TidemarkError('invalid_input', `${head}\n${lines.join('\n')}`, {
    details: { paths: found.map((s) => s.path), readableByOthers },
  });
}

/** The clusters and repositories whose secrets the agent needs. */
export interface SecretsNeededBy {
  clusters: readonly ClusterConfig[];
  repositories: readonly RepositoryConfig[];
}

/** Each secret the configured clusters and repositories need. */
export function requiredSecrets(config: SecretsNeededBy): { name: string; purpose: string }[] {
  const needed: { name: string; purpose: string }[] = [];
  for (const cluster of config.clusters) {
    needed.push({ name: clusterSecretName(cluster.id, 'password'), purpose: `password of ${cluster.coordinator.user} on cluster ${cluster.id} (not needed with certificate or trust authentication)` });
  }
  for (const repository of config.repositories) {
    if (repository.key.source === 'passphrase') {
      needed.push({ name: `repository/${repository.id}/passphrase`, purpose: `encryption passphrase of repository ${repository.id}` });
    }
    for (const zone of repository.zones) {
      if (zone.kind === 's3') needed.push({ name: zoneSecretName(repository.id, zone.id, 'secretAccessKey'), purpose: `S3 secret key of zone ${zone.id}` });
      if (zone.kind === 'azure') needed.push({ name: zoneSecretName(repository.id, zone.id, 'accountKey'), purpose: `Azure account key (or sasToken) of zone ${zone.id}` });
    }
  }
  return needed;
}

/**
 * The required secrets the store does not have (a warning: some are optional), and throws
 * the store's own error for a secret file other users can read.
 */
export async function missingSecrets(config: SecretsNeededBy, store: SecretStore): Promise<{ name: string; env: string; purpose: string }[]> {
  const missing: { name: string; env: string; purpose: string }[] = [];
  for (const { name, purpose } of requiredSecrets(config)) {
    if (await store.has(name)) continue;
    if (name.endsWith('/accountKey') && (await store.has(name.replace(/accountKey$/, 'sasToken')))) continue;
    missing.push({ name, env: secretEnvName(name), purpose });
  }
  return missing;
}

/** The secret-store name for a config path Tidemark knows, e.g. a cluster password. */
function knownSecretName(raw: unknown, path: (string | number)[]): string | undefined {
  const at = (p: (string | number)[]) => p.reduce<unknown>((v, k) => (v !== null && typeof v === 'object' ? (v as Record<string | number, unknown>)[k] : undefined), raw);
  const idOf = (p: (string | number)[]) => {
    const id = at([...p, 'id']);
    return typeof id === 'string' && /^[a-z0-9][a-z0-9-]{0,62}$/.test(id) ? id : undefined;
  };
  const key = String(path[path.length - 1]);
  if (path[0] === 'clusters' && path[2] === 'coordinator' && path.length === 4) {
    const id = idOf(path.slice(0, 2));
    if (id === undefined) return undefined;
    if (/^password$/i.test(key)) return clusterSecretName(id, 'password');
    if (/passphrase/i.test(key)) return clusterSecretName(id, 'key-passphrase');
  }
  if (path[0] === 'repositories') {
    const repositoryId = idOf(path.slice(0, 2));
    if (repositoryId === undefined) return undefined;
    if (path[2] === 'zones' && path.length === 5) {
      const zoneId = idOf(path.slice(0, 4));
      if (zoneId !== undefined && (key === 'secretAccessKey' || key === 'accountKey' || key === 'sasToken')) return zoneSecretName(repositoryId, zoneId, key);
    }
    if (/passphrase/i.test(key)) return `repository/${repositoryId}/passphrase`;
  }
  return undefined;
}
