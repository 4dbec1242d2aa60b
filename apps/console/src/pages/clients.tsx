import { useState, type FormEvent } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useTitle } from '../app';
import { NeedsScope } from '../components/access-guard';
import { useChannelChoices } from '../components/access-data';
import { clientCurl, credentialActions, credentialTone, type ClientRow } from '../components/access-logic';
import { orderedScopes } from '../components/access-scopes';
import { AccessSecret } from '../components/access-secret';
import { Confirm } from '../components/confirm';
import { ChannelRestriction, ScopePicker } from '../components/scope-picker';
import { Empty, QueryView } from '../components/states';
import { Time } from '../components/time';
import { api, errorMessage } from '../lib/api';
import './access.css';

const CLIENTS = ['access', 'clients'];

interface Registered {
  client_id: string;
  client_secret?: string;
  name: string;
}

type Pending = { kind: 'revoke' | 'pause' | 'resume'; client: ClientRow };

const AUTH_LABEL: Record<ClientRow['auth'], string> = {
  client_secret: 'client secret',
  private_key_jwt: 'private key (JWT)',
};

function RegisterClient({ onRegistered }: { onRegistered: (c: Registered) => void }) {
  const queries = useQueryClient();
  const { channels } = useChannelChoices();
  const [name, setName] = useState('');
  const [scopes, setScopes] = useState<string[]>([]);
  const [restrict, setRestrict] = useState<string[]>([]);
  const [auth, setAuth] = useState<ClientRow['auth']>('client_secret');
  const [publicKey, setPublicKey] = useState('');
  const [problem, setProblem] = useState<string>();
  const register = useMutation({
    mutationFn: (body: { name: string; scopes: string[]; channels?: string[]; public_key?: string }) =>
      api<{ client_id: string; client_secret?: string }>('/api/v1/clients', { method: 'POST', body }),
    onSuccess: async (c, body) => {
      await queries.invalidateQueries({ queryKey: CLIENTS });
      onRegistered({ ...c, name: body.name });
      setName('');
      setScopes([]);
      setRestrict([]);
      setPublicKey('');
    },
  });
  function submit(e: FormEvent) {
    e.preventDefault();
    const chosen = orderedScopes(
      scopes,
      channels.map((c) => c.id),
    );
    if (chosen.length === 0) return setProblem('Choose at least one scope.');
    if (auth === 'private_key_jwt' && publicKey.trim() === '')
      return setProblem('Paste the client’s public key (a JWK or PEM).');
    setProblem(undefined);
    register.mutate({
      name: name.trim(),
      scopes: chosen,
      ...(restrict.length > 0 ? { channels: restrict } : {}),
      ...(auth === 'private_key_jwt' ? { public_key: publicKey.trim() } : {}),
    });
  }
  const error = problem ?? (register.error ? errorMessage(register.error) : undefined);
  return (
    <form className="access-form card" onSubmit={submit} aria-labelledby="new-client-h">
      <h2 id="new-client-h">Register a client</h2>
      <div className="access-fields">
        <div className="field">
          <label htmlFor="new-client-name">Name</label>
          <input
            id="new-client-name"
            required
            maxLength={100}
            autoComplete="off"
            value={name}
            onChange={(e) => setName(e.target.value)}
          />
        </div>
      </div>
      <fieldset className="access-auth">
        <legend>How the client authenticates</legend>
        <div>
          <input
            type="radio"
            id="client-auth-secret"
            name="client-auth"
            checked={auth === 'client_secret'}
            onChange={() => setAuth('client_secret')}
          />{' '}
          <label htmlFor="client-auth-secret">Client secret</label>{' '}
          <span className="muted">
            (client_secret_basic or client_secret_post; the engine makes the secret)
          </span>
        </div>
        <div>
          <input
            type="radio"
            id="client-auth-jwt"
            name="client-auth"
            checked={auth === 'private_key_jwt'}
            onChange={() => setAuth('private_key_jwt')}
          />{' '}
          <label htmlFor="client-auth-jwt">Private key</label>{' '}
          <span className="muted">(private_key_jwt: the client signs an assertion; no secret)</span>
        </div>
        {auth === 'private_key_jwt' ? (
          <div className="field">
            <label htmlFor="new-client-key">Public key (JWK or PEM)</label>
            <textarea
              id="new-client-key"
              rows={6}
              spellCheck={false}
              value={publicKey}
              onChange={(e) => setPublicKey(e.target.value)}
            />
          </div>
        ) : null}
      </fieldset>
      <ScopePicker value={scopes} onChange={setScopes} channels={channels} />
      <ChannelRestriction value={restrict} onChange={setRestrict} channels={channels} />
      {error ? (
        <p className="error" role="alert">
          {error}
        </p>
      ) : null}
      <button type="submit" className="primary" disabled={register.isPending}>
        {register.isPending ? 'Registering…' : 'Register client'}
      </button>
    </form>
  );
}

