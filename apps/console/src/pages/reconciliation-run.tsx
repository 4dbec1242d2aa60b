import { useState, type KeyboardEvent, type ReactNode } from 'react';
import { Link, useParams, useSearchParams } from 'react-router';
import { useInfiniteQuery, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useTitle } from '../app';
import { NeedsScope } from '../components/access-guard';
import { Confirm } from '../components/confirm';
import { Empty, ErrorBox, Loading, QueryView } from '../components/states';
import { Time } from '../components/time';
import {
  errorMessage,
  reconcileApi,
  type DiscrepancyClass,
  type DiscrepancyJson,
  type EntitySummaryJson,
  type FieldDifferenceJson,
  type RawValue,
  type RepairActionJson,
  type RunJson,
  type SideRecordJson,
} from '../lib/api';
import { useSession } from '../lib/session';
import {
  CLASS_INFO,
  classCounts,
  classLabel,
  durationBetween,
  kindText,
  plural,
  REPAIRABLE,
  RunStatusBadge,
  TRIGGER_TEXT,
} from './reconciliation-classes';
import './reconciliation.css';

/** What the console shows in place of a value the API left out (the caller lacks phi:read). */
export const HIDDEN = 'hidden (needs phi:read)';

/** The key as the API gave it, or a note that it is hidden (the API masks it as `…`). */
function KeyText({ value }: { value: string }) {
  if (value === '…' || value === '') return <span className="recon-hidden">{HIDDEN}</span>;
  return <span className="mono">{value}</span>;
}

/** A value read from a side: hidden (omitted by the API), no value, or the value itself. */
export function ValueText({ value }: { value: RawValue | undefined }) {
  if (value === undefined) return <span className="recon-hidden">{HIDDEN}</span>;
  if (value === null || value === '') return <span className="muted">(no value)</span>;
  return <span className="mono">{String(value)}</span>;
}

// ---------------------------------------------------------------------------------------------
// The run: facts and totals.

export function RunFacts({ run }: { run: RunJson }) {
  const took = durationBetween(run.startedAt, run.finishedAt);
  return (
    <>
      <dl className="recon-facts">
        <div>
          <dt>Status</dt>
          <dd>
            <RunStatusBadge status={run.status} />
          </dd>
        </div>
        <div>
          <dt>Period</dt>
          <dd>
            {run.period.label}
            {run.period.from || run.period.to ? (
              <span className="recon-sub">
                from <Time value={run.period.from} /> to <Time value={run.period.to} />
              </span>
            ) : (
              <span className="recon-sub">every record, whenever it changed</span>
            )}
          </dd>
        </div>
        <div>
          <dt>Started</dt>
          <dd>
            <Time value={run.startedAt} />{' '}
            <span className="muted">{TRIGGER_TEXT[run.trigger] ?? run.trigger}</span>
          </dd>
        </div>
        <div>
          <dt>Finished</dt>
          <dd>
            {run.finishedAt ? <Time value={run.finishedAt} /> : <span className="muted">not yet</span>}
            {took ? <span className="recon-sub">took {took}</span> : null}
          </dd>
        </div>
        {run.summary ? (
          <div>
            <dt>Discrepancies</dt>
            <dd>{run.summary.discrepancies.toLocaleString('en')}</dd>
          </div>
        ) : null}
      </dl>
      {run.status === 'failed' ? (
        <div className="state state-error recon-failure" role="alert">
          <p>
            <strong>The run failed</strong>
            {run.error ? `: ${run.error}` : '.'}
          </p>
          <p>
            A failed run is never reported as clean: what it counted before it stopped may be incomplete. Fix
            the cause and run it again.
          </p>
        </div>
      ) : null}
      {run.status === 'running' ? (
        <p className="recon-running" role="status">
          Running: reading both sides and the ledger. This page follows it.
        </p>
      ) : null}
      {run.summary && run.summary.alerts.length > 0 ? (
        <div className="recon-alerts">
          <h2>Alerts raised</h2>
          <ul>
            {run.summary.alerts.map((a) => (
              <li key={a} className="mono">
                {a}
              </li>
            ))}
          </ul>
        </div>
      ) : null}
    </>
  );
}

