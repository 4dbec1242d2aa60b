import { hash, verify, type Algorithm } from '@node-rs/argon2';
import type { LoginState } from '@sinew/store';

/** Passwords shorter than this are refused (there is no default password anywhere). */
export const MIN_PASSWORD_LENGTH = 12;
/** Longer ones are refused too: hashing a megabyte per guess would be a cheap denial of service. */
export const MAX_PASSWORD_LENGTH = 1024;

/** argon2id (`Algorithm.Argon2id`; the package's enum is a const enum, which isolatedModules cannot inline). */
const ARGON2ID = 2 as Algorithm;

/**
 * argon2id with the package's defaults, which are OWASP's minimum recommendation: 19 MiB of
 * memory, 2 passes, 1 lane (about 0.1 s per hash on one core of a small server).
 */
export function hashPassword(password: string): Promise<string> {
  return hash(password, { algorithm: ARGON2ID });
}

/** Whether `password` matches the PHC string; false (never a throw) for a malformed hash. */
export async function verifyPassword(phc: string, password: string): Promise<boolean> {
  try {
    return await verify(phc, password);
  } catch {
    // A stored value that is not a PHC string (edited by hand) verifies nothing.
    return false;
  }
}

/** Why the password is refused, or undefined when it is acceptable. */
export function passwordProblem(password: unknown): string | undefined {
  if (typeof password !== 'string') return 'a password is text';
  const length = [...password].length;
  if (length < MIN_PASSWORD_LENGTH) return `a password has at least ${MIN_PASSWORD_LENGTH} characters`;
  if (length > MAX_PASSWORD_LENGTH) return `a password has at most ${MAX_PASSWORD_LENGTH} characters`;
  return undefined;
}

/**
 * Lockout: after `maxFailures` failed logins in a row the account is locked for
 * `firstLockMs`; each further lockout (without a successful login between) doubles the
 * length, up to `maxLockMs`. A success resets both counts.
 */
export interface LockoutPolicy {
  maxFailures: number;
  firstLockMs: number;
  maxLockMs: number;
}

export const DEFAULT_LOCKOUT: LockoutPolicy = { maxFailures: 5, firstLockMs: 60_000, maxLockMs: 3_600_000 };

/** Milliseconds the account stays locked at `now` (0: not locked). */
export function lockedFor(state: LoginState, now: Date): number {
  if (!state.lockedUntil) return 0;
  return Math.max(0, state.lockedUntil.getTime() - now.getTime());
}

/** The state after a failed login at `now` (a locked account is not counted further). */
export function afterFailure(
  state: LoginState,
  now: Date,
  policy: LockoutPolicy = DEFAULT_LOCKOUT,
): LoginState {
  if (lockedFor(state, now) > 0) return state;
  const failedLogins = state.failedLogins + 1;
  if (failedLogins < policy.maxFailures) return { ...state, failedLogins, lockedUntil: undefined };
  const lockMs = Math.min(policy.maxLockMs, policy.firstLockMs * 2 ** Math.min(state.lockouts, 30));
  return {
    ...state,
    failedLogins: 0,
    lockouts: state.lockouts + 1,
    lockedUntil: new Date(now.getTime() + lockMs),
  };
}

/** The state after a successful login (unchanged when the account is locked: the login is refused). */
export function afterSuccess(state: LoginState, now: Date, from?: string): LoginState {
  if (lockedFor(state, now) > 0) return state;
  return {
    failedLogins: 0,
    lockouts: 0,
    lastLoginAt: now,
    ...(from !== undefined ? { lastLoginFrom: from } : {}),
  };
}
