import { useId, useState, type ReactNode } from 'react';
import { Link, useParams } from 'react-router';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useTitle } from '../app';
import { Confirm } from '../components/confirm';
import { DiffView } from '../components/diff-view';
import { Empty, ErrorBox, Loading, QueryView } from '../components/states';
import { Time } from '../components/time';
import { api, ApiError, errorMessage } from '../lib/api';
import { useOverview, OVERVIEW_KEY } from '../lib/events';
import { useSession } from '../lib/session';
import { COUNTERS, LatencyTable, StateBadge, useChannelStats } from './dashboard';
import { stateOf, type ChannelDetail, type ChannelSummary } from './channels';
import './channels.css';

// ---------------------------------------------------------------------------------------------
// The channel's configuration in words.

type Doc = Record<string, unknown>;

function isDoc(v: unknown): v is Doc {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A setting's value as text: scalars as they are, lists and objects as compact JSON. */
export function settingText(v: unknown): string {
  if (v === null || v === undefined) return '—';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return JSON.stringify(v);
}

/** A filter or rule condition in words: `MSH-9.1 = "ORU"`, `(A and B)`, `not (A)`. */
export function describeCondition(c: unknown): string {
  if (!isDoc(c)) return settingText(c);
  if (typeof c.fhirpath === 'string') return `FHIRPath ${c.fhirpath}`;
  if (Array.isArray(c.all)) return `(${c.all.map(describeCondition).join(' and ')})`;
  if (Array.isArray(c.any)) return `(${c.any.map(describeCondition).join(' or ')})`;
  if ('not' in c) return `not ${describeCondition(c.not)}`;
  const path = typeof c.path === 'string' ? c.path : '?';
  if ('equals' in c) return `${path} = "${settingText(c.equals)}"`;
  if (Array.isArray(c.in)) return `${path} is one of ${c.in.map((x) => `"${settingText(x)}"`).join(', ')}`;
  if (typeof c.matches === 'string') return `${path} matches /${c.matches}/`;
  if ('present' in c) return c.present === false ? `${path} is absent` : `${path} is present`;
  return settingText(c);
}

/** A duration in ms in words: `500 ms`, `1 s`, `5 min`, `2 h`. */
export function durationText(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60_000) return `${+(ms / 1000).toFixed(1)} s`;
  if (ms < 3600_000) return `${+(ms / 60_000).toFixed(1)} min`;
  return `${+(ms / 3600_000).toFixed(1)} h`;
}

/** A destination's retry policy in words, with the engine's defaults for what is not set. */
export function retryText(retry: unknown): string {
  const r = isDoc(retry) ? retry : {};
  const num = (k: string, d: number) => (typeof r[k] === 'number' ? (r[k] as number) : d);
  const attempts = num('attempts', 10);
  if (attempts === 1) return '1 attempt, then dead-lettered';
  const initial = num('initial_delay_ms', 1000);
  const multiplier = num('multiplier', 2);
  const max = num('max_delay_ms', 300_000);
  return `${attempts} attempts, then dead-lettered; first retry after ${durationText(initial)}, each ×${multiplier}, at most ${durationText(max)}`;
}

/** A destination's ordering in words. */
export function orderingText(ordering: unknown): string {
  if (ordering === undefined || ordering === 'none') return 'none (in parallel)';
  if (ordering === 'channel') return 'the whole channel in order (FIFO)';
  return `in order per ${settingText(ordering)}`;
}

