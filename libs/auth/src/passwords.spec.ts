import type { LoginState } from '@sinew/store';
import {
  afterFailure,
  afterSuccess,
  hashPassword,
  lockedFor,
  passwordProblem,
  verifyPassword,
} from './passwords';

describe('password hashes', () => {
  it('are argon2id PHC strings with a salt of their own, verified against the password only', async () => {
    const a = await hashPassword('correct horse battery');
    const b = await hashPassword('correct horse battery');
    expect(a).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
    expect(a).not.toEqual(b);
    expect(a).not.toContain('horse');
    await expect(verifyPassword(a, 'correct horse battery')).resolves.toBe(true);
    await expect(verifyPassword(b, 'correct horse battery')).resolves.toBe(true);
    await expect(verifyPassword(a, 'correct horse batterY')).resolves.toBe(false);
    await expect(verifyPassword('not a hash', 'correct horse battery')).resolves.toBe(false);
  });

  it('refuses short and overlong passwords', () => {
    expect(passwordProblem('elevenchars')).toMatch(/at least 12/);
    expect(passwordProblem('twelve chars')).toBeUndefined();
    expect(passwordProblem('x'.repeat(1025))).toMatch(/at most 1024/);
    expect(passwordProblem(undefined)).toMatch(/text/);
  });
});

describe('lockout', () => {
  const policy = { maxFailures: 5, firstLockMs: 60_000, maxLockMs: 3_600_000 };
  const t0 = new Date('2026-01-01T00:00:00Z');
  const at = (ms: number) => new Date(t0.getTime() + ms);

  function fail(state: LoginState, times: number, when: Date): LoginState {
    let s = state;
    for (let i = 0; i < times; i++) s = afterFailure(s, when, policy);
    return s;
  }

  it('locks for one minute after five failures in a row, and not before', () => {
    const four = fail({ failedLogins: 0, lockouts: 0 }, 4, t0);
    expect(lockedFor(four, t0)).toBe(0);
    const five = afterFailure(four, t0, policy);
    expect(lockedFor(five, t0)).toBe(60_000);
    expect(lockedFor(five, at(59_999))).toBe(1);
    expect(lockedFor(five, at(60_000))).toBe(0);
  });

  it('ignores failures while locked, then doubles each lock up to an hour', () => {
    let s = fail({ failedLogins: 0, lockouts: 0 }, 5, t0);
    expect(fail(s, 10, at(30_000))).toEqual(s);
    const lengths: number[] = [];
    let now = t0.getTime();
    lengths.push(lockedFor(s, new Date(now)));
    for (let i = 0; i < 8; i++) {
      now = (s.lockedUntil as Date).getTime();
      s = fail(s, 5, new Date(now));
      lengths.push(lockedFor(s, new Date(now)));
    }
    expect(lengths.map((ms) => ms / 60_000)).toEqual([1, 2, 4, 8, 16, 32, 60, 60, 60]);
  });

  it('resets both counts on a success, and refuses a success while locked', () => {
    const locked = fail({ failedLogins: 0, lockouts: 2 }, 5, t0);
    expect(afterSuccess(locked, at(1000), '10.0.0.1')).toEqual(locked);
    const after = afterSuccess(fail({ failedLogins: 0, lockouts: 2 }, 3, t0), at(1000), '10.0.0.1');
    expect(after).toEqual({ failedLogins: 0, lockouts: 0, lastLoginAt: at(1000), lastLoginFrom: '10.0.0.1' });
  });
});