function sumOf(counts: Record<string, number>): number {
  return Object.values(counts).reduce((a, b) => a + b, 0);
}

/** The statuses counted on either side, `''` (no status) left out. */
function statusesOf(e: EntitySummaryJson): string[] {
  const all = new Set([...Object.keys(e.counts.source), ...Object.keys(e.counts.target)]);
  all.delete('');
  return [...all].sort();
}

function CountCell({ n, differs }: { n: number | undefined; differs: boolean }) {
  if (n === undefined)
    return (
      <td className="num muted" title="not counted">
        —
      </td>
    );
  return (
    <td className={differs ? 'num recon-differs' : 'num'}>
      {n.toLocaleString('en')}
      {differs ? <span className="visually-hidden"> (differs)</span> : null}
    </td>
  );
}

/** Totals per entity three ways (source ↔ Sinew's ledger ↔ target), per status when counted so. */
export function RunTotals({ entities }: { entities: EntitySummaryJson[] }) {
  if (entities.length === 0) return null;
  return (
    <div className="table-scroll">
      <table className="recon-totals">
        <caption>
          Records in the period: the source (the side of truth, usually the PMS) ↔ what Sinew received ↔ the
          target (usually the EHR)
        </caption>
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
            const source = sumOf(e.counts.source);
            const target = sumOf(e.counts.target);
            const found = Object.values(e.byClass).reduce<number>((a, b) => a + (b ?? 0), 0);
            const statuses = statusesOf(e);
            return [
              <tr key={e.name} data-testid="recon-entity">
                <th scope="row">{e.name}</th>
                <CountCell n={source} differs={source !== target} />
                <CountCell
                  n={e.counts.ledger}
                  differs={e.counts.ledger !== undefined && e.counts.ledger !== source}
                />
                <CountCell n={target} differs={source !== target} />
                <td className="num">{e.matched.toLocaleString('en')}</td>
                <td className={found ? 'num recon-differs' : 'num'}>{found.toLocaleString('en')}</td>
              </tr>,
              ...statuses.map((s) => {
                const a = e.counts.source[s] ?? 0;
                const b = e.counts.target[s] ?? 0;
                return (
                  <tr key={`${e.name}\u0000${s}`} className="recon-status-row">
                    <th scope="row">
                      <span className="visually-hidden">{e.name}, </span>status {s}
                    </th>
                    <CountCell n={a} differs={a !== b} />
                    <td className="num muted">—</td>
                    <CountCell n={b} differs={a !== b} />
                    <td />
                    <td />
                  </tr>
                );
              }),
            ];
          })}
        </tbody>
      </table>
    </div>
  );
}

// ---------------------------------------------------------------------------------------------
// Discrepancies, by class.

/** The classes found as tabs with their counts; arrow keys, Home and End move between them. */
export function ClassTabs({
  counts,
  selected,
  onSelect,
}: {
  counts: Map<DiscrepancyClass, number>;
  selected: DiscrepancyClass | undefined;
  onSelect: (c: DiscrepancyClass) => void;
}) {
  const classes = [...counts.keys()];
  const move = (e: KeyboardEvent<HTMLButtonElement>, i: number) => {
    const to =
      e.key === 'ArrowRight'
        ? (i + 1) % classes.length
        : e.key === 'ArrowLeft'
          ? (i - 1 + classes.length) % classes.length
          : e.key === 'Home'
            ? 0
            : e.key === 'End'
              ? classes.length - 1
              : undefined;
    const next = to === undefined ? undefined : classes[to];
    if (next === undefined) return;
    e.preventDefault();
    onSelect(next);
    document.getElementById(`recon-tab-${next}`)?.focus();
  };
  return (
    <div role="tablist" aria-label="Discrepancies by class" className="recon-tabs">
      {classes.map((c, i) => (
        <button
          key={c}
          type="button"
          role="tab"
          id={`recon-tab-${c}`}
          aria-selected={c === selected}
          aria-controls="recon-class-panel"
          tabIndex={c === selected ? 0 : -1}
          onClick={() => onSelect(c)}
          onKeyDown={(e) => move(e, i)}
        >
          {classLabel(c)} <span className="recon-count">{counts.get(c)?.toLocaleString('en')}</span>
        </button>
      ))}
    </div>
  );
}

