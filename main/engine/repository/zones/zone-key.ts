import { TidemarkError } from '../../errors.js';

/** Folder zones write to this name first; no key may use it, so `list` can skip it safely. */
export const tempNamePrefix = '.tmp-';

/** Zone-internal objects (probes) live here; `list` hides them unless asked for explicitly. */
export const internalKeyPrefix = '.tidemark/';

/**
 * Checks a key is a relative `/`-separated path that means the same thing on every kind of
 * zone and cannot escape a folder zone's root.
 */
export function checkKey(zoneId: string, key: string): string {
  const problem = keyProblem(key, false);
  if (problem) {
    throw new TidemarkError(
      'invalid_input',
      `Zone "${zoneId}" cannot use the object key "${key}": ${problem}.`,
    );
  }
  return key;
}

/** A list prefix: like a key, but may be empty and may end in `/` or in part of a name. */
export function checkPrefix(zoneId: string, prefix: string): string {
  if (prefix === '') return prefix;
  const problem = keyProblem(prefix.endsWith('/') ? `${prefix}x` : prefix, true);
  if (problem) {
    throw new TidemarkError(
      'invalid_input',
      `Zone "${zoneId}" cannot list the prefix "${prefix}": ${problem}.`,
    );
  }
  return prefix;
}

function keyProblem(key: string, partialLastSegment: boolean): string | undefined {
  if (key === '') return 'it is empty';
  if (key.startsWith('/')) return 'it must not start with "/"';
  if (key.includes('\\')) return 'it must not contain a backslash';
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(key)) return 'it must not contain control characters';
  const segments = key.split('/');
  for (const [index, segment] of segments.entries()) {
    const last = index === segments.length - 1;
    if (segment === '') return 'it must not contain an empty path segment';
    if (segment === '.' || segment === '..') return 'it must not contain "." or ".." segments';
    if (segment.startsWith(tempNamePrefix) && !(last && partialLastSegment)) {
      return `no segment may start with "${tempNamePrefix}"`;
    }
  }
  return undefined;
}

/** True for keys that `list` hides unless the prefix itself reaches into them. */
export function isHiddenKey(key: string, prefix: string): boolean {
  return key.startsWith(internalKeyPrefix) && !prefix.startsWith(internalKeyPrefix);
}

/** The order every zone lists keys in: by UTF-8 bytes, as S3 and Azure do. */
export function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}
