import { randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import { TidemarkError } from '../../errors.js';

export const MASTER_KEY_LENGTH = 32;
export const KEY_ID_LENGTH = 16;
const keyIdPattern = /^[0-9a-f]{32}$/;

/**
 * The repository master key: 32 random bytes that wrap every object's data key, with a random
 * id that object headers carry. It hides its bytes from JSON and `inspect` so a log line that
 * happens to include it cannot leak it.
 */
export class MasterKey {
  readonly id: string;
  readonly #key: Buffer;

  constructor(id: string, key: Buffer) {
    if (!keyIdPattern.test(id)) {
      throw new TidemarkError(
        'invalid_input',
        `Master key id "${id}" is not 32 lower-case hex digits.`,
      );
    }
    if (key.length !== MASTER_KEY_LENGTH) {
      throw new TidemarkError(
        'invalid_input',
        `A master key has ${MASTER_KEY_LENGTH} bytes, not ${key.length}.`,
      );
    }
    this.id = id;
    this.#key = Buffer.from(key);
  }

  static generate(): MasterKey {
    const key = randomBytes(MASTER_KEY_LENGTH);
    try {
      return new MasterKey(randomBytes(KEY_ID_LENGTH).toString('hex'), key);
    } finally {
      key.fill(0);
    }
  }

  /** The raw key; callers must not keep or copy it beyond one operation. */
  get bytes(): Buffer {
    return this.#key;
  }

  get idBytes(): Buffer {
    return Buffer.from(this.id, 'hex');
  }

  /** Overwrites the key bytes; the object is unusable afterwards. */
  dispose(): void {
    this.#key.fill(0);
  }

  toJSON(): { id: string } {
    return { id: this.id };
  }

  [inspect.custom](): string {
    return `MasterKey { id: '${this.id}' }`;
  }
}