/** A pipeline step: its kind, and what it does in words. */
export function describeStep(step: unknown): { kind: string; text: string; details: string[] } {
  if (!isDoc(step)) return { kind: 'step', text: settingText(step), details: [] };
  if ('filter' in step)
    return { kind: 'Filter', text: `keeps messages where ${describeCondition(step.filter)}`, details: [] };
  if (isDoc(step.validate)) {
    const v = step.validate;
    const rules = Array.isArray(v.rules) ? v.rules : [];
    const policy = typeof v.policy === 'string' ? v.policy : 'reject';
    const parts = [`${rules.length} ${rules.length === 1 ? 'rule' : 'rules'}`];
    if (v.structure === true) parts.push('and the HL7 structure');
    return {
      kind: 'Validate',
      text: `${parts.join(' ')}; on an error: ${policy.replace('_', ' ')}`,
      details: rules.map((r) => {
        if (!isDoc(r)) return settingText(r);
        const { code, message, ...rest } = r;
        const what = Object.entries(rest)
          .map(([k, x]) => (k === 'path' ? settingText(x) : `${k}: ${settingText(x)}`))
          .join(', ');
        return `${settingText(code)}: ${what}${typeof message === 'string' ? ` — ${message}` : ''}`;
      }),
    };
  }
  if (isDoc(step.map)) {
    const m = step.map;
    const parts = [`with transformer ${settingText(m.transformer)}`];
    if (m.validate_output === true) parts.push('output validated');
    parts.push(`on an error: ${settingText(m.policy ?? 'dead_letter').replace('_', ' ')}`);
    return { kind: 'Map', text: parts.join('; '), details: [] };
  }
  const [kind] = Object.keys(step);
  return { kind: kind ?? 'step', text: settingText(kind ? step[kind] : step), details: [] };
}

const DESTINATION_SHOWN = new Set(['name', 'type', 'ordering', 'retry', 'filter']);

function Settings({ doc, skip = new Set<string>() }: { doc: Doc; skip?: ReadonlySet<string> }) {
  const entries = Object.entries(doc).filter(([k]) => !skip.has(k));
  if (entries.length === 0) return null;
  return (
    <dl className="settings">
      {entries.map(([k, v]) => (
        <div key={k}>
          <dt>{k}</dt>
          <dd>{k === 'filter' ? describeCondition(v) : settingText(v)}</dd>
        </div>
      ))}
    </dl>
  );
}

/** The configuration (`GET /api/v1/channels/{id}`'s `configuration`) rendered readably. */
export function ChannelConfiguration({ config }: { config: unknown }) {
  if (!isDoc(config)) return <Empty>This channel’s configuration is not available.</Empty>;
  const source = isDoc(config.source) ? config.source : {};
  const ack = isDoc(config.ack) ? config.ack : {};
  const keys = isDoc(config.keys) ? config.keys : {};
  const pipeline = Array.isArray(config.pipeline) ? config.pipeline : [];
  const destinations = Array.isArray(config.destinations) ? config.destinations.filter(isDoc) : [];
  return (
    <div className="configuration">
      <div className="config-block">
        <h3>Source</h3>
        <p>
          <strong>{settingText(source.type)}</strong>
        </p>
        <Settings doc={source} skip={new Set(['type'])} />
        <p className="muted">
          ACK when the message is {settingText(ack.when ?? 'received')}
          {ack.mode === 'enhanced' ? ' (enhanced mode)' : ''}
          {config.enabled === false ? '; the channel is disabled' : ''}
        </p>
        {Object.keys(keys).length > 0 ? (
          <>
            <h4>Business keys</h4>
            <dl className="settings">
              {Object.entries(keys).map(([k, v]) => (
                <div key={k}>
                  <dt>{k}</dt>
                  <dd>{settingText(v)}</dd>
                </div>
              ))}
            </dl>
          </>
        ) : null}
      </div>
      <div className="config-block">
        <h3>Pipeline</h3>
        {pipeline.length === 0 ? (
          <p className="muted">No steps: messages go to the destinations as received.</p>
        ) : (
          <ol className="steps">
            {pipeline.map((step, i) => {
              const s = describeStep(step);
              return (
                <li key={i}>
                  <strong>{s.kind}</strong> {s.text}
                  {s.details.length > 0 ? (
                    <ul>
                      {s.details.map((d, j) => (
                        <li key={j}>{d}</li>
                      ))}
                    </ul>
                  ) : null}
                </li>
              );
            })}
          </ol>
        )}
      </div>
      <div className="config-block">
        <h3>Destinations</h3>
        {destinations.length === 0 ? (
          <p className="muted">No destinations.</p>
        ) : (
          destinations.map((d) => (
            <div className="destination-config" key={settingText(d.name)}>
              <h4>
                {settingText(d.name)} <span className="muted">({settingText(d.type)})</span>
              </h4>
              <dl className="settings">
                <div>
                  <dt>Ordering</dt>
                  <dd className="words">{orderingText(d.ordering)}</dd>
                </div>
                <div>
                  <dt>Retry</dt>
                  <dd className="words">{retryText(d.retry)}</dd>
                </div>
                {d.filter !== undefined ? (
                  <div>
                    <dt>Sends only when</dt>
                    <dd>{describeCondition(d.filter)}</dd>
                  </div>
                ) : null}
              </dl>
              <Settings doc={d} skip={DESTINATION_SHOWN} />
            </div>
          ))
        )}
      </div>
    </div>
  );
}

