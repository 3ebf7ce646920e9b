import { scrypt } from 'node:crypto';
import { TidemarkError } from '../../errors.js';

export interface ScryptParams {
  /** CPU/memory cost, a power of two */
  N: number;
  r: number;
  p: number;
}

/**
 * N=2^17, r=8, p=1: 128 MiB of memory and about half a second on a workstation, once per
 * unlock. That is OWASP's current scrypt recommendation; the memory cost is what makes a
 * GPU/ASIC guessing attack on a stolen keyring expensive.
 */
export const DEFAULT_SCRYPT_PARAMS: ScryptParams = { N: 2 ** 17, r: 8, p: 1 };
export const KEK_LENGTH = 32;
/** What a keyring may ask for: bounded so a hostile keyring cannot exhaust memory. */
export const MAX_SCRYPT_MEMORY = 1024 * 1024 * 1024;

export function scryptMemory({ N, r }: ScryptParams): number {
  return 128 * N * r;
}

export function checkScryptParams(params: ScryptParams): void {
  const { N, r, p } = params;
  const powerOfTwo = Number.isInteger(N) && N >= 2 ** 10 && N <= 2 ** 22 && (N & (N - 1)) === 0;
  const ok =
    powerOfTwo &&
    Number.isInteger(r) &&
    r >= 1 &&
    r <= 32 &&
    Number.isInteger(p) &&
    p >= 1 &&
    p <= 16;
  if (!ok || scryptMemory(params) > MAX_SCRYPT_MEMORY) {
    throw new TidemarkError(
      'invalid_input',
      `Scrypt parameters N=${N} r=${r} p=${p} are out of range (N a power of two in 2^10…2^22, r 1…32, p 1…16, at most 1 GiB of memory).`,
    );
  }
}

/**
 * The key-encryption key for a passphrase. The passphrase is NFC-normalised so the same
 * characters typed on macOS and on Linux/Windows (different Unicode compositions) agree.
 * Runs on the libuv pool, not the event loop.
 */
export function deriveKekFromPassphrase(
  passphrase: string,
  salt: Buffer,
  params: ScryptParams,
): Promise<Buffer> {
  checkScryptParams(params);
  const secret = Buffer.from(passphrase.normalize('NFC'), 'utf8');
  return new Promise((resolve, reject) => {
    // Node refuses 128·N·r above `maxmem` (32 MiB by default): allow what the parameters need.
    scrypt(
      secret,
      salt,
      KEK_LENGTH,
      { N: params.N, r: params.r, p: params.p, maxmem: 2 * scryptMemory(params) },
      (err, key) => {
        secret.fill(0);
        if (err)
          reject(new TidemarkError('internal', `Scrypt failed: ${err.message}`, { cause: err }));
        else resolve(key);
      },
    );
  });
}
