export type StrengthLevel = 'too-short' | 'weak' | 'fair' | 'strong';

export interface PassphraseStrength {
  level: StrengthLevel;
  /** a rough guess of the entropy, in bits */
  bits: number;
  hint: string;
}

/** The repository refuses shorter ones. */
export const minPassphraseLength = 8;

/**
 * A rough strength estimate for the repository passphrase: length times the bits of the
 * character classes used, discounted for repeats and runs. It only guides; the passphrase
 * is stretched with scrypt anyway, and the user keeps it (with the recovery kit) somewhere safe.
 */
export function passphraseStrength(passphrase: string): PassphraseStrength {
  const chars = [...passphrase];
  if (chars.length < minPassphraseLength) {
    return {
      level: 'too-short',
      bits: 0,
      hint: `At least ${minPassphraseLength} characters; a few unrelated words are strong and easy to remember.`,
    };
  }
  let pool = 0;
  if (/[a-z]/.test(passphrase)) pool += 26;
  if (/[A-Z]/.test(passphrase)) pool += 26;
  if (/[0-9]/.test(passphrase)) pool += 10;
  if (/[^A-Za-z0-9]/.test(passphrase)) pool += 33;
  // repeated characters and runs like "aaaa" or "1234" add little
  let effective = 0;
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i]!.codePointAt(0)!;
    const prev = i > 0 ? chars[i - 1]!.codePointAt(0)! : null;
    const prev2 = i > 1 ? chars[i - 2]!.codePointAt(0)! : null;
    const repeat = prev === c;
    const run =
      prev !== null && prev2 !== null && c - prev === prev - prev2 && Math.abs(c - prev) === 1;
    effective += repeat || run ? 0.25 : 1;
  }
  const distinct = new Set(chars).size;
  const bits = Math.round(effective * Math.log2(Math.max(pool, 2)) * Math.min(1, distinct / 6));
  if (bits < 50)
    return {
      level: 'weak',
      bits,
      hint: 'Weak: make it longer; four or five unrelated words work well.',
    };
  if (bits < 80)
    return {
      level: 'fair',
      bits,
      hint: 'Fair: a few more characters or another word would make it strong.',
    };
  return {
    level: 'strong',
    bits,
    hint: 'Strong. Keep it somewhere safe: without it, no backup can be read.',
  };
}
