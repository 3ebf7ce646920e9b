import { createHash } from 'node:crypto';
import { TidemarkError } from '../../errors.js';
import { parseKeyring, type Keyring } from './keyring.js';

/*
 * A recovery kit is the keyring as text meant to be printed or stored apart from the
 * machine. Binary fields are hex in groups of 8 (easy to read aloud and retype); every
 * field line ends with a 4-digit check code so a mistyped line is found by name, and a
 * final checksum catches lost or swapped lines. It holds no secret.
 */

const TITLE = 'Tidemark recovery kit, format 1';
const fieldOrder = [
  'repository',
  'key-id',
  'created',
  'rewrapped',
  'kdf',
  'salt',
  'nonce',
  'wrapped-key',
  'tag',
] as const;
type Field = (typeof fieldOrder)[number];
const hexFields: ReadonlySet<Field> = new Set(['key-id', 'salt', 'nonce', 'wrapped-key', 'tag']);
const optionalFields: ReadonlySet<Field> = new Set(['rewrapped', 'salt']);

export function exportRecoveryKit(keyring: Keyring): string {
  const values = new Map<Field, string>();
  values.set('repository', keyring.repositoryId);
  values.set('key-id', keyring.keyId);
  values.set('created', keyring.createdAt);
  if (keyring.rewrappedAt) values.set('rewrapped', keyring.rewrappedAt);
  const { kdf } = keyring;
  values.set(
    'kdf',
    kdf.name === 'scrypt'
      ? `scrypt N=${kdf.N} r=${kdf.r} p=${kdf.p} length=${kdf.keyLength}`
      : 'keyfile',
  );
  if (kdf.name === 'scrypt') values.set('salt', kdf.salt);
  values.set('nonce', keyring.wrappedKey.nonce);
  values.set('wrapped-key', keyring.wrappedKey.ciphertext);
  values.set('tag', keyring.wrappedKey.tag);

  const secret = kdf.name === 'scrypt' ? 'passphrase' : 'key file';
  const lines = [
    TITLE,
    `Repository ${keyring.repositoryId}. This kit holds no secret: with the repository's ${secret}`,
    `it unlocks the backups on any machine. Keep it apart from the ${secret}.`,
    'Each line ends with a check code in parentheses; when retyping, spaces do not matter.',
    '',
  ];
  for (const [field, value] of values) {
    const shown = hexFields.has(field) ? groupHex(value) : value;
    lines.push(`${`${field}:`.padEnd(13)}${shown}  (${lineCheck(field, value)})`);
  }
  lines.push(`${'checksum:'.padEnd(13)}${kitChecksum(values)}`);
  return `${lines.join('\n')}\n`;
}

/** The keyring a kit describes; a mistyped or incomplete kit is an `invalid_input` naming the line. */
export function importRecoveryKit(text: string): Keyring {
  const lines = text.split(/\r?\n/).map((line) => line.trim().replace(/\s+/g, ' '));
  if (!lines.some((line) => line.toLowerCase() === TITLE.toLowerCase())) {
    throw kitError(`it does not contain the line "${TITLE}"`);
  }
  const values = new Map<Field, string>();
  let checksum: string | undefined;
  for (const line of lines) {
    const match = /^([a-z-]+):\s*(.*)$/i.exec(line);
    if (!match) continue;
    const label = (match[1] as string).toLowerCase();
    const rest = (match[2] as string).trim();
    if (label === 'checksum') {
      checksum = rest.replace(/\s+/g, '').toLowerCase();
      continue;
    }
    if (!(fieldOrder as readonly string[]).includes(label))
      throw kitError(`it has an unknown line "${label}"`);
    const field = label as Field;
    if (values.has(field)) throw kitError(`the line "${field}" appears twice`);
    const withCheck = /^(.*?)\s*\(([0-9a-f]{4})\)$/i.exec(rest);
    if (!withCheck)
      throw kitError(`the line "${field}" has no check code in parentheses at its end`);
    const value = normalize(field, withCheck[1] as string);
    if (lineCheck(field, value) !== (withCheck[2] as string).toLowerCase()) {
      throw kitError(
        `the line "${field}" does not match its check code (${withCheck[2]}): it was mistyped. Compare it with the original kit`,
      );
    }
    values.set(field, value);
  }
  for (const field of fieldOrder) {
    if (!values.has(field) && !optionalFields.has(field))
      throw kitError(`the line "${field}" is missing`);
  }
  if (checksum === undefined) throw kitError('the "checksum" line is missing');
  if (checksum !== kitChecksum(values))
    throw kitError('the checksum does not match the lines (a line is missing, extra or swapped)');
  return parseKeyring(toKeyringDocument(values), 'The recovery kit');
}

function toKeyringDocument(values: Map<Field, string>): unknown {
  const kdfText = values.get('kdf') as string;
  let kdf: unknown;
  if (kdfText === 'keyfile') kdf = { name: 'keyfile' };
  else {
    const scrypt = /^scrypt N=(\d+) r=(\d+) p=(\d+) length=(\d+)$/.exec(kdfText);
    if (!scrypt)
      throw kitError(`the line "kdf" is neither "keyfile" nor "scrypt N=… r=… p=… length=…"`);
    kdf = {
      name: 'scrypt',
      N: Number(scrypt[1]),
      r: Number(scrypt[2]),
      p: Number(scrypt[3]),
      keyLength: Number(scrypt[4]),
      salt: values.get('salt'),
    };
  }
  const rewrapped = values.get('rewrapped');
  return {
    format: 'tidemark-keyring',
    version: 1,
    repositoryId: values.get('repository'),
    keyId: values.get('key-id'),
    kdf,
    wrappedKey: {
      algorithm: 'aes-256-gcm',
      nonce: values.get('nonce'),
      ciphertext: values.get('wrapped-key'),
      tag: values.get('tag'),
    },
    createdAt: values.get('created'),
    ...(rewrapped ? { rewrappedAt: rewrapped } : {}),
  };
}

function normalize(field: Field, shown: string): string {
  return hexFields.has(field)
    ? shown.replace(/\s+/g, '').toLowerCase()
    : shown.trim().replace(/\s+/g, ' ');
}

function groupHex(value: string): string {
  return value.replace(/(.{8})(?=.)/g, '$1 ');
}

function lineCheck(field: Field, value: string): string {
  return createHash('sha256').update(`${field}:${value}`).digest('hex').slice(0, 4);
}

function kitChecksum(values: Map<Field, string>): string {
  const canonical = fieldOrder
    .filter((f) => values.has(f))
    .map((f) => `${f}:${values.get(f)}\n`)
    .join('');
  return createHash('sha256').update(canonical).digest('hex').slice(0, 16);
}

function kitError(why: string): TidemarkError {
  return new TidemarkError('invalid_input', `The recovery kit cannot be used: ${why}.`);
}