// ---------------------------------------------------------------------------------------------
// Deployments, lint and shadow runs: the answers of channel-ops.

export interface Deployment {
  version: number;
  outcome: 'deployed' | 'refused';
  deployed_at: string;
  deployed_by: string;
  content_hash: string;
  file_path: string;
  git_commit?: string;
  problems: string[];
}

export interface DeploymentDetail extends Omit<Deployment, 'problems'> {
  channel: string;
  content: string;
  diff: string;
  against?: { version: number; deployed_at: string; file_path: string };
}

export interface LintProblem {
  file: string;
  line: number;
  column: number;
  severity: 'error' | 'warning';
  code: string;
  path: string;
  message: string;
}

export interface LintAnswer {
  problems: LintProblem[];
  errors: number;
  warnings: number;
  files: number;
}

export interface ShadowAnswer {
  channel: string;
  candidate: string;
  totals: {
    messages: number;
    unchanged: number;
    changed: number;
    filtered: number;
    rejected: number;
    errored: number;
    skipped: number;
    destinations_added: number;
    destinations_removed: number;
  };
  changes: Array<{
    id: string;
    received_at: string;
    message_type?: string;
    stored: string;
    candidate: string;
    outcome: 'changed' | 'filtered' | 'rejected' | 'errored';
    issue?: { step?: string; code: string; message?: string };
    destinations: Array<{
      destination: string;
      change: 'added' | 'removed' | 'changed';
      fields: Array<{ path: string; before?: string; after?: string }>;
      more_fields?: number;
    }>;
  }>;
  truncated: boolean;
}

/** The last part of a path (`/srv/channels/lab.yaml` → `lab.yaml`). */
export function baseName(path: string): string {
  return path.split(/[\\/]/).pop() || path;
}

/** `lab.yaml:12:5`. */
export function location(p: Pick<LintProblem, 'file' | 'line' | 'column'>): string {
  return `${p.file}:${p.line}:${p.column}`;
}

export function LintProblems({ answer, file }: { answer: LintAnswer; file: string }) {
  if (answer.problems.length === 0) return <p className="lint-clean">No problems found in {file}.</p>;
  return (
    <>
      <p>
        {answer.errors} {answer.errors === 1 ? 'error' : 'errors'}, {answer.warnings}{' '}
        {answer.warnings === 1 ? 'warning' : 'warnings'}
      </p>
      <ul className="lint-problems">
        {answer.problems.map((p, i) => (
          <li key={i}>
            <code>{location(p)}</code>{' '}
            <span className={`badge ${p.severity === 'error' ? 'bad' : 'warn'}`}>{p.severity}</span>{' '}
            <code>{p.code}</code> {p.message}
            {p.path ? <span className="muted"> (at {p.path})</span> : null}
          </li>
        ))}
      </ul>
    </>
  );
}

function lintFiles(name: string, content: string): Promise<LintAnswer> {
  return api<LintAnswer>('/api/v1/channels/lint', { method: 'POST', body: { files: [{ name, content }] } });
}

function Lint({ channelId, current }: { channelId: string; current: DeploymentDetail }) {
  const file = baseName(current.file_path);
  const lint = useQuery({
    queryKey: ['lint', channelId, current.version, current.content_hash],
    queryFn: () => lintFiles(file, current.content),
    staleTime: 60_000,
  });
  return (
    <QueryView query={lint} what="the lint findings">
      {(answer) => <LintProblems answer={answer} file={file} />}
    </QueryView>
  );
}

function deploymentPath(id: string, version: number): string {
  return `/api/v1/channels/${encodeURIComponent(id)}/deployments/${version}`;
}

function useDeployment(id: string, version: number | undefined, against?: number) {
  return useQuery({
    queryKey: ['deployment', id, version, against ?? null],
    queryFn: ({ signal }) =>
      api<DeploymentDetail>(deploymentPath(id, version as number), {
        query: { against },
        signal,
      }),
    enabled: version !== undefined,
    staleTime: Infinity,
  });
}

