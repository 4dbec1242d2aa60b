import { renderToStaticMarkup } from 'react-dom/server';
import type { AuditRow, KeyRow, UserRow } from '../components/access-logic';
import { AuditTable } from './audit';
import { KeyTable } from './keys';
import { UserTable } from './users';

// The app shell and the router (an ES module jest cannot load here): the tables use neither.
jest.mock('../app', () => ({ useTitle: () => undefined }));
jest.mock('react-router', () => ({}));

function text(html: string): string {
  return html
    .replace(/<[^>]+>/g, ' ')
    .replace(/&amp;/g, '&')
    .replace(/\s+/g, ' ')
    .trim();
}

/** The text of each body row. */
function rows(html: string): string[] {
  return [...html.matchAll(/<tbody>([\s\S]*?)<\/tbody>/g)]
    .flatMap((m) => [...(m[1] ?? '').matchAll(/<tr[^>]*>([\s\S]*?)<\/tr>/g)])
    .map((m) => text(m[1] ?? ''));
}

const later = new Date(Date.now() + 3_600_000).toISOString();
const created = '2026-12-01T10:00:00.000Z';

describe('the access pages’ tables', () => {
  it('shows each user’s state in words, with the actions that state allows', () => {
    const users: UserRow[] = [
      { id: '1', username: 'ada', role: 'admin', scopes: [], state: 'active', created_at: created },
      { id: '2', username: 'otto', role: 'operator', scopes: [], state: 'disabled', created_at: created },
      {
        id: '3',
        username: 'vera',
        role: 'viewer',
        scopes: [],
        state: 'active',
        locked_until: later,
        created_at: created,
      },
      {
        id: '4',
        username: 'sam',
        role: 'engineer',
        scopes: [],
        state: 'active',
        sso: true,
        created_at: created,
      },
    ];
    const r = rows(renderToStaticMarkup(<UserTable users={users} me="ada" onAct={() => undefined} />));
    expect(r).toHaveLength(4);
    expect(r[0]).toMatch(/^ada \(you\) admin active — .* Change role Reset password Disable$/);
    expect(r[1]).toMatch(/^otto operator disabled .* Enable$/);
    expect(r[2]).toMatch(/^vera viewer locked until \d{4}-\d{2}-\d{2} /);
    expect(r[3]).toContain('sam single sign-on engineer active');
    expect(r[3]).toContain('role and password from the identity provider Disable');
    expect(r[3]).not.toContain('Reset password');
    expect(text(renderToStaticMarkup(<UserTable users={[]} me={undefined} onAct={() => undefined} />))).toBe(
      'No users yet. Create the first one below.',
    );
  });

  it('lists keys with their prefix, scopes and state, and no actions on a revoked one', () => {
    const keys: KeyRow[] = [
      {
        id: 'k1',
        name: 'lab-sender',
        prefix: 'abcd1234',
        scopes: ['ingest:lab-results'],
        channels: ['lab-results'],
        state: 'paused',
        created_at: created,
        created_by: 'ada',
      },
      {
        id: 'k2',
        name: 'old',
        prefix: 'zzzz9999',
        scopes: ['channels:read'],
        state: 'revoked',
        created_at: created,
      },
    ];
    const r = rows(renderToStaticMarkup(<KeyTable keys={keys} onAct={() => undefined} />));
    expect(r[0]).toMatch(
      /^lab-sender snw_abcd1234_… ingest:lab-results lab-results paused .* by ada never never Resume Revoke$/,
    );
    expect(r[1]).toMatch(/^old snw_zzzz9999_… channels:read all revoked .* never never —$/);
  });

  it('shows who did what, the outcome in words and whether content was read', () => {
    const event = (over: Partial<AuditRow>): AuditRow => ({
      seq: 1,
      at: created,
      actor: 'ada',
      actor_kind: 'user',
      action: 'GET /api/v1/messages/{id}',
      object_ids: [],
      outcome: '200',
      content_read: false,
      hash: 'h',
      prev_hash: 'p',
      ...over,
    });
    const r = rows(
      renderToStaticMarkup(
        <AuditTable
          rows={[
            event({ seq: 2, object_ids: ['m-1'], content_read: true, from: '10.0.0.5' }),
            event({
              seq: 1,
              actor: 'lab-sender',
              actor_kind: 'key',
              via: 'abcd1234',
              action: 'GET /api/v1/messages',
              outcome: '403',
              filter: { q: 'used' },
            }),
          ]}
        />,
      ),
    );
    expect(r[0]).toMatch(
      /^\d{4}-\d{2}-\d{2} [\d:]+ ada user GET \/api\/v1\/messages\/\{id\} m-1 200 ok 10\.0\.0\.5 content read$/,
    );
    expect(r[1]).toMatch(
      / lab-sender key via abcd1234 GET \/api\/v1\/messages filter: q=used 403 refused — no$/,
    );
  });
});
