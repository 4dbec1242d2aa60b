import { useId, useState } from 'react';
import { Link } from 'react-router';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useTitle } from '../app';
import { NeedsScope } from '../components/access-guard';
import { Confirm } from '../components/confirm';
import { Empty, QueryView } from '../components/states';
import { Time } from '../components/time';
import {
  ApiError,
  errorMessage,
  reconcileApi,
  type FlagJson,
  type ReconciliationJson,
  type RunJson,
} from '../lib/api';
import { useSession } from '../lib/session';
import { classLabel, plural, RunStatusBadge, TRIGGER_TEXT } from './reconciliation-classes';
import './reconciliation.css';

const LIST_KEY = ['reconciliations'];

/** The periods a run can be asked for (the reconciliation's own when none is chosen). */
const PERIODS: ReadonlyArray<{ value: string; label: string }> = [
  { value: '', label: 'As declared' },
  { value: 'yesterday', label: 'Yesterday' },
  { value: 'today', label: 'Today' },
  { value: 'last_24h', label: 'Last 24 hours' },
  { value: 'last_7d', label: 'Last 7 days' },
  { value: 'last_30d', label: 'Last 30 days' },
  { value: 'all', label: 'Everything' },
];

function runLink(run: { id: string }): string {
  return `/reconciliations/runs/${encodeURIComponent(run.id)}`;
}

/** The open sync-error flags of every reconciliation, once each. */
export function openFlags(items: ReconciliationJson[]): FlagJson[] {
  const seen = new Map<string, FlagJson>();
  for (const r of items) for (const f of r.flags) if (!f.acknowledgedAt && !seen.has(f.id)) seen.set(f.id, f);
  return [...seen.values()].sort((a, b) => b.raisedAt.localeCompare(a.raisedAt));
}

/** The sync-error flags still open, each with an "Acknowledge" button for those allowed to. */
export function FlagList({
  flags,
  mayAcknowledge,
  onAcknowledge,
}: {
  flags: FlagJson[];
  mayAcknowledge: boolean;
  onAcknowledge?: (f: FlagJson) => void;
}) {
  if (flags.length === 0) return null;
  return (
    <section className="recon-flags" aria-labelledby="recon-flags-title">
      <h2 id="recon-flags-title">Sync-error flags ({flags.length})</h2>
      <p>
        A critical discrepancy was found: systems reading Sinew’s sync status are told it is not safe, and the
        channels named by the reconciliation stay paused, until an operator acknowledges the flag.
      </p>
      <ul>
        {flags.map((f) => (
          <li key={f.id} data-testid="recon-flag">
            <span>
              <strong>{f.reconciliation}</strong>: {plural(f.count, 'record')} of {f.entity}{' '}
              <strong>{classLabel(f.class).toLowerCase()}</strong>, raised <Time value={f.raisedAt} />.
            </span>
            <Link to={runLink({ id: f.runId })}>
              See the run<span className="visually-hidden"> that raised the {f.reconciliation} flag</span>
            </Link>
            {mayAcknowledge ? (
              <button type="button" onClick={() => onAcknowledge?.(f)}>
                Acknowledge<span className="visually-hidden"> the {f.reconciliation} flag</span>
              </button>
            ) : null}
          </li>
        ))}
      </ul>
    </section>
  );
}

