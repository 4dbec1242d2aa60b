import { renderToStaticMarkup } from 'react-dom/server';
import { actionRequest, appActions, AppTable, type AppRow } from './apps';

// The app shell and the router (an ES module jest cannot load here): the table uses neither.
jest.mock('../app', () => ({ useTitle: () => undefined }));
jest.mock('react-router', () => ({}));

function text(html: string): string {
  return html
    .replace(/<[^>]+>/g, ' ')
    .replace(/&amp;/g, '&')
    .replace(/&#x27;/g, "'")
    .replace(/\s+/g, ' ')
    .trim();
}

function rows(html: string): string[] {
  return [...html.matchAll(/<tbody>([\s\S]*?)<\/tbody>/g)]
    .flatMap((m) => [...(m[1] ?? '').matchAll(/<tr[^>]*>([\s\S]*?)<\/tr>/g)])
    .map((m) => text(m[1] ?? ''));
}

const created = '2026-12-01T10:00:00.000Z';
const base: Omit<AppRow, 'id' | 'name' | 'state'> = {
  environment: 'production',
  requested_scopes: ['system/Patient.rs', 'system/Appointment.cruds'],
  approved_scopes: ['system/Patient.rs', 'system/Appointment.cruds'],
  events: [],
  writes_enabled: true,
  rate_limit: 600,
  touches: [
    { resource_type: 'Appointment', read: true, write: true },
    { resource_type: 'Patient', read: true, write: false },
  ],
  created_at: created,
};

describe('the apps page', () => {
  it('shows each app’s state, environment, what it touches, why it was granted and its last call, with the actions its state allows', () => {
    const apps: AppRow[] = [
      {
        ...base,
        id: 'sna_00000000000000000001',
        name: 'receptionist',
        state: 'active',
        grant_reason: 'books the diary',
        last_call_at: created,
      },
      {
        ...base,
        id: 'sna_00000000000000000002',
        name: 'noisy',
        state: 'suspended',
        state_reason: 'automatic: 60 misuse events in 10 min (latest: rate_limit)',
      },
      {
        ...base,
        id: 'sna_00000000000000000003',
        name: 'scribe',
        state: 'pending',
        environment: 'sandbox',
        approved_scopes: [],
        requested_scopes: ['system/Observation.rs'],
        touches: [],
      },
      { ...base, id: 'sna_00000000000000000004', name: 'gone', state: 'revoked', writes_enabled: false },
    ];
    const html = renderToStaticMarkup(<AppTable apps={apps} onAct={() => undefined} />);
    const r = rows(html);
    expect(r).toHaveLength(4);
    expect(r[0]).toMatch(
      /^receptionist sna_00000000000000000001 active production Appointment read \+ write Patient read on books the diary \d{4}-\d{2}-\d{2}.* Pause Writes off Revoke$/,
    );
    expect(r[1]).toContain('noisy sna_00000000000000000002 suspended automatic: 60 misuse events in 10 min');
    expect(r[1]).toMatch(/never Reinstate Writes off Revoke$/);
    expect(r[2]).toMatch(
      /^scribe .* pending sandbox nothing yet requests system\/Observation\.rs on — never Approve Writes off Revoke$/,
    );
    expect(r[3]).toMatch(/gone .* revoked .* off — never —$/);
    expect(html).toContain('badge bad');
    expect(text(renderToStaticMarkup(<AppTable apps={[]} onAct={() => undefined} />))).toBe(
      'No apps. Register one with sinew apps create or POST /api/v1/apps.',
    );
  });

  it('asks the admin API for each action', () => {
    const app = { ...base, id: 'sna_00000000000000000001', name: 'x', state: 'active' as const };
    expect(appActions({ state: 'paused', writes_enabled: false })).toEqual(['resume', 'writes-on', 'revoke']);
    expect(actionRequest(app, 'approve', 'books the diary')).toEqual({
      path: '/api/v1/apps/sna_00000000000000000001/approve',
      method: 'POST',
      body: { reason: 'books the diary' },
    });
    expect(actionRequest(app, 'writes-off', '')).toEqual({
      path: '/api/v1/apps/sna_00000000000000000001/writes',
      method: 'PUT',
      body: { enabled: false },
    });
    expect(actionRequest(app, 'reinstate', '')).toEqual({
      path: '/api/v1/apps/sna_00000000000000000001/reinstate',
      method: 'POST',
    });
  });
});