function VersionDiff({ channelId, deployments }: { channelId: string; deployments: Deployment[] }) {
  const deployed = deployments.filter((d) => d.outcome === 'deployed');
  const [to, setTo] = useState<number | undefined>(deployed[0]?.version);
  const [from, setFrom] = useState<number | undefined>(deployed[1]?.version);
  const diff = useDeployment(channelId, to, from);
  const fromId = useId();
  const toId = useId();
  const options = deployments.map((d) => (
    <option key={d.version} value={d.version}>
      Version {d.version} ({d.outcome})
    </option>
  ));
  return (
    <div className="version-diff">
      <h3>Compare versions</h3>
      <div className="toolbar">
        <div className="field">
          <label htmlFor={fromId}>From version</label>
          <select id={fromId} value={from ?? ''} onChange={(e) => setFrom(Number(e.currentTarget.value))}>
            {options}
          </select>
        </div>
        <div className="field">
          <label htmlFor={toId}>To version</label>
          <select id={toId} value={to ?? ''} onChange={(e) => setTo(Number(e.currentTarget.value))}>
            {options}
          </select>
        </div>
      </div>
      {from === to ? (
        <p className="state state-empty">Pick two different versions.</p>
      ) : (
        <QueryView query={diff} what="the diff">
          {(d) => <DiffView diff={d.diff} label={`Changes from version ${from} to version ${to}`} />}
        </QueryView>
      )}
    </div>
  );
}

