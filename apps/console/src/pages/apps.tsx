import { useState } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useTitle } from '../app';
import { NeedsScope } from '../components/access-guard';
import { Confirm } from '../components/confirm';
import { Empty, QueryView } from '../components/states';
import { Time } from '../components/time';
import { api, errorMessage } from '../lib/api';
import './access.css';

const APPS = ['access', 'apps'];

/** An app as `GET /api/v1/apps` lists it. */
export interface AppRow {
  id: string;
  name: string;
  contact?: string;
  environment: 'sandbox' | 'production';
  requested_scopes: string[];
  approved_scopes: string[];
  events: string[];
  grant_reason?: string;
  state: 'pending' | 'active' | 'paused' | 'suspended' | 'revoked';
  state_reason?: string;
  writes_enabled: boolean;
  endpoints?: string[];
  rate_limit: number;
  throttled_until?: string;
  touches: Array<{ resource_type: string; read: boolean; write: boolean }>;
  created_at: string;
  approved_by?: string;
  last_call_at?: string;
}

export type AppAction = 'approve' | 'pause' | 'resume' | 'revoke' | 'reinstate' | 'writes-off' | 'writes-on';

/** The actions an app in this state offers. */
export function appActions(a: Pick<AppRow, 'state' | 'writes_enabled'>): AppAction[] {
  const out: AppAction[] = [];
  if (a.state === 'pending') out.push('approve');
  if (a.state === 'active') out.push('pause');
  if (a.state === 'paused') out.push('resume');
  if (a.state === 'suspended') out.push('reinstate');
  if (a.state !== 'revoked') out.push(a.writes_enabled ? 'writes-off' : 'writes-on', 'revoke');
  return out;
}

const TONE: Record<AppRow['state'], string> = {
  active: 'ok',
  pending: 'warn',
  paused: 'warn',
  suspended: 'bad',
  revoked: 'bad',
};

const LABEL: Record<AppAction, string> = {
  approve: 'Approve',
  pause: 'Pause',
  resume: 'Resume',
  revoke: 'Revoke',
  reinstate: 'Reinstate',
  'writes-off': 'Writes off',
  'writes-on': 'Writes on',
};

const CONFIRM_TEXT: Record<AppAction, string> = {
  approve: 'The app may get tokens carrying every scope it requested.',
  pause: 'The app’s tokens are refused from its next request until you resume it.',
  resume: 'The app’s tokens work again.',
  revoke: 'The app gets no new tokens and its tokens stop working, for good. This cannot be undone.',
  reinstate: 'The app was suspended for misuse. Its tokens work again and its rate limit is restored.',
  'writes-off': 'Every create, update and delete of the app is refused from its next request.',
  'writes-on': 'The app may write again, within its approved scopes.',
};

/** Read (R) and write (W) per resource type. */
function Touches({ touches }: { touches: AppRow['touches'] }) {
  if (touches.length === 0) return <span className="muted">nothing yet</span>;
  return (
    <ul className="scope-list">
      {touches.map((t) => (
        <li key={t.resource_type}>
          <code>{t.resource_type}</code>{' '}
          {[t.read ? 'read' : '', t.write ? 'write' : ''].filter(Boolean).join(' + ')}
        </li>
      ))}
    </ul>
  );
}