/** The last run in a line: its status, period, when, and what it found. */
export function LastRun({ run }: { run: RunJson | undefined }) {
  if (!run) return <span className="muted">never run</span>;
  const entities = run.summary?.entities ?? [];
  return (
    <div className="recon-last-run">
      <p>
        <RunStatusBadge status={run.status} /> {run.period.label}, <Time value={run.startedAt} />{' '}
        <span className="muted">{TRIGGER_TEXT[run.trigger] ?? run.trigger}</span>{' '}
        <Link to={runLink(run)}>
          Open the run<span className="visually-hidden"> of {run.reconciliation}</span>
        </Link>
      </p>
      {run.status === 'failed' ? <p className="error">Failed: {run.error ?? 'no reason recorded'}</p> : null}
      {entities.length > 0 ? (
        <div className="table-scroll">
          <table className="recon-totals recon-totals-small">
            <thead>
              <tr>
                <th scope="col">Entity</th>
                <th scope="col" className="num">
                  Source
                </th>
                <th scope="col" className="num">
                  Sinew ledger
                </th>
                <th scope="col" className="num">
                  Target
                </th>
                <th scope="col" className="num">
                  Matched
                </th>
                <th scope="col" className="num">
                  Discrepancies
                </th>
              </tr>
            </thead>
            <tbody>
              {entities.map((e) => {
                const sum = (c: Record<string, number>) => Object.values(c).reduce((a, b) => a + b, 0);
                const found = Object.values(e.byClass).reduce<number>((a, b) => a + (b ?? 0), 0);
                return (
                  <tr key={e.name}>
                    <th scope="row">{e.name}</th>
                    <td className="num">{sum(e.counts.source).toLocaleString('en')}</td>
                    <td className="num">
                      {e.counts.ledger === undefined ? '—' : e.counts.ledger.toLocaleString('en')}
                    </td>
                    <td className="num">{sum(e.counts.target).toLocaleString('en')}</td>
                    <td className="num">{e.matched.toLocaleString('en')}</td>
                    <td className={found ? 'num recon-differs' : 'num'}>{found.toLocaleString('en')}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      ) : null}
    </div>
  );
}

/** A run just started, followed until it ends. */
function RunFollower({ started }: { started: RunJson }) {
  const queries = useQueryClient();
  const run = useQuery({
    queryKey: ['recon-run', started.id],
    queryFn: async ({ signal }) => {
      const r = await reconcileApi.run(started.id, signal);
      if (r.status !== 'running') void queries.invalidateQueries({ queryKey: LIST_KEY });
      return r;
    },
    initialData: started,
    refetchInterval: (q) => (q.state.data?.status === 'running' ? 1000 : false),
  });
  const r = run.data;
  return (
    <p className="recon-follow" role="status" data-testid="recon-follow">
      {r.status === 'running' ? (
        <>Running ({r.period.label})… </>
      ) : r.status === 'failed' ? (
        <>Run failed: {r.error ?? 'no reason recorded'}. </>
      ) : r.status === 'clean' ? (
        <>Run finished: clean, no discrepancies. </>
      ) : (
        <>Run finished: {plural(r.summary?.discrepancies ?? 0, 'discrepancy', 'discrepancies')}. </>
      )}
      <Link to={runLink(r)}>Open the run</Link>
    </p>
  );
}

/** One reconciliation: what it compares, its schedule, its last run, its recent runs, and "Run now". */
function ReconciliationCard({ r, mayRun }: { r: ReconciliationJson; mayRun: boolean }) {
  const periodId = useId();
  const [period, setPeriod] = useState('');
  const [started, setStarted] = useState<RunJson | undefined>(undefined);
  const runs = useQuery({
    queryKey: ['recon-runs', r.id],
    queryFn: ({ signal }) => reconcileApi.runs(r.id, 6, signal),
  });
  const start = useMutation({
    mutationFn: () => reconcileApi.start(r.id, period || undefined),
    onSuccess: (run) => setStarted(run),
  });
  const titleId = `recon-${r.id}-title`;
  return (
    <section className="card recon-card" aria-labelledby={titleId} data-testid="recon-card">
      <h2 id={titleId}>{r.id}</h2>
      {r.description ? <p>{r.description}</p> : null}
      <dl className="recon-facts">
        <div>
          <dt>Schedule</dt>
          <dd>
            <span className="mono">{r.schedule.cron}</span>{' '}
            <span className="muted">in {r.schedule.timezone}</span>
          </dd>
        </div>
        <div>
          <dt>Next run</dt>
          <dd>
            <Time value={r.schedule.next} />
          </dd>
        </div>
        <div>
          <dt>Period</dt>
          <dd>{r.period ?? '—'}</dd>
        </div>
        <div>
          <dt>Entities</dt>
          <dd>{r.entities.join(', ') || '—'}</dd>
        </div>
      </dl>
      <h3>Last run</h3>
      <LastRun run={r.lastRun} />
      {mayRun ? (
        <div className="toolbar recon-run-now">
          <div className="field">
            <label htmlFor={periodId}>Period</label>
            <select id={periodId} value={period} onChange={(e) => setPeriod(e.target.value)}>
              {PERIODS.map((p) => (
                <option key={p.value} value={p.value}>
                  {p.value === '' && r.period ? `${p.label} (${r.period})` : p.label}
                </option>
              ))}
            </select>
          </div>
          <button
            type="button"
            className="primary"
            onClick={() => start.mutate()}
            disabled={start.isPending || started?.status === 'running'}
          >
            Run now<span className="visually-hidden"> {r.id}</span>
          </button>
        </div>
      ) : null}
      {start.isError ? (
        <p className="error" role="alert">
          {errorMessage(start.error)}
        </p>
      ) : null}
      {started ? <RunFollower key={started.id} started={started} /> : null}
      {runs.data && runs.data.items.length > 1 ? (
        <details className="recon-history">
          <summary>Recent runs</summary>
          <div className="table-scroll">
            <table>
              <thead>
                <tr>
                  <th scope="col">Started</th>
                  <th scope="col">Period</th>
                  <th scope="col">Status</th>
                  <th scope="col" className="num">
                    Discrepancies
                  </th>
                </tr>
              </thead>
              <tbody>
                {runs.data.items.map((run) => (
                  <tr key={run.id}>
                    <td>
                      <Link to={runLink(run)}>
                        <Time value={run.startedAt} />
                      </Link>
                    </td>
                    <td>{run.period.label}</td>
                    <td>
                      <RunStatusBadge status={run.status} />
                    </td>
                    <td className="num">{run.summary?.discrepancies.toLocaleString('en') ?? '—'}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </details>
      ) : null}
    </section>
  );
}

function ReconciliationsPage() {
  const { can } = useSession();
  const queries = useQueryClient();
  const mayRun = can('reconciliations:run');
  const noteId = useId();
  const [acking, setAcking] = useState<FlagJson | undefined>(undefined);
  const [note, setNote] = useState('');
  const [acked, setAcked] = useState<string | undefined>(undefined);
  const list = useQuery({
    queryKey: LIST_KEY,
    queryFn: ({ signal }) => reconcileApi.list(signal),
  });
  const acknowledge = useMutation({
    mutationFn: (f: FlagJson) => reconcileApi.acknowledge(f.id, note.trim() || undefined),
    onSuccess: (_r, f) => {
      setAcking(undefined);
      setNote('');
      setAcked(
        `The ${f.reconciliation} flag (${f.entity}, ${classLabel(f.class).toLowerCase()}) is acknowledged.`,
      );
      void queries.invalidateQueries({ queryKey: LIST_KEY });
    },
  });
  return (
    <section className="recon-page">
      <h1>Reconciliation</h1>
      <p className="muted">
        Each reconciliation compares what the source system (usually the PMS) holds with what the target
        (usually the EHR) holds, and explains every difference with what Sinew received and delivered.
      </p>
      {acked ? (
        <p className="notice recon-notice" role="status">
          {acked}
        </p>
      ) : null}
      {list.error instanceof ApiError && list.error.code === 'reconciliation.none' ? (
        <Empty>
          This engine runs no reconciliations: it found no <span className="mono">reconciliations/</span>{' '}
          folder. Add a reconciliation file there (see the documentation on reconciliation) and restart it.
        </Empty>
      ) : (
        <QueryView query={list} what="reconciliations">
          {(data) => (
            <>
              <FlagList
                flags={openFlags(data.items)}
                mayAcknowledge={mayRun}
                onAcknowledge={(f) => {
                  acknowledge.reset();
                  setAcked(undefined);
                  setAcking(f);
                }}
              />
              {data.items.length === 0 ? (
                <Empty>
                  No reconciliation is declared. Add a file under{' '}
                  <span className="mono">reconciliations/</span> (see the documentation on reconciliation) and
                  restart the engine.
                </Empty>
              ) : (
                <div className="recon-cards">
                  {data.items.map((r) => (
                    <ReconciliationCard key={r.id} r={r} mayRun={mayRun} />
                  ))}
                </div>
              )}
            </>
          )}
        </QueryView>
      )}
      <Confirm
        open={acking !== undefined}
        title="Acknowledge the sync-error flag?"
        confirmLabel="Acknowledge"
        busy={acknowledge.isPending}
        onCancel={() => setAcking(undefined)}
        onConfirm={() => {
          if (acking) acknowledge.mutate(acking);
        }}
      >
        {acking ? (
          <p>
            {acking.reconciliation}: {plural(acking.count, 'record')} of {acking.entity}{' '}
            {classLabel(acking.class).toLowerCase()}. Acknowledging tells systems reading the sync status that
            it is safe again and resumes the channels the flag paused. Do it once the records are put right.
          </p>
        ) : null}
        <div className="field recon-note">
          <label htmlFor={noteId}>Note (optional)</label>
          <textarea id={noteId} rows={3} value={note} onChange={(e) => setNote(e.target.value)} />
        </div>
        {acknowledge.isError ? (
          <p className="error" role="alert">
            {errorMessage(acknowledge.error)}
          </p>
        ) : null}
      </Confirm>
    </section>
  );
}

export default function Reconciliations() {
  useTitle('Reconciliation');
  return (
    <NeedsScope scope="reconciliations:read" title="Reconciliation">
      <ReconciliationsPage />
    </NeedsScope>
  );
}