function History({
  channelId,
  current,
  canWrite,
}: {
  channelId: string;
  current: number | undefined;
  canWrite: boolean;
}) {
  const queries = useQueryClient();
  const history = useQuery({
    queryKey: ['deployments', channelId],
    queryFn: ({ signal }) =>
      api<{ items: Deployment[] }>(`/api/v1/channels/${encodeURIComponent(channelId)}/deployments`, {
        signal,
      }),
  });
  const [target, setTarget] = useState<number>();
  const rollback = useMutation({
    mutationFn: (version: number) =>
      api<{
        rolled_back_to: number;
        file_written: boolean;
        channels: Array<{ id: string; version?: number }>;
      }>(`/api/v1/channels/${encodeURIComponent(channelId)}/rollback`, { method: 'POST', body: { version } }),
    onSuccess: () => {
      setTarget(undefined);
      void queries.invalidateQueries({ queryKey: ['deployments', channelId] });
      void queries.invalidateQueries({ queryKey: ['channel', channelId] });
      void queries.invalidateQueries({ queryKey: OVERVIEW_KEY });
    },
  });
  return (
    <QueryView query={history} what="the deployment history">
      {({ items }) =>
        items.length === 0 ? (
          <Empty>No deployments are recorded for this channel.</Empty>
        ) : (
          <>
            {rollback.data ? (
              <p className="state state-done" role="status">
                Rolled back to the text of version {rollback.data.rolled_back_to}
                {(() => {
                  const v = rollback.data.channels.find((c) => c.id === channelId)?.version;
                  return v !== undefined ? `; now deployed as version ${v}.` : '.';
                })()}
              </p>
            ) : null}
            <div className="table-scroll">
              <table className="deployments">
                <caption className="visually-hidden">Deployment history, newest first</caption>
                <thead>
                  <tr>
                    <th scope="col" className="num">
                      Version
                    </th>
                    <th scope="col">Outcome</th>
                    <th scope="col">Deployed</th>
                    <th scope="col">By</th>
                    <th scope="col">Problems</th>
                    {canWrite ? <th scope="col">Actions</th> : null}
                  </tr>
                </thead>
                <tbody>
                  {items.map((d) => (
                    <tr key={d.version}>
                      <th scope="row" className="num">
                        {d.version}{' '}
                        {d.version === current ? <span className="badge ok current">current</span> : null}
                      </th>
                      <td>
                        <span className={`badge ${d.outcome === 'deployed' ? 'ok' : 'bad'}`}>
                          {d.outcome}
                        </span>
                      </td>
                      <td>
                        <Time value={d.deployed_at} />
                      </td>
                      <td>
                        {d.deployed_by}
                        {d.git_commit ? <span className="muted"> ({d.git_commit.slice(0, 10)})</span> : null}
                      </td>
                      <td>
                        {d.problems.length === 0 ? (
                          <span className="muted">none</span>
                        ) : (
                          <ul className="plain">
                            {d.problems.map((p, i) => (
                              <li key={i}>{p}</li>
                            ))}
                          </ul>
                        )}
                      </td>
                      {canWrite ? (
                        <td>
                          {d.outcome === 'deployed' && d.version !== current ? (
                            <button type="button" onClick={() => setTarget(d.version)}>
                              Roll back to version {d.version}
                            </button>
                          ) : null}
                        </td>
                      ) : null}
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
            {rollback.error ? <ErrorBox error={rollback.error} /> : null}
            {items.length > 1 ? (
              <VersionDiff key={items[0]?.version} channelId={channelId} deployments={items} />
            ) : (
              <p className="muted">Only one version has been deployed: there is nothing to compare yet.</p>
            )}
            {/* Mounted only while asked: one dialog on the page at a time. */}
            {target !== undefined ? (
              <Confirm
                open
                title={`Roll back ${channelId} to version ${target ?? ''}?`}
                confirmLabel="Roll back"
                danger
                busy={rollback.isPending}
                onCancel={() => setTarget(undefined)}
                onConfirm={() => target !== undefined && rollback.mutate(target)}
              >
                <p>
                  The channel’s file gets the text of version {target} again and the channel folder is
                  redeployed. If the folder then does not compile, nothing changes.
                </p>
              </Confirm>
            ) : null}
          </>
        )
      }
    </QueryView>
  );
}

export function ShadowResult({ answer }: { answer: ShadowAnswer }) {
  const t = answer.totals;
  const totals: Array<[string, number]> = [
    ['Messages read', t.messages],
    ['Unchanged', t.unchanged],
    ['Changed', t.changed],
    ['Filtered', t.filtered],
    ['Rejected', t.rejected],
    ['Errored', t.errored],
    ['Skipped', t.skipped],
    ['Destinations added', t.destinations_added],
    ['Destinations removed', t.destinations_removed],
  ];
  return (
    <div className="shadow-result" role="region" aria-label="Shadow run result">
      <dl className="totals">
        {totals.map(([label, n]) => (
          <div key={label}>
            <dt>{label}</dt>
            <dd>{n}</dd>
          </div>
        ))}
      </dl>
      {answer.changes.length === 0 ? (
        <p className="state state-empty">
          {t.messages === 0
            ? 'There were no stored messages to run (the last 24 hours).'
            : 'The candidate does the same as the deployed version with every message.'}
        </p>
      ) : (
        <ul className="shadow-changes">
          {answer.changes.map((c) => (
            <li key={c.id} className="card">
              <p>
                <Link to={`/messages/${encodeURIComponent(c.id)}`}>{c.message_type ?? 'Message'}</Link>{' '}
                received <Time value={c.received_at} />: <strong>{c.outcome}</strong> (stored {c.stored},
                candidate {c.candidate})
              </p>
              {c.issue ? (
                <p className="error">
                  {c.issue.step ? `${c.issue.step}: ` : ''}
                  <code>{c.issue.code}</code>
                  {c.issue.message ? ` ${c.issue.message}` : ''}
                </p>
              ) : null}
              {c.destinations.map((d) => (
                <div key={d.destination}>
                  <p>
                    Destination <strong>{d.destination}</strong>: {d.change}
                  </p>
                  {d.fields.length > 0 ? (
                    <table className="field-changes">
                      <caption className="visually-hidden">Fields changed for {d.destination}</caption>
                      <thead>
                        <tr>
                          <th scope="col">Field</th>
                          <th scope="col">Before</th>
                          <th scope="col">After</th>
                        </tr>
                      </thead>
                      <tbody>
                        {d.fields.map((f) => (
                          <tr key={f.path}>
                            <th scope="row">
                              <code>{f.path}</code>
                            </th>
                            <td>{f.before ?? <span className="muted">{fieldHidden(f, 'before')}</span>}</td>
                            <td>{f.after ?? <span className="muted">{fieldHidden(f, 'after')}</span>}</td>
                          </tr>
                        ))}
                      </tbody>
                    </table>
                  ) : null}
                  {d.more_fields ? <p className="muted">and {d.more_fields} more fields</p> : null}
                </div>
              ))}
            </li>
          ))}
        </ul>
      )}
      {answer.truncated ? <p className="muted">More messages changed than are listed.</p> : null}
    </div>
  );
}

/** What an absent value means: nothing there, or a value hidden without phi:read (both absent). */
function fieldHidden(f: { before?: string; after?: string }, side: 'before' | 'after'): string {
  const other = side === 'before' ? f.after : f.before;
  return other === undefined ? '(hidden or empty)' : '(empty)';
}

function Shadow({ channelId, current }: { channelId: string; current: DeploymentDetail }) {
  const [text, setText] = useState(current.content);
  const [limit, setLimit] = useState('1000');
  const [problems, setProblems] = useState<LintAnswer>();
  const textId = useId();
  const limitId = useId();
  const run = useMutation({
    mutationFn: (body: { content: string; limit: number }) =>
      api<ShadowAnswer>(`/api/v1/channels/${encodeURIComponent(channelId)}/shadow`, {
        method: 'POST',
        body,
      }),
    onMutate: () => setProblems(undefined),
    onError: (err, body) => {
      // A candidate that does not compile: its findings, by line and column.
      if (err instanceof ApiError && err.status === 422)
        lintFiles('candidate.yaml', body.content).then(setProblems, () => undefined);
    },
  });
  const n = Number(limit);
  const limitOk = Number.isInteger(n) && n >= 1 && n <= 10_000;
  return (
    <form
      className="shadow"
      onSubmit={(e) => {
        e.preventDefault();
        if (limitOk) run.mutate({ content: text, limit: n });
      }}
    >
      <p className="muted">
        Runs the stored messages of the last 24 hours through a candidate version of this channel, in memory:
        nothing is delivered and nothing is written.
      </p>
      <div className="field">
        <label htmlFor={textId}>Candidate channel text</label>
        <textarea
          id={textId}
          value={text}
          onChange={(e) => setText(e.currentTarget.value)}
          rows={14}
          spellCheck={false}
          className="mono"
        />
      </div>
      <div className="toolbar shadow-actions">
        <div className="field">
          <label htmlFor={limitId}>Messages to read (at most)</label>
          <input
            id={limitId}
            type="number"
            min={1}
            max={10_000}
            value={limit}
            onChange={(e) => setLimit(e.currentTarget.value)}
            aria-invalid={!limitOk}
          />
        </div>
        <button type="submit" className="primary" disabled={run.isPending || !limitOk || text.trim() === ''}>
          {run.isPending ? 'Running…' : 'Run shadow'}
        </button>
        <button type="button" onClick={() => setText(current.content)} disabled={text === current.content}>
          Reset to version {current.version}
        </button>
      </div>
      {run.error ? (
        <div className="state state-error" role="alert">
          <p>{errorMessage(run.error)}</p>
          {problems ? <LintProblems answer={problems} file="the candidate" /> : null}
        </div>
      ) : null}
      {run.data ? <ShadowResult answer={run.data} /> : null}
    </form>
  );
}

// ---------------------------------------------------------------------------------------------

function StatsSummary({ channel }: { channel: ChannelDetail }) {
  const stats = useChannelStats(channel.id, 24, 60_000);
  return (
    <QueryView query={stats} what="the statistics">
      {(s) => (
        <>
          <dl className="totals">
            {COUNTERS.map(({ key, label }) => (
              <div key={key}>
                <dt>{label}</dt>
                <dd>{s.totals[key as keyof typeof s.totals]}</dd>
              </div>
            ))}
            <div>
              <dt>Queued</dt>
              <dd>{s.queued.total}</dd>
            </div>
          </dl>
          <p className="muted">
            Last 24 hours; queued now.{' '}
            <Link to={`/?channel=${encodeURIComponent(channel.id)}`}>Charts on the dashboard</Link>
          </p>
          <LatencyTable stats={s} caption="Latency, last 24 hours" />
        </>
      )}
    </QueryView>
  );
}

function Section({ title, children }: { title: string; children: ReactNode }) {
  const id = useId();
  return (
    <section className="channel-section" aria-labelledby={id}>
      <h2 id={id}>{title}</h2>
      {children}
    </section>
  );
}

export default function Channel() {
  const { id = '' } = useParams();
  useTitle(`Channel ${id}`);
  const { can } = useSession();
  const queries = useQueryClient();
  const overview = useOverview();
  const channel = useQuery({
    queryKey: ['channel', id],
    queryFn: ({ signal }) => api<ChannelDetail>(`/api/v1/channels/${encodeURIComponent(id)}`, { signal }),
  });
  const current = useDeployment(id, channel.data?.version);
  const [asked, setAsked] = useState<'pause' | 'resume'>();
  const operate = useMutation({
    mutationFn: (action: 'pause' | 'resume') =>
      api<ChannelSummary>(`/api/v1/channels/${encodeURIComponent(id)}/${action}`, { method: 'POST' }),
    onSuccess: (summary) => {
      setAsked(undefined);
      queries.setQueryData<ChannelDetail>(['channel', id], (old) => (old ? { ...old, ...summary } : old));
      void queries.invalidateQueries({ queryKey: OVERVIEW_KEY });
      void queries.invalidateQueries({ queryKey: ['channels'] });
    },
  });
  return (
    <section className="channel-page">
      <p className="breadcrumb">
        <Link to="/channels">Channels</Link>
      </p>
      <h1>{id}</h1>
      <QueryView query={channel} what="the channel">
        {(c) => {
          const s = stateOf(c, overview.data?.channels);
          const description = overview.data?.channels.find((o) => o.id === c.id)?.description;
          return (
            <>
              <div className="channel-head">
                <StateBadge state={s.state} reason={s.reason} />
                {can('channels:operate') ? (
                  c.paused ? (
                    <button type="button" className="primary" onClick={() => setAsked('resume')}>
                      Resume
                    </button>
                  ) : (
                    <button type="button" onClick={() => setAsked('pause')}>
                      Pause
                    </button>
                  )
                ) : null}
                {can('messages:read') ? (
                  <>
                    <Link to={`/messages?channel=${encodeURIComponent(c.id)}`}>Messages</Link>
                    <Link to={`/dead-letters?channel=${encodeURIComponent(c.id)}`}>Dead letters</Link>
                  </>
                ) : null}
              </div>
              {description ? <p>{description}</p> : null}
              <p className="muted">
                {c.version !== undefined ? `Version ${c.version}, ` : ''}file {c.file}
              </p>
              {operate.error ? <ErrorBox error={operate.error} /> : null}
              {asked !== undefined ? (
                <Confirm
                  open
                  title={asked === 'pause' ? `Pause ${c.id}?` : `Resume ${c.id}?`}
                  confirmLabel={asked === 'pause' ? 'Pause' : 'Resume'}
                  danger={asked === 'pause'}
                  busy={operate.isPending}
                  onCancel={() => setAsked(undefined)}
                  onConfirm={() => asked && operate.mutate(asked)}
                >
                  {asked === 'pause' ? (
                    <p>
                      New messages are refused (senders are told to send again later) and deliveries wait.
                      Nothing is lost.
                    </p>
                  ) : (
                    <p>New messages are taken again and the waiting deliveries go at once.</p>
                  )}
                </Confirm>
              ) : null}

              <Section title="Configuration">
                <ChannelConfiguration config={c.configuration} />
              </Section>

              <Section title="Statistics">
                <StatsSummary channel={c} />
              </Section>

              <Section title="Lint">
                {current.isPending && c.version !== undefined ? (
                  <Loading what="Loading the deployed text" />
                ) : current.data ? (
                  <Lint channelId={c.id} current={current.data} />
                ) : current.error ? (
                  <ErrorBox error={current.error} retry={() => void current.refetch()} />
                ) : (
                  <Empty>No deployed version is recorded, so there is no text to check.</Empty>
                )}
              </Section>

              <Section title="Deployment history">
                <History channelId={c.id} current={c.version} canWrite={can('channels:write')} />
              </Section>

              {can('channels:write') ? (
                <Section title="Shadow run">
                  {current.data ? (
                    <Shadow key={current.data.version} channelId={c.id} current={current.data} />
                  ) : current.isPending && c.version !== undefined ? (
                    <Loading what="Loading the deployed text" />
                  ) : (
                    <Empty>No deployed version is recorded to start from.</Empty>
                  )}
                </Section>
              ) : null}
            </>
          );
        }}
      </QueryView>
    </section>
  );
}
