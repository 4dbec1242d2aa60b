import { isRole, ROLES, type Role } from './scopes';

/**
 * OpenID Connect single sign-on: how a claim of the provider's (`groups`, `roles`) becomes a
 * Sinew role, and how a person signed in that way is marked in the ledger.
 */

/**
 * The password hash of a person who signs in through single sign-on: not a PHC string, so
 * no password ever verifies against it (a password sign-in with their username fails like any
 * wrong password).
 */
export const SSO_PASSWORD_MARK = 'sso:oidc';

export function isSsoHash(hash: string): boolean {
  return hash === SSO_PASSWORD_MARK;
}

/** `sinew-admins:admin,lab-ops:operator` as a map from group to role; throws naming a bad entry. */
export function parseRoleMapping(text: string): Map<string, Role> {
  const mapping = new Map<string, Role>();
  for (const entry of text.split(',').map((s) => s.trim())) {
    if (entry === '') continue;
    const colon = entry.lastIndexOf(':');
    const group = colon > 0 ? entry.slice(0, colon).trim() : '';
    const role = colon > 0 ? entry.slice(colon + 1).trim() : '';
    if (group === '' || !isRole(role))
      throw new Error(`not a group:role pair (role one of ${ROLES.join(', ')}): ${entry}`);
    mapping.set(group, role);
  }
  return mapping;
}

/**
 * The role a claim's value maps to: the most powerful of the roles its groups map to (admin
 * before engineer before operator before viewer), or undefined when none does. The claim may
 * be a list of strings, one string, or a space- or comma-separated string.
 */
export function roleFromClaim(value: unknown, mapping: ReadonlyMap<string, Role>): Role | undefined {
  const groups = Array.isArray(value)
    ? value.filter((v): v is string => typeof v === 'string')
    : typeof value === 'string'
      ? value.split(/[\s,]+/).filter((v) => v !== '')
      : [];
  const roles = new Set(groups.map((g) => mapping.get(g)).filter((r): r is Role => r !== undefined));
  return ROLES.find((r) => roles.has(r));
}
