import { describe, expect, it } from 'vitest';
import {
  createKeyring,
  rewrapKeyring,
  unlockKeyring,
} from '../../main/engine/repository/crypto/keyring.js';
import {
  exportRecoveryKit,
  importRecoveryKit,
} from '../../main/engine/repository/crypto/recovery-kit.js';

const cheap = { scrypt: { N: 1024, r: 8, p: 1 } };
const passphrase = 'tide pools at low water';

/** Replaces one character of the value on the line starting with `label`. */
function mistype(kit: string, label: string, position: number): string {
  return kit
    .split('\n')
    .map((line) => {
      if (!line.startsWith(`${label}:`)) return line;
      const at = 13 + position;
      const replacement = line[at] === '0' ? '1' : '0';
      return line.slice(0, at) + replacement + line.slice(at + 1);
    })
    .join('\n');
}

describe('recovery kit', () => {
  it('lets a new machine recover the same master key from the kit and the passphrase', async () => {
    const { keyring, masterKey } = await createKeyring({
      repositoryId: 'prod-backups',
      passphrase,
      ...cheap,
    });
    const kit = exportRecoveryKit(keyring);
    expect(kit).toContain('Tidemark recovery kit, format 1');
    expect(kit).toContain('repository:  prod-backups');
    expect(kit).not.toContain(masterKey.bytes.toString('hex').slice(0, 8));
    expect(kit).not.toContain(passphrase);

    const imported = importRecoveryKit(kit);
    expect(imported).toEqual(keyring);
    const recovered = await unlockKeyring(imported, { passphrase });
    expect(recovered.id).toBe(masterKey.id);
    expect(recovered.bytes.equals(masterKey.bytes)).toBe(true);
  });

  it('accepts a retyped kit with other spacing, upper-case hex and CRLF line endings', async () => {
    const { keyring } = await createKeyring({ repositoryId: 'prod-backups', passphrase, ...cheap });
    const hexLabels = /^(key-id|salt|nonce|wrapped-key|tag):(.*)\((\w{4})\)$/;
    const retyped = exportRecoveryKit(keyring)
      .split('\n')
      .map((line) => {
        const hex = hexLabels.exec(line);
        if (!hex) return `  ${line.replace(/ /g, '   ')}`;
        const value = (hex[2] as string)
          .replace(/ /g, '')
          .toUpperCase()
          .replace(/(.{4})/g, '$1 ');
        return `${hex[1]}:   ${value}   (${(hex[3] as string).toUpperCase()})`;
      })
      .join('\r\n');
    expect(retyped).not.toContain(keyring.wrappedKey.ciphertext);
    expect(importRecoveryKit(retyped)).toEqual(keyring);
  });

  it('names the mistyped line', async () => {
    const { keyring } = await createKeyring({ repositoryId: 'prod-backups', passphrase, ...cheap });
    const kit = exportRecoveryKit(keyring);
    for (const label of ['wrapped-key', 'salt', 'tag', 'key-id']) {
      expect(() => importRecoveryKit(mistype(kit, label, 3))).toThrow(
        expect.objectContaining({
          code: 'invalid_input',
          message: expect.stringContaining(`the line "${label}" does not match its check code`),
        }),
      );
    }
  });

  it('detects a missing line, a dropped checksum, a swapped pair of lines and a foreign text', async () => {
    const { keyring } = await createKeyring({ repositoryId: 'prod-backups', passphrase, ...cheap });
    const lines = exportRecoveryKit(keyring).split('\n');
    const without = (label: string) => lines.filter((l) => !l.startsWith(`${label}:`)).join('\n');
    expect(() => importRecoveryKit(without('nonce'))).toThrow(/the line "nonce" is missing/);
    expect(() => importRecoveryKit(without('checksum'))).toThrow(/the "checksum" line is missing/);
    // swap the values (with their check codes) of nonce and tag: every line checks, the kit does not
    const nonce = lines.findIndex((l) => l.startsWith('nonce:'));
    const tag = lines.findIndex((l) => l.startsWith('tag:'));
    const swapped = [...lines];
    swapped[nonce] = `nonce:${(lines[tag] as string).slice(4)}`;
    swapped[tag] = `tag:${(lines[nonce] as string).slice(6)}`;
    expect(() => importRecoveryKit(swapped.join('\n'))).toThrow(/check code|checksum/);
    expect(() => importRecoveryKit('hello world')).toThrow(
      /does not contain the line "Tidemark recovery kit, format 1"/,
    );
  });

  it('a kit exported before a passphrase change still opens with the old passphrase (and says when it was wrapped)', async () => {
    const { keyring, masterKey } = await createKeyring({
      repositoryId: 'prod-backups',
      passphrase,
      ...cheap,
    });
    const oldKit = exportRecoveryKit(keyring);
    const rewrapped = await rewrapKeyring(
      keyring,
      { passphrase },
      { passphrase: 'the new passphrase' },
      cheap,
    );
    const newKit = exportRecoveryKit(rewrapped);
    expect(newKit).toContain('rewrapped:');
    expect(importRecoveryKit(newKit)).toEqual(rewrapped);
    expect(
      (
        await unlockKeyring(importRecoveryKit(newKit), { passphrase: 'the new passphrase' })
      ).bytes.equals(masterKey.bytes),
    ).toBe(true);
    expect(
      (await unlockKeyring(importRecoveryKit(oldKit), { passphrase })).bytes.equals(
        masterKey.bytes,
      ),
    ).toBe(true);
  });
});
