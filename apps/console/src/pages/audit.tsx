import { useState, type FormEvent } from 'react';
import { useInfiniteQuery, useMutation } from '@tanstack/react-query';
import { useSearchParams } from 'react-router';
import { useTitle } from '../app';
import { NeedsScope } from '../components/access-guard';
import {
  auditFiltersFrom,
  auditFiltersQuery,
  isoToLocalInput,
  localInputToIso,
  outcomeLabel,
  outcomeTone,
  type AuditFilters,
  type AuditRow,
} from '../components/access-logic';
import { Empty, ErrorBox, Loading } from '../components/states';
import { Time } from '../components/time';
import { api, downloadUrl, errorMessage } from '../lib/api';
import './access.css';

const PAGE_SIZE = 100;

/** Operations people often look for (the field takes any operation, exactly as recorded). */
const COMMON_ACTIONS = [
  'POST /api/v1/session',
  'POST /api/v1/keys',
  'POST /api/v1/keys/{id}/revoke',
  'POST /api/v1/keys/{id}/pause',
  'POST /api/v1/keys/{id}/resume',
  'POST /api/v1/users',
  'POST /api/v1/users/{id}/disable',
  'POST /api/v1/users/{id}/enable',
  'POST /api/v1/users/{id}/password',
  'POST /api/v1/users/{id}/role',
  'POST /api/v1/clients',
  'POST /api/v1/clients/{id}/revoke',
  'GET /api/v1/messages',
  'GET /api/v1/messages/{id}',
  'POST /api/v1/channels/{id}/pause',
  'POST /api/v1/channels/{id}/resume',
  'POST /api/v1/channels/deploy',
  'POST /api/v1/channels/{id}/rollback',
  'GET /api/v1/audit/export',
];

interface AuditPage {
  items: AuditRow[];
  next_cursor: string | null;
}

interface Verification {
  ok: boolean;
  rows: number;
  first_broken?: { seq: number; reason: string };
}

function Filters({ filters, onApply }: { filters: AuditFilters; onApply: (f: AuditFilters) => void }) {
  const [actor, setActor] = useState(filters.actor ?? '');
  const [action, setAction] = useState(filters.action ?? '');
  const [since, setSince] = useState(isoToLocalInput(filters.since));
  const [until, setUntil] = useState(isoToLocalInput(filters.until));
  function submit(e: FormEvent) {
    e.preventDefault();
    const f: AuditFilters = {};
    if (actor.trim()) f.actor = actor.trim();
    if (action.trim()) f.action = action.trim();
    const s = localInputToIso(since);
    const u = localInputToIso(until);
    if (s) f.since = s;
    if (u) f.until = u;
    onApply(f);
  }
  return (
    <form className="toolbar audit-filters" onSubmit={submit} role="search" aria-label="Audit log filters">
      <div className="field">
        <label htmlFor="audit-actor">Actor</label>
        <input id="audit-actor" value={actor} onChange={(e) => setActor(e.target.value)} autoComplete="off" />
      </div>
      <div className="field audit-action">
        <label htmlFor="audit-action">Action</label>
        <input
          id="audit-action"
          list="audit-actions"
          value={action}
          onChange={(e) => setAction(e.target.value)}
          placeholder="e.g. POST /api/v1/keys"
          autoComplete="off"
        />
        <datalist id="audit-actions">
          {COMMON_ACTIONS.map((a) => (
            <option key={a} value={a} />
          ))}
        </datalist>
      </div>
      <div className="field">
        <label htmlFor="audit-since">Since</label>
        <input
          id="audit-since"
          type="datetime-local"
          value={since}
          onChange={(e) => setSince(e.target.value)}
        />
      </div>
      <div className="field">
        <label htmlFor="audit-until">Until</label>
        <input
          id="audit-until"
          type="datetime-local"
          value={until}
          onChange={(e) => setUntil(e.target.value)}
        />
      </div>
      <button type="submit" className="primary">
        Apply filters
      </button>
      <button type="button" onClick={() => onApply({})}>
        Clear
      </button>
    </form>
  );
}

function Objects({ row }: { row: AuditRow }) {
  const filter = row.filter ? Object.entries(row.filter) : [];
  if (row.object_ids.length === 0 && filter.length === 0) return <span className="muted">—</span>;
  return (
    <>
      {row.object_ids.map((id) => (
        <div key={id}>
          <code>{id}</code>
        </div>
      ))}
      {filter.length > 0 ? (
        <div className="muted access-small">filter: {filter.map(([k, v]) => `${k}=${v}`).join(', ')}</div>
      ) : null}
    </>
  );
}

