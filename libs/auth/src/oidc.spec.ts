import { parseRoleMapping, roleFromClaim } from './oidc';

describe('single sign-on role mapping', () => {
  const mapping = parseRoleMapping(' sinew-admins:admin, lab-ops:operator ,urn:groups:eng:engineer');

  it('reads group:role pairs (a group may hold colons, the role follows the last one)', () => {
    expect([...mapping]).toEqual([
      ['sinew-admins', 'admin'],
      ['lab-ops', 'operator'],
      ['urn:groups:eng', 'engineer'],
    ]);
    expect(parseRoleMapping('')).toEqual(new Map());
    expect(() => parseRoleMapping('sinew-admins:root')).toThrow(
      'not a group:role pair (role one of admin, engineer, operator, viewer): sinew-admins:root',
    );
    expect(() => parseRoleMapping(':admin')).toThrow('not a group:role pair');
  });

  it('gives the most powerful mapped role of the claim, from a list or a string', () => {
    expect(roleFromClaim(['staff', 'lab-ops', 'sinew-admins'], mapping)).toBe('admin');
    expect(roleFromClaim(['lab-ops'], mapping)).toBe('operator');
    expect(roleFromClaim('staff lab-ops', mapping)).toBe('operator');
    expect(roleFromClaim('staff,urn:groups:eng', mapping)).toBe('engineer');
    expect(roleFromClaim(['visitors'], mapping)).toBeUndefined();
    expect(roleFromClaim(undefined, mapping)).toBeUndefined();
    expect(roleFromClaim([42, { admin: true }], mapping)).toBeUndefined();
  });
});
