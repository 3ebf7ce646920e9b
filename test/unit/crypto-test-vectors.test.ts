import { createDecipheriv, scryptSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseKeyring, unlockKeyring } from '../../main/engine/repository/crypto/keyring.js';
import { MasterKey } from '../../main/engine/repository/crypto/master-key.js';
import {
  decryptBuffer,
  encryptBuffer,
} from '../../main/engine/repository/crypto/object-buffers.js';
import {
  exportRecoveryKit,
  importRecoveryKit,
} from '../../main/engine/repository/crypto/recovery-kit.js';

/*
 * The vectors in docs/repository-format.md are checked twice: the implementation must
 * reproduce them, and an independent reading of the documented construction (plain
 * node:crypto calls written from the document's formulas) must agree with them.
 */

const doc = readFileSync(new URL('../../docs/repository-format.md', import.meta.url), 'utf8');

function block(name: string): string {
  const match = new RegExp(`<!-- vector:${name} -->\\n\`\`\`\\w*\\n([\\s\\S]*?)\\n\`\`\``).exec(
    doc,
  );
  if (!match) throw new Error(`docs/repository-format.md has no vector "${name}"`);
  return match[1] as string;
}

/** `name: value` lines, indented lines continuing the previous value, "(…)" commentary dropped. */
function fields(name: string): Map<string, string> {
  const result = new Map<string, string>();
  let current: string | undefined;
  for (const line of block(name).split('\n')) {
    const field = /^([a-z0-9-]+):\s*(.*)$/.exec(line);
    if (field) {
      current = field[1] as string;
      result.set(current, field[2] as string);
    } else if (current && /^\s+\S/.test(line)) {
      result.set(current, `${result.get(current)} ${line.trim()}`);
    }
  }
  return result;
}

function field(map: Map<string, string>, name: string): string {
  const value = map.get(name);
  if (value === undefined) throw new Error(`vector field "${name}" is missing`);
  return value;
}

function hex(map: Map<string, string>, name: string): Buffer {
  const value = field(map, name)
    .replace(/\([^)]*\)/g, '')
    .replace(/\s+/g, '');
  expect(value).toMatch(/^([0-9a-f]{2})*$/);
  return Buffer.from(value, 'hex');
}

function gcmDecrypt(
  key: Buffer,
  nonce: Buffer,
  aad: Buffer,
  ciphertext: Buffer,
  tag: Buffer,
): Buffer {
  const decipher = createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: 16 });
  decipher.setAAD(aad);
  decipher.setAuthTag(tag);
  return Buffer.concat([decipher.update(ciphertext), decipher.final()]);
}