export function AuditTable({ rows }: { rows: AuditRow[] }) {
  return (
    <div className="table-scroll">
      <table className="access-table audit-table">
        <caption className="access-sr-only">Audit events, newest first</caption>
        <thead>
          <tr>
            <th scope="col">Time</th>
            <th scope="col">Actor</th>
            <th scope="col">Action</th>
            <th scope="col">Objects</th>
            <th scope="col">Outcome</th>
            <th scope="col">From</th>
            <th scope="col">Content read</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((r) => (
            <tr key={r.seq} data-seq={r.seq}>
              <td>
                <Time value={r.at} />
              </td>
              <td>
                {r.actor} <span className="badge access-tag">{r.actor_kind}</span>
                {r.via ? <div className="muted access-small">via {r.via}</div> : null}
              </td>
              <td>
                <code>{r.action}</code>
              </td>
              <td>
                <Objects row={r} />
              </td>
              <td>
                <span className={`badge ${outcomeTone(r.outcome)}`}>{outcomeLabel(r.outcome)}</span>
              </td>
              <td>{r.from ?? <span className="muted">—</span>}</td>
              <td>
                {r.content_read ? (
                  <span className="badge warn">content read</span>
                ) : (
                  <span className="muted">no</span>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function VerifyChain() {
  const verify = useMutation({ mutationFn: () => api<Verification>('/api/v1/audit/verify') });
  const v = verify.data;
  return (
    <div className="audit-verify">
      <button type="button" onClick={() => verify.mutate()} disabled={verify.isPending}>
        {verify.isPending ? 'Verifying…' : 'Verify chain'}
      </button>
      <span role="status" aria-live="polite" className="audit-verify-result">
        {verify.error ? (
          <span className="error">{errorMessage(verify.error)}</span>
        ) : v ? (
          v.ok ? (
            <span>
              <span className="badge ok">OK</span> The hash chain is whole: {v.rows.toLocaleString()} rows
              checked.
            </span>
          ) : (
            <span>
              <span className="badge bad">Broken</span> {v.rows.toLocaleString()} rows checked; the chain
              breaks at row {v.first_broken?.seq ?? '?'}: {v.first_broken?.reason ?? 'unknown reason'}.
            </span>
          )
        ) : null}
      </span>
    </div>
  );
}

/** The audit log: who did what, when and from where; filtered, paged, exported, its chain checked. */
function AuditPage() {
  const [params, setParams] = useSearchParams();
  const filters = auditFiltersFrom(params);
  const query = auditFiltersQuery(filters);
  const log = useInfiniteQuery({
    queryKey: ['audit', query],
    queryFn: ({ pageParam, signal }) =>
      api<AuditPage>('/api/v1/audit', { query: { ...query, limit: PAGE_SIZE, cursor: pageParam }, signal }),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (last) => last.next_cursor ?? undefined,
  });
  const rows = log.data?.pages.flatMap((p) => p.items) ?? [];
  const range = { since: filters.since, until: filters.until };
  const filtered = Object.keys(query).length > 0;
  return (
    <section className="access-page">
      <h1>Audit log</h1>
      <p className="muted">
        Every call to the API, newest first: who, which operation, on what, the answer, and whether message
        content was read. Each row is chained to the one before by its hash.
      </p>
      <Filters key={params.toString()} filters={filters} onApply={(f) => setParams(auditFiltersQuery(f))} />
      <div className="toolbar audit-tools">
        <VerifyChain />
        <div className="audit-export">
          <span id="audit-export-l">Export{filters.since || filters.until ? ' (this time range)' : ''}:</span>{' '}
          <a
            className="button"
            href={downloadUrl('/api/v1/audit/export', { format: 'csv', ...range })}
            download
          >
            CSV
          </a>{' '}
          <a
            className="button"
            href={downloadUrl('/api/v1/audit/export', { format: 'ndjson', ...range })}
            download
          >
            NDJSON
          </a>
        </div>
      </div>
      {log.isPending ? (
        <Loading what="Loading the audit log" />
      ) : log.error && rows.length === 0 ? (
        <ErrorBox error={log.error} retry={() => void log.refetch()} />
      ) : rows.length === 0 ? (
        <Empty>{filtered ? 'No audit events match these filters.' : 'The audit log is empty.'}</Empty>
      ) : (
        <>
          <AuditTable rows={rows} />
          <p className="audit-more">
            <span className="muted">
              {rows.length.toLocaleString()} event{rows.length === 1 ? '' : 's'} shown
              {log.hasNextPage ? '; older ones remain' : ''}.
            </span>{' '}
            {log.hasNextPage ? (
              <button
                type="button"
                onClick={() => void log.fetchNextPage()}
                disabled={log.isFetchingNextPage}
              >
                {log.isFetchingNextPage ? 'Loading…' : 'Load more'}
              </button>
            ) : null}
          </p>
          {log.error ? <ErrorBox error={log.error} retry={() => void log.fetchNextPage()} /> : null}
        </>
      )}
    </section>
  );
}

export default function Audit() {
  useTitle('Audit log');
  return (
    <NeedsScope scope="audit:read" title="Audit log">
      <AuditPage />
    </NeedsScope>
  );
}