/** The class's meaning and what to do about it. */
export function ClassIntro({ cls, count }: { cls: DiscrepancyClass; count: number | undefined }) {
  const info = CLASS_INFO[cls];
  return (
    <div className="recon-class-intro">
      <h2>
        {classLabel(cls)}
        {count !== undefined ? <span className="recon-count">{count.toLocaleString('en')}</span> : null}
      </h2>
      {info ? (
        <dl>
          <dt>What it means</dt>
          <dd>{info.meaning}</dd>
          <dt>What to do</dt>
          <dd>{info.todo}</dd>
        </dl>
      ) : null}
    </div>
  );
}

/** The differing fields side by side; the compared (normalised) values on a second line and on hover. */
export function FieldTable({ fields }: { fields: FieldDifferenceJson[] }) {
  const normalised = (v: string | null | undefined) =>
    v === undefined ? undefined : v === null ? 'no value' : v;
  return (
    <table className="recon-fields">
      <thead>
        <tr>
          <th scope="col">Field</th>
          <th scope="col">Source</th>
          <th scope="col">Target</th>
        </tr>
      </thead>
      <tbody>
        {fields.map((f) => {
          const a = normalised(f.sourceNormalised);
          const b = normalised(f.targetNormalised);
          return (
            <tr key={f.field}>
              <th scope="row" className="mono">
                {f.field}
              </th>
              <td title={a === undefined ? undefined : `compared as ${a}`}>
                <ValueText value={f.source} />
                {a !== undefined ? <span className="recon-sub">compared as {a}</span> : null}
              </td>
              <td title={b === undefined ? undefined : `compared as ${b}`}>
                <ValueText value={f.target} />
                {b !== undefined ? <span className="recon-sub">compared as {b}</span> : null}
              </td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}

/** One side's record (for a record missing on the other side): its fields, status and where to see it. */
function SideRecord({ side, record }: { side: 'Source' | 'Target'; record: SideRecordJson }) {
  const fields = Object.entries(record.fields ?? {});
  return (
    <div className="recon-side">
      <h4>{side} record</h4>
      <dl>
        {fields.map(([name, v]) => (
          <div key={name}>
            <dt className="mono">{name}</dt>
            <dd>
              <ValueText value={v} />
            </dd>
          </div>
        ))}
        {record.status !== undefined ? (
          <div>
            <dt>status</dt>
            <dd>
              <ValueText value={record.status} />
            </dd>
          </div>
        ) : null}
        {record.updatedAt ? (
          <div>
            <dt>changed at its system</dt>
            <dd>
              <Time value={record.updatedAt} />
            </dd>
          </div>
        ) : null}
        {record.ref ? (
          <div>
            <dt>where</dt>
            <dd className="mono">{record.ref}</dd>
          </div>
        ) : null}
      </dl>
    </div>
  );
}

/** The messages behind a discrepancy, newest first, each a link to its page. */
export function MessageLinks({ ids }: { ids: string[] }) {
  if (ids.length === 0) return <span className="muted">none in the ledger</span>;
  return (
    <ul className="recon-messages">
      {ids.map((id, i) => (
        <li key={id}>
          <Link to={`/messages/${encodeURIComponent(id)}`}>
            <span className="visually-hidden">Message </span>
            <span className="mono">{id}</span>
          </Link>
          {i === 0 && ids.length > 1 ? <span className="muted"> (newest)</span> : null}
        </li>
      ))}
    </ul>
  );
}

/** One discrepancy: what record, how it differs, why (the ledger's reason), its messages, its repair. */
export function DiscrepancyCard({ d }: { d: DiscrepancyJson }) {
  const repairable = REPAIRABLE.includes(d.class);
  return (
    <article
      className="recon-discrepancy"
      data-testid="recon-discrepancy"
      aria-label={`${d.entity} ${d.key}`}
    >
      <header className="recon-discrepancy-head">
        <h3>
          {d.entity} <KeyText value={d.key} />
        </h3>
        <span className="badge unknown">{kindText(d.kind)}</span>
        {d.copies !== undefined ? <span className="muted">{plural(d.copies, 'copy', 'copies')}</span> : null}
        {d.repairedAt ? (
          <span className="badge ok">Repaired</span>
        ) : repairable ? (
          <span className="muted">not repaired yet</span>
        ) : null}
      </header>
      <p className="recon-reason">{d.reason}</p>
      {d.fields && d.fields.length > 0 ? <FieldTable fields={d.fields} /> : null}
      {(!d.fields || d.fields.length === 0) && (d.source || d.target) ? (
        <div className="recon-sides">
          {d.source ? <SideRecord side="Source" record={d.source} /> : null}
          {d.target ? <SideRecord side="Target" record={d.target} /> : null}
        </div>
      ) : null}
      <div className="recon-discrepancy-foot">
        <span className="recon-label">Messages</span>
        <MessageLinks ids={d.messageIds} />
      </div>
      {d.repairedAt ? (
        <p className="recon-repaired">
          {d.repair ? `${d.repair.action} by ${d.repair.by}` : 'Repaired'} <Time value={d.repairedAt} />
          {d.repair?.detail ? `: ${d.repair.detail}` : ''}
        </p>
      ) : null}
    </article>
  );
}

const ACTION_TEXT: Record<string, { done: string; planned: string }> = {
  replayed: { done: 'replayed', planned: 'replay' },
  reprocessed: { done: 'reprocessed', planned: 'reprocess' },
  skipped: { done: 'skipped', planned: 'skip' },
};

/** What a repair did, or (a dry run) would do, with the messages linked. */
export function RepairActions({
  actions,
  planned = false,
}: {
  actions: RepairActionJson[];
  planned?: boolean;
}) {
  if (actions.length === 0)
    return (
      <p>Nothing to repair: every discrepancy of this class is repaired or has no message to send again.</p>
    );
  return (
    <div className="table-scroll">
      <table className="recon-actions">
        <thead>
          <tr>
            <th scope="col">{planned ? 'Would' : 'Done'}</th>
            <th scope="col">Messages</th>
            <th scope="col">Detail</th>
          </tr>
        </thead>
        <tbody>
          {actions.map((a, i) => (
            <tr key={`${a.discrepancyId}\u0000${i}`} data-testid="recon-repair-action">
              <td>{ACTION_TEXT[a.action]?.[planned ? 'planned' : 'done'] ?? a.action}</td>
              <td>
                <MessageLinks ids={a.messageIds} />
              </td>
              <td>{a.detail}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** How many of the actions send something (the others are skipped, with why). */
export function replays(actions: RepairActionJson[]): number {
  return actions.filter((a) => a.action !== 'skipped').length;
}

interface RepairState {
  /** The dry run's actions; undefined while it runs. */
  actions?: RepairActionJson[];
  error?: unknown;
}

/** "Repair…": a dry run listing what would be done, then the repair once confirmed. */
function RepairButton({ run, cls }: { run: RunJson; cls: DiscrepancyClass }) {
  const queries = useQueryClient();
  const [pending, setPending] = useState<RepairState | undefined>(undefined);
  const [done, setDone] = useState<RepairActionJson[] | undefined>(undefined);
  const start = async () => {
    setDone(undefined);
    setPending({});
    try {
      const dry = await reconcileApi.repair(run.id, { classes: [cls], dryRun: true });
      setPending({ actions: dry.actions });
    } catch (err) {
      setPending({ error: err });
    }
  };
  const repair = useMutation({
    mutationFn: () => reconcileApi.repair(run.id, { classes: [cls], dryRun: false }),
    onSuccess: (r) => {
      setPending(undefined);
      setDone(r.actions);
      void queries.invalidateQueries({ queryKey: ['recon-discrepancies', run.id] });
      void queries.invalidateQueries({ queryKey: ['message'] });
    },
  });
  const label = classLabel(cls).toLowerCase();
  return (
    <div className="recon-repair">
      <button type="button" onClick={() => void start()}>
        Repair…<span className="visually-hidden"> the {label} discrepancies</span>
      </button>
      {done ? (
        <div className="notice recon-notice" role="status">
          <p>
            <strong>
              Repair done: {plural(replays(done), 'discrepancy', 'discrepancies')} sent again
              {done.length > replays(done) ? `, ${done.length - replays(done)} skipped` : ''}.
            </strong>{' '}
            The next run shows what it fixed.
          </p>
          <RepairActions actions={done} />
        </div>
      ) : null}
      <Confirm
        open={pending !== undefined}
        title={`Repair the ${label} discrepancies?`}
        confirmLabel={pending?.actions && replays(pending.actions) === 0 ? 'Close' : 'Repair'}
        busy={(pending?.actions === undefined && pending?.error === undefined) || repair.isPending}
        onCancel={() => {
          setPending(undefined);
          repair.reset();
        }}
        onConfirm={() => {
          // Nothing is repaired before what it would do has been shown.
          if (pending?.actions && replays(pending.actions) > 0) repair.mutate();
          else setPending(undefined);
        }}
      >
        {pending?.error !== undefined ? (
          <p className="error" role="alert">
            {errorMessage(pending.error)}
          </p>
        ) : pending?.actions === undefined ? (
          <p role="status">Working out what would be done…</p>
        ) : (
          <>
            <p role="status">
              <strong>
                {replays(pending.actions) === 0
                  ? 'Nothing would be sent again.'
                  : `${plural(replays(pending.actions), 'discrepancy', 'discrepancies')} will be repaired:`}
              </strong>{' '}
              {replays(pending.actions) > 0 ? 'their messages are delivered to the target again.' : ''}
            </p>
            <RepairActions actions={pending.actions} planned />
          </>
        )}
        {repair.isError ? (
          <p className="error" role="alert">
            {errorMessage(repair.error)}
          </p>
        ) : null}
      </Confirm>
    </div>
  );
}

const PAGE = 50;

/** The selected class's discrepancies, a page at a time (`after` the last one shown). */
function ClassPanel({ run, cls, entity }: { run: RunJson; cls: DiscrepancyClass; entity: string }) {
  const list = useInfiniteQuery({
    queryKey: ['recon-discrepancies', run.id, cls, entity],
    queryFn: ({ pageParam, signal }) =>
      reconcileApi.discrepancies(
        run.id,
        { class: cls, entity: entity || undefined, limit: PAGE, after: pageParam },
        signal,
      ),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (last) => last.next ?? undefined,
  });
  if (list.isPending) return <Loading what="Loading discrepancies" />;
  if (list.error) return <ErrorBox error={list.error} retry={() => void list.refetch()} />;
  const items = list.data.pages.flatMap((p) => p.items);
  return (
    <>
      {items.length === 0 ? (
        <Empty>
          No {classLabel(cls).toLowerCase()} discrepancies{entity ? ` for ${entity}` : ''}.
        </Empty>
      ) : (
        items.map((d) => <DiscrepancyCard key={d.id} d={d} />)
      )}
      {list.hasNextPage ? (
        <button type="button" onClick={() => void list.fetchNextPage()} disabled={list.isFetchingNextPage}>
          {list.isFetchingNextPage ? 'Loading…' : 'Show more'}
        </button>
      ) : items.length > PAGE ? (
        <p className="muted">All {items.length.toLocaleString('en')} shown.</p>
      ) : null}
    </>
  );
}

function Discrepancies({ run }: { run: RunJson }) {
  const { can } = useSession();
  const [params, setParams] = useSearchParams();
  const counts = classCounts(run);
  const first = [...counts.keys()][0];
  const asked = params.get('class') as DiscrepancyClass | null;
  const selected = asked && counts.has(asked) ? asked : first;
  const entity = params.get('entity') ?? '';
  const entities = run.summary?.entities.map((e) => e.name) ?? [];
  const set = (key: string, value: string) => {
    const next = new URLSearchParams(params);
    if (value) next.set(key, value);
    else next.delete(key);
    setParams(next, { replace: true });
  };
  if (!selected) return null;
  return (
    <section className="recon-discrepancies" aria-labelledby="recon-discrepancies-title">
      <h2 id="recon-discrepancies-title">Discrepancies</h2>
      <p className="muted">
        Each is explained by what Sinew’s ledger holds for the record. Values are shown only to those allowed
        to read patient data (phi:read).
      </p>
      {entities.length > 1 ? (
        <div className="toolbar">
          <div className="field">
            <label htmlFor="recon-entity">Entity</label>
            <select id="recon-entity" value={entity} onChange={(e) => set('entity', e.target.value)}>
              <option value="">All entities</option>
              {entities.map((e) => (
                <option key={e} value={e}>
                  {e}
                </option>
              ))}
            </select>
          </div>
        </div>
      ) : null}
      <ClassTabs counts={counts} selected={selected} onSelect={(c) => set('class', c)} />
      <div
        role="tabpanel"
        id="recon-class-panel"
        aria-labelledby={`recon-tab-${selected}`}
        className="recon-class-panel"
        tabIndex={0}
      >
        <ClassIntro cls={selected} count={counts.get(selected)} />
        {REPAIRABLE.includes(selected) && can('messages:replay') && run.status !== 'running' ? (
          <RepairButton key={selected} run={run} cls={selected} />
        ) : null}
        <ClassPanel run={run} cls={selected} entity={entity} />
      </div>
    </section>
  );
}

/** Everything about a run but its discrepancy list (which the page loads a page at a time). */
export function RunOverview({ run, children }: { run: RunJson; children?: ReactNode }) {
  return (
    <>
      <p className="crumbs">
        <Link to="/reconciliations">Reconciliations</Link> / {run.reconciliation}
      </p>
      <h1>
        Run of {run.reconciliation}, {run.period.label}
      </h1>
      <RunFacts run={run} />
      {run.summary ? (
        <section aria-labelledby="recon-totals-title">
          <h2 id="recon-totals-title">Totals</h2>
          <RunTotals entities={run.summary.entities} />
        </section>
      ) : null}
      {run.summary && run.summary.discrepancies === 0 && run.status !== 'running' ? (
        <Empty>No discrepancies: every record was found on both sides with the same values.</Empty>
      ) : null}
      {children}
    </>
  );
}

function RunPage() {
  const { runId = '' } = useParams();
  const run = useQuery({
    queryKey: ['recon-run', runId],
    queryFn: ({ signal }) => reconcileApi.run(runId, signal),
    // A run still going is followed until it ends.
    refetchInterval: (q) => (q.state.data?.status === 'running' ? 1500 : false),
  });
  return (
    <section className="recon-page">
      <QueryView query={run} what="the run">
        {(r) => (
          <RunOverview run={r}>
            {r.status !== 'running' && r.summary && r.summary.discrepancies > 0 ? (
              <Discrepancies run={r} />
            ) : null}
          </RunOverview>
        )}
      </QueryView>
    </section>
  );
}

export default function ReconciliationRun() {
  useTitle('Reconciliation run');
  return (
    <NeedsScope scope="reconciliations:read" title="Reconciliation run">
      <RunPage />
    </NeedsScope>
  );
}
