import {
  auditFiltersFrom,
  auditFiltersQuery,
  clientCurl,
  credentialActions,
  credentialTone,
  exampleRoute,
  isoToLocalInput,
  keyCurl,
  localInputToIso,
  outcomeLabel,
  outcomeTone,
  passwordMismatch,
  userState,
  type UserRow,
} from './access-logic';
import { describeScope, orderedScopes, SCOPES } from './access-scopes';

const user = (over: Partial<UserRow> = {}): UserRow => ({
  id: 'u1',
  username: 'vera',
  role: 'viewer',
  scopes: ['channels:read', 'messages:read'],
  state: 'active',
  created_at: '2026-12-01T10:00:00.000Z',
  ...over,
});

describe('access logic', () => {
  const now = new Date('2026-12-07T09:00:00.000Z');

  it('tells a disabled user from a locked one and an active one', () => {
    expect(userState(user({ state: 'disabled', locked_until: '2026-12-07T10:00:00.000Z' }), now)).toEqual({
      label: 'disabled',
      tone: 'bad',
    });
    expect(userState(user({ locked_until: '2026-12-07T09:05:00.000Z' }), now)).toEqual({
      label: 'locked until',
      tone: 'warn',
      lockedUntil: '2026-12-07T09:05:00.000Z',
    });
    // A lockout that has run out is no lockout.
    expect(userState(user({ locked_until: '2026-12-07T08:59:00.000Z' }), now)).toEqual({
      label: 'active',
      tone: 'ok',
    });
  });

  it('offers pause for active, resume for paused, revoke for either, nothing for the revoked or expired', () => {
    expect(credentialActions('active')).toEqual({ pause: true, resume: false, revoke: true });
    expect(credentialActions('paused')).toEqual({ pause: false, resume: true, revoke: true });
    expect(credentialActions('revoked')).toEqual({ pause: false, resume: false, revoke: false });
    expect(credentialActions('expired')).toEqual({ pause: false, resume: false, revoke: false });
    expect(['active', 'paused', 'revoked', 'expired'].map(credentialTone)).toEqual([
      'ok',
      'warn',
      'bad',
      'bad',
    ]);
  });

  it('checks that the two passwords match, and leaves their length to the engine', () => {
    expect(passwordMismatch('', '')).toBe('Enter a password.');
    expect(passwordMismatch('a long password', 'a long passwort')).toBe('The two passwords differ.');
    expect(passwordMismatch('short', 'short')).toBeUndefined();
  });

  it('writes a curl line that a new key’s scopes allow', () => {
    expect(exampleRoute(['channels:read'])).toBe('/api/v1/channels');
    expect(exampleRoute(['admin'])).toBe('/api/v1/channels');
    expect(exampleRoute(['messages:read'])).toBe('/api/v1/messages?limit=5');
    expect(exampleRoute(['audit:read'])).toBe('/api/v1/audit?limit=5');
    expect(exampleRoute(['ingest:lab'])).toBe('/api/v1/session');
    expect(keyCurl('http://127.0.0.1:8080', 'snw_abcd1234_secret', ['channels:read'])).toBe(
      'curl -s -H "Authorization: Bearer snw_abcd1234_secret" http://127.0.0.1:8080/api/v1/channels',
    );
    expect(clientCurl('https://sinew.example', 'cl_1', "se'cret")).toBe(
      `curl -s -u 'cl_1:se'\\''cret' -d grant_type=client_credentials https://sinew.example/oauth/token`,
    );
  });

  it('reads the audit filters from the URL, dropping blanks and times that are not times', () => {
    const f = auditFiltersFrom(
      new URLSearchParams({
        actor: ' ada ',
        action: 'POST /api/v1/keys',
        since: '2026-12-07T08:00:00.000Z',
        until: 'yesterday',
        cursor: 'x',
      }),
    );
    expect(f).toEqual({ actor: 'ada', action: 'POST /api/v1/keys', since: '2026-12-07T08:00:00.000Z' });
    expect(auditFiltersQuery({ ...f, until: '  ' })).toEqual({
      actor: 'ada',
      action: 'POST /api/v1/keys',
      since: '2026-12-07T08:00:00.000Z',
    });
    expect(auditFiltersFrom(new URLSearchParams(''))).toEqual({});
  });

  it('turns datetime-local values into instants and back in the browser’s zone', () => {
    const iso = localInputToIso('2026-12-07T09:30');
    expect(iso).toBeDefined();
    const d = new Date(iso as string);
    expect([d.getFullYear(), d.getMonth(), d.getDate(), d.getHours(), d.getMinutes()]).toEqual([
      2026, 11, 7, 9, 30,
    ]);
    expect(isoToLocalInput(iso)).toBe('2026-12-07T09:30');
    expect(localInputToIso('')).toBeUndefined();
    expect(localInputToIso('7 Dec')).toBeUndefined();
    expect(isoToLocalInput('not a time')).toBe('');
    expect(isoToLocalInput(undefined)).toBe('');
  });

  it('names an outcome in words as well as a colour', () => {
    expect(outcomeTone('201')).toBe('ok');
    expect(outcomeTone('401')).toBe('warn');
    expect(outcomeTone('500')).toBe('bad');
    expect(outcomeLabel('200')).toBe('200 ok');
    expect(outcomeLabel('401')).toBe('401 not signed in');
    expect(outcomeLabel('403')).toBe('403 refused');
    expect(outcomeLabel('503')).toBe('503 failed');
  });

  it('orders chosen scopes as declared, ingest scopes after, only for offered channels', () => {
    expect(orderedScopes(['admin', 'ingest:b', 'channels:read', 'ingest:gone'], ['a', 'b'])).toEqual([
      'channels:read',
      'admin',
      'ingest:b',
    ]);
    expect(describeScope('ingest:lab')).toBe('send messages to the HTTP source of channel lab');
    expect(SCOPES.every((s) => describeScope(s) !== s)).toBe(true);
  });
});
