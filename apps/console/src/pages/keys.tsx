import { useState, type FormEvent } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useTitle } from '../app';
import { NeedsScope } from '../components/access-guard';
import { useChannelChoices } from '../components/access-data';
import { credentialActions, credentialTone, keyCurl, type KeyRow } from '../components/access-logic';
import { orderedScopes } from '../components/access-scopes';
import { AccessSecret } from '../components/access-secret';
import { Confirm } from '../components/confirm';
import { ChannelRestriction, ScopePicker } from '../components/scope-picker';
import { Empty, QueryView } from '../components/states';
import { Time } from '../components/time';
import { api, errorMessage } from '../lib/api';
import './access.css';

const KEYS = ['access', 'keys'];

interface CreatedKey {
  id: string;
  prefix: string;
  key: string;
  name: string;
  scopes: string[];
}

type Pending = { kind: 'revoke' | 'pause' | 'resume'; key: KeyRow };

function ScopeList({ scopes }: { scopes: readonly string[] }) {
  return (
    <ul className="scope-list">
      {scopes.map((s) => (
        <li key={s}>
          <code>{s}</code>
        </li>
      ))}
    </ul>
  );
}

function CreateKey({ onCreated }: { onCreated: (k: CreatedKey) => void }) {
  const queries = useQueryClient();
  const { channels } = useChannelChoices();
  const [name, setName] = useState('');
  const [scopes, setScopes] = useState<string[]>([]);
  const [restrict, setRestrict] = useState<string[]>([]);
  const [days, setDays] = useState('');
  const [problem, setProblem] = useState<string>();
  const create = useMutation({
    mutationFn: (body: { name: string; scopes: string[]; channels?: string[]; expires_in_days?: number }) =>
      api<{ id: string; prefix: string; key: string }>('/api/v1/keys', { method: 'POST', body }),
    onSuccess: async (k, body) => {
      await queries.invalidateQueries({ queryKey: KEYS });
      onCreated({ ...k, name: body.name, scopes: body.scopes });
      setName('');
      setScopes([]);
      setRestrict([]);
      setDays('');
    },
  });
  function submit(e: FormEvent) {
    e.preventDefault();
    const chosen = orderedScopes(
      scopes,
      channels.map((c) => c.id),
    );
    if (chosen.length === 0) return setProblem('Choose at least one scope.');
    const d = days.trim() === '' ? undefined : Number(days);
    if (d !== undefined && !(Number.isInteger(d) && d >= 1 && d <= 3650))
      return setProblem('Expiry: a whole number of days from 1 to 3650, or blank for never.');
    setProblem(undefined);
    create.mutate({
      name: name.trim(),
      scopes: chosen,
      ...(restrict.length > 0 ? { channels: restrict } : {}),
      ...(d !== undefined ? { expires_in_days: d } : {}),
    });
  }
  const error = problem ?? (create.error ? errorMessage(create.error) : undefined);
  return (
    <form className="access-form card" onSubmit={submit} aria-labelledby="new-key-h">
      <h2 id="new-key-h">New API key</h2>
      <div className="access-fields">
        <div className="field">
          <label htmlFor="new-key-name">Name</label>
          <input
            id="new-key-name"
            required
            maxLength={100}
            autoComplete="off"
            value={name}
            onChange={(e) => setName(e.target.value)}
            aria-describedby="new-key-name-d"
          />
          <span id="new-key-name-d" className="muted hint">
            Which system uses it, e.g. “lab-sender”.
          </span>
        </div>
        <div className="field">
          <label htmlFor="new-key-days">Expires after (days)</label>
          <input
            id="new-key-days"
            type="number"
            min={1}
            max={3650}
            inputMode="numeric"
            value={days}
            onChange={(e) => setDays(e.target.value)}
            aria-describedby="new-key-days-d"
          />
          <span id="new-key-days-d" className="muted hint">
            Blank: never expires.
          </span>
        </div>
      </div>
      <ScopePicker value={scopes} onChange={setScopes} channels={channels} />
      <ChannelRestriction value={restrict} onChange={setRestrict} channels={channels} />
      {error ? (
        <p className="error" role="alert">
          {error}
        </p>
      ) : null}
      <button type="submit" className="primary" disabled={create.isPending}>
        {create.isPending ? 'Creating…' : 'Create key'}
      </button>
    </form>
  );
}

