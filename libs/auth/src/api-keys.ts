import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * API keys: `snw_<prefix>_<secret>`. The prefix (8 characters, a–z and 0–9) identifies the
 * key and is stored in clear, so logs, listings and the audit log can name a key without
 * holding it; the secret is 32 random bytes in lowercase hex. Only the sha256 of the whole
 * key is stored: a key has 256 bits of entropy, so a slow hash adds nothing.
 */
export const KEY_MARK = 'snw_';
const PREFIX_LENGTH = 8;
const PREFIX_ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';
const KEY_PATTERN = /^snw_([a-z0-9]{8})_([0-9a-f]{64})$/;

export interface GeneratedKey {
  /** The 8 identifying characters. */
  prefix: string;
  /** The whole key, shown once. */
  token: string;
}

export function generateKey(): GeneratedKey {
  const prefix = randomPrefix();
  return { prefix, token: `${KEY_MARK}${prefix}_${randomBytes(32).toString('hex')}` };
}

/** The key's prefix, or undefined when `token` is not a Sinew API key. */
export function parseKey(token: unknown): { prefix: string } | undefined {
  if (typeof token !== 'string' || token.length !== 77) return undefined;
  const m = KEY_PATTERN.exec(token);
  return m ? { prefix: m[1] as string } : undefined;
}

/** The stored form of a key: sha256 of the whole key, lowercase hex. */
export function hashKey(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** Compares two hex hashes in time independent of where they differ. */
export function sameHash(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}

/** 8 characters of a–z0–9, uniformly (bytes ≥ 252 are drawn again: 252 = 7 × 36). */
function randomPrefix(): string {
  let out = '';
  while (out.length < PREFIX_LENGTH) {
    for (const byte of randomBytes(PREFIX_LENGTH * 2)) {
      if (byte >= 252) continue;
      out += PREFIX_ALPHABET[byte % 36];
      if (out.length === PREFIX_LENGTH) break;
    }
  }
  return out;
}