export function AppTable({
  apps,
  onAct,
}: {
  apps: AppRow[];
  onAct: (app: AppRow, action: AppAction) => void;
}) {
  if (apps.length === 0)
    return <Empty>No apps. Register one with sinew apps create or POST /api/v1/apps.</Empty>;
  return (
    <div className="table-scroll">
      <table className="access-table">
        <caption className="access-sr-only">Apps of the FHIR API</caption>
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">State</th>
            <th scope="col">Environment</th>
            <th scope="col">Touches</th>
            <th scope="col">Writes</th>
            <th scope="col">Granted because</th>
            <th scope="col">Last call</th>
            <th scope="col">Actions</th>
          </tr>
        </thead>
        <tbody>
          {apps.map((a) => (
            <tr key={a.id} data-app={a.name}>
              <th scope="row">
                {a.name}
                <div className="muted access-small">
                  <code>{a.id}</code>
                </div>
              </th>
              <td>
                <span className={`badge ${TONE[a.state]}`}>{a.state}</span>
                {a.state_reason ? <div className="access-small">{a.state_reason}</div> : null}
                {a.throttled_until ? (
                  <div className="access-small">
                    throttled until <Time value={a.throttled_until} />
                  </div>
                ) : null}
              </td>
              <td>{a.environment}</td>
              <td>
                <Touches touches={a.touches} />
                {a.state === 'pending' ? (
                  <div className="muted access-small">requests {a.requested_scopes.join(' ')}</div>
                ) : null}
              </td>
              <td>{a.writes_enabled ? 'on' : 'off'}</td>
              <td>{a.grant_reason ?? <span className="muted">—</span>}</td>
              <td>
                {a.last_call_at ? <Time value={a.last_call_at} /> : <span className="muted">never</span>}
              </td>
              <td>
                <div className="row-actions">
                  {appActions(a).map((action) => (
                    <button
                      key={action}
                      type="button"
                      className={action === 'revoke' ? 'danger' : undefined}
                      onClick={() => onAct(a, action)}
                      aria-label={`${LABEL[action]} ${a.name}`}
                    >
                      {LABEL[action]}
                    </button>
                  ))}
                  {appActions(a).length === 0 ? <span className="muted">—</span> : null}
                </div>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** The request an action makes. */
export function actionRequest(
  a: AppRow,
  action: AppAction,
  reason: string,
): { path: string; method: 'POST' | 'PUT'; body?: unknown } {
  const base = `/api/v1/apps/${encodeURIComponent(a.id)}`;
  switch (action) {
    case 'approve':
      return { path: `${base}/approve`, method: 'POST', body: { reason } };
    case 'writes-off':
      return { path: `${base}/writes`, method: 'PUT', body: { enabled: false } };
    case 'writes-on':
      return { path: `${base}/writes`, method: 'PUT', body: { enabled: true } };
    case 'revoke':
      return { path: `${base}/revoke`, method: 'POST', body: reason.trim() ? { reason: reason.trim() } : {} };
    default:
      return { path: `${base}/${action}`, method: 'POST' };
  }
}

/** Apps that use the clinic's data through the FHIR API: what each touches, why, and its state. */
function AppsPage() {
  const queries = useQueryClient();
  const apps = useQuery({ queryKey: APPS, queryFn: () => api<{ items: AppRow[] }>('/api/v1/apps') });
  const [pending, setPending] = useState<{ app: AppRow; action: AppAction }>();
  const [reason, setReason] = useState('');
  const [notice, setNotice] = useState<string>();
  const act = useMutation({
    mutationFn: (p: { app: AppRow; action: AppAction }) => {
      const r = actionRequest(p.app, p.action, reason);
      return api<AppRow>(r.path, { method: r.method, ...(r.body !== undefined ? { body: r.body } : {}) });
    },
    onSuccess: async (a) => {
      await queries.invalidateQueries({ queryKey: APPS });
      setPending(undefined);
      setNotice(`App ${a.name} is ${a.state}, writes ${a.writes_enabled ? 'on' : 'off'}.`);
    },
  });
  const suspended = apps.data?.items.filter((a) => a.state === 'suspended') ?? [];
  const needsReason = pending?.action === 'approve';
  return (
    <section className="access-page">
      <h1>Apps</h1>
      <p className="muted">
        Apps that read and write the clinic’s data through the FHIR API (<code>/fhir/R4</code>) with SMART
        scopes an administrator approved. Pausing, revoking or turning writes off acts on the app’s next
        request.
      </p>
      {suspended.length > 0 ? (
        <p className="error" role="alert">
          {suspended.length === 1 ? '1 app is' : `${suspended.length} apps are`} suspended for misuse:{' '}
          {suspended.map((a) => `${a.name} (${a.state_reason ?? 'no reason recorded'})`).join('; ')}.
        </p>
      ) : null}
      <p className="access-notice" role="status" aria-live="polite">
        {notice ?? ''}
      </p>
      <QueryView query={apps} what="apps">
        {(data) => (
          <AppTable
            apps={data.items}
            onAct={(app, action) => {
              act.reset();
              setNotice(undefined);
              setReason('');
              setPending({ app, action });
            }}
          />
        )}
      </QueryView>
      <Confirm
        open={pending !== undefined}
        title={pending ? `${LABEL[pending.action]}: ${pending.app.name}?` : ''}
        confirmLabel={pending ? LABEL[pending.action] : ''}
        danger={pending?.action === 'revoke'}
        busy={act.isPending}
        onCancel={() => setPending(undefined)}
        onConfirm={() => {
          if (!pending || (needsReason && reason.trim() === '')) return;
          act.mutate(pending);
        }}
      >
        <p>{pending ? CONFIRM_TEXT[pending.action] : ''}</p>
        {pending && (needsReason || pending.action === 'revoke') ? (
          <div className="field">
            <label htmlFor="app-reason">
              {needsReason ? 'Why it is granted (required)' : 'Why (optional)'}
            </label>
            <input
              id="app-reason"
              maxLength={500}
              value={reason}
              onChange={(e) => setReason(e.target.value)}
              required={needsReason}
            />
          </div>
        ) : null}
        {act.error ? (
          <p className="error" role="alert">
            {errorMessage(act.error)}
          </p>
        ) : null}
      </Confirm>
    </section>
  );
}

export default function Apps() {
  useTitle('Apps');
  return (
    <NeedsScope scope="admin" title="Apps">
      <AppsPage />
    </NeedsScope>
  );
}