export function KeyTable({ keys, onAct }: { keys: KeyRow[]; onAct: (p: Pending) => void }) {
  if (keys.length === 0) return <Empty>No API keys. Create one below for a system that calls the API.</Empty>;
  return (
    <div className="table-scroll">
      <table className="access-table">
        <caption className="access-sr-only">API keys</caption>
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">Prefix</th>
            <th scope="col">Scopes</th>
            <th scope="col">Channels</th>
            <th scope="col">State</th>
            <th scope="col">Created</th>
            <th scope="col">Expires</th>
            <th scope="col">Last used</th>
            <th scope="col">Actions</th>
          </tr>
        </thead>
        <tbody>
          {keys.map((k) => {
            const can = credentialActions(k.state);
            return (
              <tr key={k.id} data-key={k.name}>
                <th scope="row">{k.name}</th>
                <td>
                  <code>snw_{k.prefix}_…</code>
                </td>
                <td>
                  <ScopeList scopes={k.scopes} />
                </td>
                <td>{k.channels ? k.channels.join(', ') : <span className="muted">all</span>}</td>
                <td>
                  <span className={`badge ${credentialTone(k.state)}`}>{k.state}</span>
                </td>
                <td>
                  <Time value={k.created_at} />
                  {k.created_by ? <div className="muted access-small">by {k.created_by}</div> : null}
                </td>
                <td>{k.expires_at ? <Time value={k.expires_at} /> : <span className="muted">never</span>}</td>
                <td>
                  {k.last_used_at ? <Time value={k.last_used_at} /> : <span className="muted">never</span>}
                  {k.last_used_from ? (
                    <div className="muted access-small">from {k.last_used_from}</div>
                  ) : null}
                </td>
                <td>
                  <div className="row-actions">
                    {can.pause ? (
                      <button
                        type="button"
                        onClick={() => onAct({ kind: 'pause', key: k })}
                        aria-label={`Pause ${k.name}`}
                      >
                        Pause
                      </button>
                    ) : null}
                    {can.resume ? (
                      <button
                        type="button"
                        onClick={() => onAct({ kind: 'resume', key: k })}
                        aria-label={`Resume ${k.name}`}
                      >
                        Resume
                      </button>
                    ) : null}
                    {can.revoke ? (
                      <button
                        type="button"
                        className="danger"
                        onClick={() => onAct({ kind: 'revoke', key: k })}
                        aria-label={`Revoke ${k.name}`}
                      >
                        Revoke
                      </button>
                    ) : null}
                    {can.revoke ? null : <span className="muted">—</span>}
                  </div>
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

const CONFIRM_TEXT: Record<Pending['kind'], string> = {
  revoke: 'Requests with this key are refused from now on, for good. This cannot be undone.',
  pause: 'Requests with this key are refused until you resume it.',
  resume: 'Requests with this key are accepted again.',
};

/** API keys: for systems that call the API; created with their scopes, the secret shown once. */
function KeysPage() {
  const queries = useQueryClient();
  const keys = useQuery({ queryKey: KEYS, queryFn: () => api<{ items: KeyRow[] }>('/api/v1/keys') });
  const [created, setCreated] = useState<CreatedKey>();
  const [pending, setPending] = useState<Pending>();
  const [hideOld, setHideOld] = useState(false);
  const [notice, setNotice] = useState<string>();
  const act = useMutation({
    mutationFn: (p: Pending) =>
      api<KeyRow>(`/api/v1/keys/${encodeURIComponent(p.key.id)}/${p.kind}`, { method: 'POST' }),
    onSuccess: async (k, p) => {
      await queries.invalidateQueries({ queryKey: KEYS });
      setPending(undefined);
      setNotice(`Key ${p.key.name} is ${k.state}.`);
    },
  });
  const label = { revoke: 'Revoke', pause: 'Pause', resume: 'Resume' } as const;
  return (
    <section className="access-page">
      <h1>API keys</h1>
      <p className="muted">
        Keys let systems call the API (<code>Authorization: Bearer snw_…</code>). The engine keeps only a
        hash; each key has the scopes it was given and no more.
      </p>
      {created ? (
        <AccessSecret
          title={`API key ${created.name} created`}
          secretLabel="The key"
          secret={created.key}
          details={[{ label: 'Prefix', value: `snw_${created.prefix}_…` }]}
          example={{
            label: 'Try it:',
            command: keyCurl(window.location.origin, created.key, created.scopes),
          }}
          onDone={() => setCreated(undefined)}
        />
      ) : null}
      <p className="access-notice" role="status" aria-live="polite">
        {notice ?? ''}
      </p>
      <div className="toolbar">
        <div>
          <input
            id="hide-old-keys"
            type="checkbox"
            checked={hideOld}
            onChange={(e) => setHideOld(e.target.checked)}
          />{' '}
          <label htmlFor="hide-old-keys">Hide revoked and expired keys</label>
        </div>
      </div>
      <QueryView query={keys} what="API keys">
        {(data) => (
          <KeyTable
            keys={
              hideOld ? data.items.filter((k) => k.state === 'active' || k.state === 'paused') : data.items
            }
            onAct={(p) => {
              act.reset();
              setNotice(undefined);
              setPending(p);
            }}
          />
        )}
      </QueryView>
      <CreateKey
        onCreated={(k) => {
          setNotice(undefined);
          setCreated(k);
        }}
      />
      <Confirm
        open={pending !== undefined}
        title={pending ? `${label[pending.kind]} the key ${pending.key.name}?` : ''}
        confirmLabel={pending ? `${label[pending.kind]} key` : ''}
        danger={pending?.kind === 'revoke'}
        busy={act.isPending}
        onCancel={() => setPending(undefined)}
        onConfirm={() => pending && act.mutate(pending)}
      >
        <p>{pending ? CONFIRM_TEXT[pending.kind] : ''}</p>
        {act.error ? (
          <p className="error" role="alert">
            {errorMessage(act.error)}
          </p>
        ) : null}
      </Confirm>
    </section>
  );
}

export default function Keys() {
  useTitle('API keys');
  return (
    <NeedsScope scope="admin" title="API keys">
      <KeysPage />
    </NeedsScope>
  );
}
