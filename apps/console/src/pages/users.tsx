import { useState, type FormEvent } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useTitle } from '../app';
import { NeedsScope } from '../components/access-guard';
import { AccessDialog } from '../components/access-dialog';
import { useChannelChoices } from '../components/access-data';
import { passwordMismatch, userState, type UserRow } from '../components/access-logic';
import { ROLE_DESCRIPTIONS, ROLES, type Role } from '../components/access-scopes';
import { Confirm } from '../components/confirm';
import { ChannelRestriction } from '../components/scope-picker';
import { Empty, QueryView } from '../components/states';
import { Time } from '../components/time';
import { api, errorMessage } from '../lib/api';
import { useSession } from '../lib/session';
import './access.css';

const USERS = ['access', 'users'];

/** What an admin is about to do to one user. */
type Pending =
  | { kind: 'disable' | 'enable'; user: UserRow }
  | { kind: 'password'; user: UserRow }
  | { kind: 'role'; user: UserRow };

function RoleSelect({ id, value, onChange }: { id: string; value: Role; onChange: (r: Role) => void }) {
  return (
    <select
      id={id}
      value={value}
      onChange={(e) => onChange(e.target.value as Role)}
      aria-describedby={`${id}-d`}
    >
      {ROLES.map((r) => (
        <option key={r} value={r}>
          {r}
        </option>
      ))}
    </select>
  );
}

function CreateUser({ onCreated }: { onCreated: (username: string) => void }) {
  const queries = useQueryClient();
  const { channels } = useChannelChoices();
  const [username, setUsername] = useState('');
  const [role, setRole] = useState<Role>('viewer');
  const [password, setPassword] = useState('');
  const [confirmation, setConfirmation] = useState('');
  const [restrict, setRestrict] = useState<string[]>([]);
  const [problem, setProblem] = useState<string>();
  const create = useMutation({
    mutationFn: () =>
      api<{ id: string }>('/api/v1/users', {
        method: 'POST',
        body: {
          username: username.trim(),
          role,
          password,
          ...(restrict.length > 0 ? { channels: restrict } : {}),
        },
      }),
    onSuccess: async () => {
      await queries.invalidateQueries({ queryKey: USERS });
      onCreated(username.trim());
      setUsername('');
      setPassword('');
      setConfirmation('');
      setRestrict([]);
    },
  });
  function submit(e: FormEvent) {
    e.preventDefault();
    const mismatch = passwordMismatch(password, confirmation);
    setProblem(mismatch);
    if (!mismatch) create.mutate();
  }
  const error = problem ?? (create.error ? errorMessage(create.error) : undefined);
  return (
    <form className="access-form card" onSubmit={submit} aria-labelledby="new-user-h">
      <h2 id="new-user-h">New user</h2>
      <div className="access-fields">
        <div className="field">
          <label htmlFor="new-user-name">Username</label>
          <input
            id="new-user-name"
            autoComplete="off"
            required
            maxLength={64}
            value={username}
            onChange={(e) => setUsername(e.target.value)}
          />
        </div>
        <div className="field">
          <label htmlFor="new-user-role">Role</label>
          <RoleSelect id="new-user-role" value={role} onChange={setRole} />
          <span id="new-user-role-d" className="muted hint">
            {ROLE_DESCRIPTIONS[role]}
          </span>
        </div>
        <div className="field">
          <label htmlFor="new-user-password">Password</label>
          <input
            id="new-user-password"
            type="password"
            autoComplete="new-password"
            required
            value={password}
            onChange={(e) => setPassword(e.target.value)}
            aria-describedby="new-user-password-d"
          />
          <span id="new-user-password-d" className="muted hint">
            At least 12 characters.
          </span>
        </div>
        <div className="field">
          <label htmlFor="new-user-password2">Confirm password</label>
          <input
            id="new-user-password2"
            type="password"
            autoComplete="new-password"
            required
            value={confirmation}
            onChange={(e) => setConfirmation(e.target.value)}
          />
        </div>
      </div>
      <ChannelRestriction value={restrict} onChange={setRestrict} channels={channels} />
      {error ? (
        <p className="error" role="alert">
          {error}
        </p>
      ) : null}
      <button type="submit" className="primary" disabled={create.isPending}>
        {create.isPending ? 'Creating…' : 'Create user'}
      </button>
    </form>
  );
}

