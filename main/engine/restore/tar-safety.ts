import { Transform } from 'node:stream';
import type { TransformCallback } from 'node:stream';
import { TidemarkError } from '../errors.js';

/**
 * Checks the entries of a tar stream before they are extracted, so a damaged or hostile
 * archive cannot write outside the folder it is extracted into — whatever `tar` does on the
 * target (GNU tar refuses `..` but follows a symlink the same archive created earlier).
 */
export type TarEntryType = 'file' | 'directory' | 'symlink' | 'hardlink' | 'other';

export interface TarEntryInfo {
  path: string;
  type: TarEntryType;
  /** the raw type flag, e.g. '0', '5', '2' */
  typeflag: string;
  linkTarget: string;
  size: number;
}

/** What earlier entries of the same archive tell about later ones. */
export class TarSafetyState {
  readonly symlinks = new Set<string>();
}

/** Normalizes an entry path (`./a//b/` → `a/b`); null when it leaves the folder or is absolute. */
export function safeRelativePath(path: string): string | null {
  if (path.startsWith('/') || path.includes('\0')) return null;
  const parts = path.split('/').filter((part) => part !== '' && part !== '.');
  if (parts.some((part) => part === '..')) return null;
  return parts.join('/');
}

export interface TarEntryProblem {
  /** corrupt_object: no base backup contains this; unsupported: a real backup that cannot move hosts */
  code: 'corrupt_object' | 'unsupported';
  reason: string;
}

/** Whether a symlink at `entryPath` pointing to `linkTarget` resolves outside the extracted folder. */
export function symlinkLeavesFolder(entryPath: string, linkTarget: string): boolean {
  if (linkTarget === '' || linkTarget.startsWith('/')) return true;
  const depth = (safeRelativePath(entryPath) ?? '').split('/').length - 1;
  let level = depth;
  for (const part of linkTarget.split('/')) {
    if (part === '..') level -= 1;
    else if (part !== '' && part !== '.') level += 1;
    if (level < 0) return true;
  }
  return false;
}

/**
 * Returns why the entry may not be extracted, or null. The rules match what a base backup can
 * hold: files, folders, and symlinks that stay inside the folder (no hard links, devices or
 * FIFOs), and nothing written through a symlink the archive made. Records symlinks in `state`.
 */
export function checkTarEntry(entry: TarEntryInfo, state: TarSafetyState): TarEntryProblem | null {
  const corrupt = (reason: string): TarEntryProblem => ({ code: 'corrupt_object', reason });
  const path = safeRelativePath(entry.path);
  if (path === null) return corrupt(`entry "${entry.path}" points outside the target folder`);
  if (entry.type === 'other' || entry.type === 'hardlink') {
    return corrupt(
      `entry "${entry.path}" is a ${entry.type === 'hardlink' ? 'hard link' : 'device or FIFO'} (type ${JSON.stringify(entry.typeflag)}), which a base backup never contains`,
    );
  }
  for (const link of state.symlinks) {
    if (path === link && entry.type !== 'symlink') {
      return corrupt(
        `entry "${entry.path}" would replace the symlink the archive created at that path`,
      );
    }
    if (path.startsWith(`${link}/`))
      return corrupt(`entry "${entry.path}" would be written through the symlink "${link}"`);
  }
  if (entry.type === 'symlink') {
    if (path === '') return corrupt('the archive replaces its root folder with a symlink');
    if (symlinkLeavesFolder(entry.path, entry.linkTarget)) {
      return {
        code: 'unsupported',
        reason: `the backup contains the symbolic link "${entry.path}" → "${entry.linkTarget}", which points outside the data directory and cannot be restored to a new host. Replace the link by the file on the source, take a new base backup, and restore again`,
      };
    }
    state.symlinks.add(path);
  }
  return null;
}

const block = 512;

function typeOf(flag: string): TarEntryType {
  switch (flag) {
    case '0':
    case '\0':
    case '7':
      return 'file';
    case '5':
      return 'directory';
    case '2':
      return 'symlink';
    case '1':
      return 'hardlink';
    default:
      return 'other';
  }
}

function cString(buf: Buffer, start: number, length: number): string {
  const field = buf.subarray(start, start + length);
  const end = field.indexOf(0);
  return field.subarray(0, end === -1 ? field.length : end).toString('utf8');
}

function parseSize(field: Buffer): number {
  if ((field[0]! & 0x80) !== 0) {
    // GNU base-256: big-endian binary after the marker bit
    let value = field[0]! & 0x7f;
    for (let i = 1; i < field.length; i++) value = value * 256 + field[i]!;
    return value;
  }
  const text = cString(field, 0, field.length).trim();
  return text === '' ? 0 : parseInt(text, 8);
}

function checksumMatches(header: Buffer): boolean {
  const stored = parseInt(cString(header, 148, 8).trim(), 8);
  let sum = 0;
  for (let i = 0; i < block; i++) sum += i >= 148 && i < 156 ? 32 : header[i]!;
  return stored === sum;
}

