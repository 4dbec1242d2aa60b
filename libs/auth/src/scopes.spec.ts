import {
  hasScope,
  mayUseChannel,
  parseScopes,
  ROLE_SCOPES,
  ROLES,
  SCOPE_DESCRIPTIONS,
  SCOPES,
  scopesOf,
  type Principal,
  type Scope,
} from './scopes';

const principal = (scopes: Scope[], channels?: string[]): Principal => ({
  kind: 'key',
  id: 'k1',
  name: 'ci',
  scopes,
  ...(channels ? { channels } : {}),
});

describe('roles and scopes', () => {
  it('gives each role the scopes the security guide lists', () => {
    expect(ROLE_SCOPES.admin).toEqual(SCOPES);
    expect([...ROLE_SCOPES.engineer].sort()).toEqual(
      [
        'channels:operate',
        'channels:read',
        'channels:write',
        'messages:read',
        'messages:replay',
        'phi:read',
        'reconciliations:read',
        'reconciliations:run',
      ].sort(),
    );
    expect([...ROLE_SCOPES.operator].sort()).toEqual(
      [
        'channels:operate',
        'channels:read',
        'messages:read',
        'messages:replay',
        'reconciliations:read',
        'reconciliations:run',
      ].sort(),
    );
    expect([...ROLE_SCOPES.viewer].sort()).toEqual([
      'channels:read',
      'messages:read',
      'reconciliations:read',
    ]);
  });

  it('keeps message content (phi:read) from operators and viewers', () => {
    for (const role of ROLES) {
      const p: Principal = { kind: 'user', id: 'u', name: role, scopes: scopesOf(role) };
      expect([role, hasScope(p, 'phi:read')]).toEqual([role, role === 'admin' || role === 'engineer']);
    }
  });

  it('lets operators pause and resume but not deploy', () => {
    const operator: Principal = { kind: 'user', id: 'u', name: 'op', scopes: scopesOf('operator') };
    expect(hasScope(operator, 'channels:operate')).toBe(true);
    expect(hasScope(operator, 'channels:write')).toBe(false);
  });

  it('adds a user extra scopes once, in the declared order', () => {
    expect(scopesOf('viewer', ['audit:read', 'channels:read'])).toEqual([
      'channels:read',
      'messages:read',
      'audit:read',
      'reconciliations:read',
    ]);
  });

  it('describes every scope in one line', () => {
    for (const scope of SCOPES) expect(SCOPE_DESCRIPTIONS[scope]).toMatch(/^[^\n]{10,}$/);
    expect(Object.keys(SCOPE_DESCRIPTIONS).sort()).toEqual([...SCOPES].sort());
  });
});

describe('hasScope', () => {
  it('answers for the scope held, and admin holds every scope', () => {
    expect(hasScope(principal(['messages:read']), 'messages:read')).toBe(true);
    expect(hasScope(principal(['messages:read']), 'phi:read')).toBe(false);
    for (const scope of SCOPES) expect(hasScope(principal(['admin']), scope)).toBe(true);
  });

  it('lets channels:write imply channels:operate, and nothing else imply anything', () => {
    expect(hasScope(principal(['channels:write']), 'channels:operate')).toBe(true);
    expect(hasScope(principal(['channels:operate']), 'channels:write')).toBe(false);
    expect(hasScope(principal(['phi:read']), 'messages:read')).toBe(false);
  });
});

describe('mayUseChannel', () => {
  it('lets an unrestricted caller use every channel and a restricted one its own only', () => {
    expect(mayUseChannel(principal(['messages:read']), 'lab')).toBe(true);
    expect(mayUseChannel(principal(['messages:read'], ['lab']), 'lab')).toBe(true);
    expect(mayUseChannel(principal(['messages:read'], ['lab']), 'adt')).toBe(false);
  });
});

describe('parseScopes', () => {
  it('reads a comma-separated list and names unknown scopes', () => {
    expect(parseScopes('messages:read, channels:read,messages:read')).toEqual([
      'messages:read',
      'channels:read',
    ]);
    expect(() => parseScopes('messages:read,messages:write')).toThrow(/unknown scope messages:write/);
  });
});
