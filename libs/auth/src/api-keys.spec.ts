import { generateKey, hashKey, parseKey, sameHash } from './api-keys';

describe('API keys', () => {
  it('has the form snw_<8 identifying characters>_<64 hex digits>, different each time', () => {
    const keys = Array.from({ length: 200 }, () => generateKey());
    for (const k of keys) {
      expect(k.token).toMatch(/^snw_[a-z0-9]{8}_[0-9a-f]{64}$/);
      expect(k.token.startsWith(`snw_${k.prefix}_`)).toBe(true);
      expect(parseKey(k.token)).toEqual({ prefix: k.prefix });
    }
    expect(new Set(keys.map((k) => k.prefix)).size).toBe(200);
    expect(new Set(keys.map((k) => k.token)).size).toBe(200);
  });

  it('refuses malformed tokens and other prefixes', () => {
    const { token } = generateKey();
    for (const bad of [
      '',
      'snw_',
      token.slice(0, -1),
      `${token}0`,
      token.replace('snw_', 'ghp_'),
      token.replace('snw_', 'SNW_'),
      token.toUpperCase(),
      `Bearer ${token}`,
      ` ${token}`,
      token.replace(/_([0-9a-f]{64})$/, '-$1'),
      'snw_abcdefgh_' + 'g'.repeat(64),
      'snw_abc/efgh_' + '0'.repeat(64),
      'snw_abcdefgh_' + '0'.repeat(63) + '\n',
    ]) {
      expect([bad, parseKey(bad)]).toEqual([bad, undefined]);
    }
    expect(parseKey(undefined)).toBeUndefined();
    expect(parseKey(42)).toBeUndefined();
  });

  it('stores sha256 of the whole key and compares hashes in constant time', () => {
    const { token } = generateKey();
    const stored = hashKey(token);
    expect(stored).toMatch(/^[0-9a-f]{64}$/);
    expect(stored).not.toContain(token.slice(13));
    expect(sameHash(hashKey(token), stored)).toBe(true);
    const other = token.slice(0, -1) + (token.endsWith('0') ? '1' : '0');
    expect(sameHash(hashKey(other), stored)).toBe(false);
    expect(sameHash('', stored)).toBe(false);
    expect(sameHash(stored.slice(1), stored)).toBe(false);
  });
});