function parsePax(body: Buffer): Map<string, string> {
  const records = new Map<string, string>();
  let offset = 0;
  while (offset < body.length) {
    const space = body.indexOf(0x20, offset);
    if (space === -1) break;
    const length = parseInt(body.subarray(offset, space).toString('ascii'), 10);
    if (!(length > 0)) break;
    const record = body.subarray(space + 1, offset + length - 1).toString('utf8');
    const equals = record.indexOf('=');
    if (equals > 0) records.set(record.slice(0, equals), record.slice(equals + 1));
    offset += length;
  }
  return records;
}

/** Pending metadata from pax ('x') and GNU long-name ('L', 'K') entries, for the next entry. */
interface Pending {
  path?: string;
  linkTarget?: string;
  size?: number;
}

/**
 * A pass-through stream that reads the tar headers as the bytes go by (file contents are not
 * copied or buffered) and fails with `corrupt_object` at the first unsafe entry, bad header
 * checksum or truncated archive — before the bytes of that entry reach the extractor.
 */
export function tarEntryGuard(what = 'the archive'): Transform {
  const state = new TarSafetyState();
  let header = Buffer.alloc(0); // partial header block
  let skip = 0; // content + padding bytes still to pass through
  let metaKind: 'x' | 'L' | 'K' | null = null; // collecting the body of a metadata entry
  let metaBody: Buffer[] = [];
  let metaLength = 0;
  let metaRemaining = 0;
  let pending: Pending = {};
  let zeroBlocks = 0;
  let ended = false;

  const fail = (problem: string | TarEntryProblem): TidemarkError => {
    const { code, reason } =
      typeof problem === 'string' ? { code: 'corrupt_object' as const, reason: problem } : problem;
    return new TidemarkError(
      code,
      code === 'unsupported'
        ? `Cannot restore ${what}: ${reason}.`
        : `Refusing to extract ${what}: ${reason}. The backup is damaged or was not made by PostgreSQL; restore from another zone or another backup.`,
    );
  };

  function onHeader(h: Buffer): string | TarEntryProblem | null {
    if (h.every((byte) => byte === 0)) {
      zeroBlocks++;
      if (zeroBlocks >= 2) ended = true;
      return null;
    }
    zeroBlocks = 0;
    if (!checksumMatches(h)) return 'a tar header has a wrong checksum';
    const typeflag = String.fromCharCode(h[156]!);
    const ustar = cString(h, 257, 6) === 'ustar' && h[262] === 0;
    const name = cString(h, 0, 100);
    const prefix = ustar ? cString(h, 345, 155) : '';
    const size = pending.size ?? parseSize(h.subarray(124, 136));
    const padded = Math.ceil(size / block) * block;
    if (typeflag === 'x' || typeflag === 'L' || typeflag === 'K') {
      if (size > 1024 * 1024) return 'a tar metadata entry is implausibly large';
      metaKind = typeflag;
      metaBody = [];
      metaLength = size;
      metaRemaining = padded;
      pending.size = undefined;
      return null;
    }
    if (typeflag === 'g') {
      skip = padded; // global pax header: applies to nothing we check
      return null;
    }
    const entry: TarEntryInfo = {
      path: pending.path ?? (prefix ? `${prefix}/${name}` : name),
      type: typeOf(typeflag),
      typeflag,
      linkTarget: pending.linkTarget ?? cString(h, 157, 100),
      size,
    };
    pending = {};
    const problem = checkTarEntry(entry, state);
    if (problem) return problem;
    skip = entry.type === 'file' ? padded : 0;
    return null;
  }

  function onMetaComplete(): void {
    const body = Buffer.concat(metaBody).subarray(0, metaLength);
    if (metaKind === 'x') {
      const records = parsePax(body);
      const path = records.get('path');
      const linkpath = records.get('linkpath');
      const size = records.get('size');
      if (path !== undefined) pending.path = path;
      if (linkpath !== undefined) pending.linkTarget = linkpath;
      if (size !== undefined) pending.size = Number(size);
    } else if (metaKind === 'L') {
      pending.path = cString(body, 0, body.length);
    } else if (metaKind === 'K') {
      pending.linkTarget = cString(body, 0, body.length);
    }
    metaKind = null;
    metaBody = [];
  }

  return new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      let offset = 0;
      while (offset < chunk.length && !ended) {
        if (skip > 0) {
          const n = Math.min(skip, chunk.length - offset);
          skip -= n;
          offset += n;
        } else if (metaKind !== null) {
          const n = Math.min(metaRemaining, chunk.length - offset);
          metaBody.push(chunk.subarray(offset, offset + n));
          metaRemaining -= n;
          offset += n;
          if (metaRemaining === 0) onMetaComplete();
        } else {
          const n = Math.min(block - header.length, chunk.length - offset);
          header = Buffer.concat([header, chunk.subarray(offset, offset + n)]);
          offset += n;
          if (header.length === block) {
            const problem = onHeader(header);
            header = Buffer.alloc(0);
            if (problem) {
              callback(fail(problem));
              return;
            }
          }
        }
      }
      callback(null, chunk);
    },
    flush(callback: TransformCallback) {
      if (!ended || skip > 0 || metaKind !== null)
        callback(fail('the archive ends before its end-of-archive marker (truncated)'));
      else callback();
    },
  });
}
