import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROLE_SCOPES, ROLES, SCOPE_DESCRIPTIONS, SCOPES } from './scopes';

const doc = readFileSync(join(__dirname, '..', '..', '..', 'docs', 'security.md'), 'utf8');

/** The table rows of a section of docs/security.md whose first cell is a code span. */
function rows(section: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const text = doc.split(/^## /m).find((s) => s.startsWith(section)) ?? '';
  for (const line of text.split('\n')) {
    const m = /^\|\s*`([^`]+)`\s*\|(.*)\|\s*$/.exec(line);
    if (m)
      out.set(
        m[1] as string,
        (m[2] as string).split('|').map((c) => c.trim()),
      );
  }
  return out;
}

describe('docs/security.md', () => {
  it('lists every scope with its declared description', () => {
    const table = rows('Scopes');
    for (const scope of SCOPES)
      expect([scope, table.get(scope)?.[0]]).toEqual([scope, SCOPE_DESCRIPTIONS[scope]]);
  });

  it("lists every role with the role's scopes", () => {
    const table = rows('Roles');
    for (const role of ROLES) {
      const cell = table.get(role)?.[0] ?? '';
      const listed =
        role === 'admin'
          ? cell === 'every scope'
            ? [...SCOPES]
            : []
          : [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1]);
      expect([role, [...listed].sort()]).toEqual([role, [...ROLE_SCOPES[role]].sort()]);
    }
  });
});