function ClientTable({ clients, onAct }: { clients: ClientRow[]; onAct: (p: Pending) => void }) {
  if (clients.length === 0)
    return (
      <Empty>No OAuth clients. Register one below for a system that gets tokens by client credentials.</Empty>
    );
  return (
    <div className="table-scroll">
      <table className="access-table">
        <caption className="access-sr-only">OAuth clients</caption>
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">Client id</th>
            <th scope="col">Authentication</th>
            <th scope="col">Scopes</th>
            <th scope="col">Channels</th>
            <th scope="col">State</th>
            <th scope="col">Created</th>
            <th scope="col">Last used</th>
            <th scope="col">Actions</th>
          </tr>
        </thead>
        <tbody>
          {clients.map((c) => {
            const can = credentialActions(c.state);
            return (
              <tr key={c.id} data-client={c.name}>
                <th scope="row">{c.name}</th>
                <td>
                  <code>{c.id}</code>
                </td>
                <td>{AUTH_LABEL[c.auth] ?? c.auth}</td>
                <td>
                  <ul className="scope-list">
                    {c.scopes.map((s) => (
                      <li key={s}>
                        <code>{s}</code>
                      </li>
                    ))}
                  </ul>
                </td>
                <td>{c.channels ? c.channels.join(', ') : <span className="muted">all</span>}</td>
                <td>
                  <span className={`badge ${credentialTone(c.state)}`}>{c.state}</span>
                </td>
                <td>
                  <Time value={c.created_at} />
                  {c.created_by ? <div className="muted access-small">by {c.created_by}</div> : null}
                </td>
                <td>
                  {c.last_used_at ? <Time value={c.last_used_at} /> : <span className="muted">never</span>}
                  {c.last_used_from ? (
                    <div className="muted access-small">from {c.last_used_from}</div>
                  ) : null}
                </td>
                <td>
                  <div className="row-actions">
                    {can.pause ? (
                      <button
                        type="button"
                        onClick={() => onAct({ kind: 'pause', client: c })}
                        aria-label={`Pause ${c.name}`}
                      >
                        Pause
                      </button>
                    ) : null}
                    {can.resume ? (
                      <button
                        type="button"
                        onClick={() => onAct({ kind: 'resume', client: c })}
                        aria-label={`Resume ${c.name}`}
                      >
                        Resume
                      </button>
                    ) : null}
                    {can.revoke ? (
                      <button
                        type="button"
                        className="danger"
                        onClick={() => onAct({ kind: 'revoke', client: c })}
                        aria-label={`Revoke ${c.name}`}
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
  revoke: 'The client gets no new tokens and its tokens stop working, for good. This cannot be undone.',
  pause: 'The client gets no new tokens and its tokens are refused until you resume it.',
  resume: 'The client may get tokens again, and its tokens work again.',
};

/** OAuth2 clients (client credentials): registered with their scopes, a secret shown once. */
function ClientsPage() {
  const queries = useQueryClient();
  const clients = useQuery({
    queryKey: CLIENTS,
    queryFn: () => api<{ items: ClientRow[] }>('/api/v1/clients'),
  });
  const [registered, setRegistered] = useState<Registered>();
  const [pending, setPending] = useState<Pending>();
  const [notice, setNotice] = useState<string>();
  const act = useMutation({
    mutationFn: (p: Pending) =>
      api<ClientRow>(`/api/v1/clients/${encodeURIComponent(p.client.id)}/${p.kind}`, { method: 'POST' }),
    onSuccess: async (c, p) => {
      await queries.invalidateQueries({ queryKey: CLIENTS });
      setPending(undefined);
      setNotice(`Client ${p.client.name} is ${c.state}.`);
    },
  });
  const label = { revoke: 'Revoke', pause: 'Pause', resume: 'Resume' } as const;
  return (
    <section className="access-page">
      <h1>OAuth clients</h1>
      <p className="muted">
        Systems that get short-lived access tokens from <code>/oauth/token</code> (client credentials grant),
        by a secret or by a signed assertion.
      </p>
      {registered ? (
        registered.client_secret ? (
          <AccessSecret
            title={`Client ${registered.name} registered`}
            secretLabel="The client secret"
            secret={registered.client_secret}
            details={[{ label: 'Client id', value: registered.client_id }]}
            example={{
              label: 'Get a token:',
              command: clientCurl(window.location.origin, registered.client_id, registered.client_secret),
            }}
            onDone={() => setRegistered(undefined)}
          />
        ) : (
          <section className="access-secret" aria-labelledby="registered-h">
            <h2 id="registered-h">Client {registered.name} registered</h2>
            <p>
              Client id: <code>{registered.client_id}</code>. It signs its assertions with its private key;
              there is no secret.
            </p>
            <button type="button" onClick={() => setRegistered(undefined)}>
              Close
            </button>
          </section>
        )
      ) : null}
      <p className="access-notice" role="status" aria-live="polite">
        {notice ?? ''}
      </p>
      <QueryView query={clients} what="OAuth clients">
        {(data) => (
          <ClientTable
            clients={data.items}
            onAct={(p) => {
              act.reset();
              setNotice(undefined);
              setPending(p);
            }}
          />
        )}
      </QueryView>
      <RegisterClient
        onRegistered={(c) => {
          setNotice(undefined);
          setRegistered(c);
        }}
      />
      <Confirm
        open={pending !== undefined}
        title={pending ? `${label[pending.kind]} the client ${pending.client.name}?` : ''}
        confirmLabel={pending ? `${label[pending.kind]} client` : ''}
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

export default function Clients() {
  useTitle('OAuth clients');
  return (
    <NeedsScope scope="admin" title="OAuth clients">
      <ClientsPage />
    </NeedsScope>
  );
}