describe.each(['object-three-chunks', 'object-empty'])('object test vector %s', (name) => {
  const v = fields(name);
  const masterKey = new MasterKey(field(v, 'master-key-id'), hex(v, 'master-key'));
  const objectKey = field(v, 'object-key');
  const plaintext = Buffer.from(
    (/^"(.*)"/.exec(field(v, 'plaintext')) as RegExpExecArray)[1] as string,
    'utf8',
  );
  const chunkSize = Number(field(v, 'chunk-size'));
  const header = hex(v, 'header');
  const chunkCount = Math.floor(plaintext.length / chunkSize) + 1;
  const chunks = Array.from({ length: chunkCount }, (_, i) => hex(v, `chunk-${i}`));
  const object = Buffer.concat([header, ...chunks]);

  it('is what the implementation writes and reads', () => {
    expect(object.length).toBe(Number(field(v, 'object-length')));
    const fixedRandomness = {
      dataKey: hex(v, 'data-key'),
      noncePrefix: hex(v, 'nonce-prefix'),
      wrapNonce: hex(v, 'wrap-nonce'),
    };
    const written = encryptBuffer(masterKey, objectKey, plaintext, { chunkSize, fixedRandomness });
    expect(written.toString('hex')).toBe(object.toString('hex'));
    expect(decryptBuffer(masterKey, objectKey, object).equals(plaintext)).toBe(true);
  });

  it('follows the documented construction', () => {
    expect(header.length).toBe(92);
    expect(header.subarray(0, 4).toString('ascii')).toBe('TDMK');
    expect(header[4]).toBe(1);
    expect(header.readUInt32BE(5)).toBe(chunkSize);
    expect(header.subarray(9, 25).toString('hex')).toBe(masterKey.id);
    expect(header.subarray(25, 32).equals(hex(v, 'nonce-prefix'))).toBe(true);
    expect(header.subarray(32, 44).equals(hex(v, 'wrap-nonce'))).toBe(true);

    // 3.3: data key = GCM(master key, wrap nonce, aad = header[0,32) || object key)
    const wrapAad = Buffer.concat([header.subarray(0, 32), Buffer.from(objectKey, 'utf8')]);
    const dataKey = gcmDecrypt(
      masterKey.bytes,
      header.subarray(32, 44),
      wrapAad,
      header.subarray(44, 76),
      header.subarray(76, 92),
    );
    expect(dataKey.equals(hex(v, 'data-key'))).toBe(true);

    // 3.4: nonce = prefix || uint32 index || final flag; aad = header || object key
    const chunkAad = Buffer.concat([header, Buffer.from(objectKey, 'utf8')]);
    const recovered: Buffer[] = [];
    chunks.forEach((chunk, i) => {
      const final = i === chunkCount - 1;
      const nonce = Buffer.alloc(12);
      header.subarray(25, 32).copy(nonce, 0);
      nonce.writeUInt32BE(i, 7);
      nonce[11] = final ? 1 : 0;
      expect(hex(v, `chunk-${i}-nonce`).equals(nonce)).toBe(true);
      expect(chunk.length).toBe(final ? (plaintext.length % chunkSize) + 16 : chunkSize + 16);
      recovered.push(
        gcmDecrypt(
          dataKey,
          nonce,
          chunkAad,
          chunk.subarray(0, chunk.length - 16),
          chunk.subarray(chunk.length - 16),
        ),
      );
    });
    expect(Buffer.concat(recovered).equals(plaintext)).toBe(true);
  });
});

describe('keyring and recovery kit test vector', () => {
  const v = fields('keyring-kdf');
  const keyringText = block('keyring-json');
  const kitText = `${block('recovery-kit')}\n`;

  it('unlocks to the documented master key with the documented passphrase', async () => {
    const keyring = parseKeyring(keyringText, 'The documented keyring');
    const masterKey = await unlockKeyring(keyring, { passphrase: field(v, 'passphrase') });
    expect(masterKey.id).toBe(keyring.keyId);
    expect(masterKey.bytes.equals(hex(v, 'master-key'))).toBe(true);
  });

  it('follows the documented construction (scrypt KEK, AAD binding repository and key id)', () => {
    const keyring = parseKeyring(keyringText);
    const params = /^N=(\d+) r=(\d+) p=(\d+) length=(\d+)$/.exec(
      field(v, 'scrypt'),
    ) as RegExpExecArray;
    const kek = scryptSync(
      Buffer.from(field(v, 'passphrase').normalize('NFC'), 'utf8'),
      hex(v, 'salt'),
      Number(params[4]),
      {
        N: Number(params[1]),
        r: Number(params[2]),
        p: Number(params[3]),
      },
    );
    expect(kek.equals(hex(v, 'kek'))).toBe(true);
    const aad = Buffer.from(
      `tidemark-keyring-v1\0${keyring.repositoryId}\0${keyring.keyId}`,
      'utf8',
    );
    expect(aad.equals(hex(v, 'wrap-aad'))).toBe(true);
    const { nonce, ciphertext, tag } = keyring.wrappedKey;
    const masterKey = gcmDecrypt(
      kek,
      Buffer.from(nonce, 'hex'),
      aad,
      Buffer.from(ciphertext, 'hex'),
      Buffer.from(tag, 'hex'),
    );
    expect(masterKey.equals(hex(v, 'master-key'))).toBe(true);
  });

  it('is the recovery kit the implementation prints, and reads back as the keyring', () => {
    const keyring = parseKeyring(keyringText);
    expect(exportRecoveryKit(keyring)).toBe(kitText);
    expect(importRecoveryKit(kitText)).toEqual(keyring);
  });
});