export function UserTable({
  users,
  me,
  onAct,
}: {
  users: UserRow[];
  me: string | undefined;
  onAct: (p: Pending) => void;
}) {
  if (users.length === 0) return <Empty>No users yet. Create the first one below.</Empty>;
  return (
    <div className="table-scroll">
      <table className="access-table">
        <caption className="access-sr-only">Users</caption>
        <thead>
          <tr>
            <th scope="col">Username</th>
            <th scope="col">Role</th>
            <th scope="col">State</th>
            <th scope="col">Last sign-in</th>
            <th scope="col">Created</th>
            <th scope="col">Actions</th>
          </tr>
        </thead>
        <tbody>
          {users.map((u) => {
            const st = userState(u);
            return (
              <tr key={u.id} data-user={u.username}>
                <th scope="row">
                  {u.username}
                  {u.username === me ? <span className="muted"> (you)</span> : null}
                  {u.sso ? <span className="badge access-tag">single sign-on</span> : null}
                </th>
                <td>
                  {u.role}
                  {u.channels ? (
                    <div className="muted access-small">channels: {u.channels.join(', ')}</div>
                  ) : null}
                </td>
                <td>
                  <span className={`badge ${st.tone}`}>{st.label}</span>
                  {st.lockedUntil ? (
                    <>
                      {' '}
                      <Time value={st.lockedUntil} />
                    </>
                  ) : null}
                </td>
                <td>
                  <Time value={u.last_login_at} />
                </td>
                <td>
                  <Time value={u.created_at} />
                </td>
                <td>
                  <div className="row-actions">
                    {u.sso ? (
                      <span className="muted access-small">role and password from the identity provider</span>
                    ) : (
                      <>
                        <button
                          type="button"
                          onClick={() => onAct({ kind: 'role', user: u })}
                          aria-label={`Change role of ${u.username}`}
                        >
                          Change role
                        </button>
                        <button
                          type="button"
                          onClick={() => onAct({ kind: 'password', user: u })}
                          aria-label={`Reset password of ${u.username}`}
                        >
                          Reset password
                        </button>
                      </>
                    )}
                    {u.state === 'active' ? (
                      <button
                        type="button"
                        onClick={() => onAct({ kind: 'disable', user: u })}
                        aria-label={`Disable ${u.username}`}
                      >
                        Disable
                      </button>
                    ) : (
                      <button
                        type="button"
                        onClick={() => onAct({ kind: 'enable', user: u })}
                        aria-label={`Enable ${u.username}`}
                      >
                        Enable
                      </button>
                    )}
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

/** The dialogs for one user: disable/enable (a confirmation), a new password, a new role. */
function UserActions({
  pending,
  onClose,
  onDone,
}: {
  pending: Pending | undefined;
  onClose: () => void;
  onDone: (s: string) => void;
}) {
  const queries = useQueryClient();
  const [password, setPassword] = useState('');
  const [confirmation, setConfirmation] = useState('');
  const [role, setRole] = useState<Role>('viewer');
  const [problem, setProblem] = useState<string>();
  const [forUser, setForUser] = useState<string>();
  // A new user chosen: the forms start afresh.
  if (pending && pending.user.id + pending.kind !== forUser) {
    setForUser(pending.user.id + pending.kind);
    setPassword('');
    setConfirmation('');
    setRole(
      (ROLES as readonly string[]).includes(pending.user.role) ? (pending.user.role as Role) : 'viewer',
    );
    setProblem(undefined);
  }
  const act = useMutation({
    mutationFn: (p: Pending) => {
      const path = `/api/v1/users/${encodeURIComponent(p.user.id)}`;
      if (p.kind === 'password')
        return api<UserRow>(`${path}/password`, { method: 'POST', body: { password } });
      if (p.kind === 'role') return api<UserRow>(`${path}/role`, { method: 'POST', body: { role } });
      return api<UserRow>(`${path}/${p.kind}`, { method: 'POST' });
    },
    onSuccess: async (_u, p) => {
      await queries.invalidateQueries({ queryKey: USERS });
      const what =
        p.kind === 'password'
          ? `New password set for ${p.user.username}.`
          : p.kind === 'role'
            ? `${p.user.username} is now ${role}.`
            : `${p.user.username} is ${p.kind}d.`;
      act.reset();
      setForUser(undefined);
      onDone(what);
    },
  });
  const close = () => {
    act.reset();
    setForUser(undefined);
    onClose();
  };
  const error = problem ?? (act.error ? errorMessage(act.error) : undefined);
  const u = pending?.user;
  return (
    <>
      <Confirm
        open={pending?.kind === 'disable' || pending?.kind === 'enable'}
        title={pending?.kind === 'enable' ? `Enable ${u?.username ?? ''}?` : `Disable ${u?.username ?? ''}?`}
        confirmLabel={pending?.kind === 'enable' ? 'Enable' : 'Disable'}
        danger={pending?.kind === 'disable'}
        busy={act.isPending}
        onCancel={close}
        onConfirm={() => pending && act.mutate(pending)}
      >
        <p>
          {pending?.kind === 'enable'
            ? 'They can sign in again with their password.'
            : 'They cannot sign in any more, and their open sessions end. You can enable them again.'}
        </p>
        {act.error ? (
          <p className="error" role="alert">
            {errorMessage(act.error)}
          </p>
        ) : null}
      </Confirm>
      <AccessDialog
        open={pending?.kind === 'password'}
        title={`New password for ${u?.username ?? ''}`}
        submitLabel="Set password"
        busy={act.isPending}
        error={error}
        onCancel={close}
        onSubmit={() => {
          const mismatch = passwordMismatch(password, confirmation);
          setProblem(mismatch);
          if (!mismatch && pending) act.mutate(pending);
        }}
      >
        <p className="muted">
          At least 12 characters. Setting a password lifts a lockout and ends their open sessions.
        </p>
        <div className="field">
          <label htmlFor="reset-password">New password</label>
          <input
            id="reset-password"
            type="password"
            autoComplete="new-password"
            required
            value={password}
            onChange={(e) => setPassword(e.target.value)}
          />
        </div>
        <div className="field">
          <label htmlFor="reset-password2">Confirm new password</label>
          <input
            id="reset-password2"
            type="password"
            autoComplete="new-password"
            required
            value={confirmation}
            onChange={(e) => setConfirmation(e.target.value)}
          />
        </div>
      </AccessDialog>
      <AccessDialog
        open={pending?.kind === 'role'}
        title={`Role of ${u?.username ?? ''}`}
        submitLabel="Change role"
        busy={act.isPending}
        error={error}
        onCancel={close}
        onSubmit={() => pending && act.mutate(pending)}
      >
        <div className="field">
          <label htmlFor="change-role">Role</label>
          <RoleSelect id="change-role" value={role} onChange={setRole} />
          <span id="change-role-d" className="muted hint">
            {ROLE_DESCRIPTIONS[role]}
          </span>
        </div>
      </AccessDialog>
    </>
  );
}

/** Users: who may sign in, with which role; create, disable and enable, new password, new role. */
function UsersPage() {
  const { who } = useSession();
  const users = useQuery({
    queryKey: USERS,
    queryFn: () => api<{ items: UserRow[] }>('/api/v1/users'),
  });
  const [pending, setPending] = useState<Pending>();
  const [notice, setNotice] = useState<string>();
  return (
    <section className="access-page">
      <h1>Users</h1>
      <p className="muted">
        People who sign in to the console and the API. A role decides what they may do; an API key or OAuth
        client is for a system.
      </p>
      <p className="access-notice" role="status" aria-live="polite">
        {notice ?? ''}
      </p>
      <QueryView query={users} what="users">
        {(data) => (
          <UserTable
            users={data.items}
            me={who?.kind === 'user' ? who.name : undefined}
            onAct={(p) => {
              setNotice(undefined);
              setPending(p);
            }}
          />
        )}
      </QueryView>
      <CreateUser onCreated={(name) => setNotice(`User ${name} created.`)} />
      <UserActions
        pending={pending}
        onClose={() => setPending(undefined)}
        onDone={(s) => {
          setPending(undefined);
          setNotice(s);
        }}
      />
    </section>
  );
}

export default function Users() {
  useTitle('Users');
  return (
    <NeedsScope scope="admin" title="Users">
      <UsersPage />
    </NeedsScope>
  );
}
