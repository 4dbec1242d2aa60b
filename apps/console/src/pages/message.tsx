import { useState, type ReactNode } from 'react';
import { Link, useParams } from 'react-router';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useTitle } from '../app';
import { Confirm } from '../components/confirm';
import { ContentView, type Content } from '../components/content-view';
import { ErrorBox, Loading } from '../components/states';
import { Time } from '../components/time';
import { api, errorMessage } from '../lib/api';
import { useSession } from '../lib/session';
import { ackTone, statusTone } from './messages';
import './message.css';

interface Attempt {
  number: number;
  started_at: string;
  finished_at: string;
  outcome: 'sent' | 'retry' | 'failed';
  code?: string;
  error?: string;
  response?: Content;
}

interface Delivery {
  id: string;
  destination: string;
  status: string;
  attempts: number;
  next_attempt_at?: string;
  last_error?: string;
  waiting?: string;
  after?: string;
  payload?: Content;
  attempt_list: Attempt[];
}

interface Issue {
  severity: 'error' | 'warning';
  code: string;
  location?: string;
  message: string;
  step?: string;
}

export interface MessageDetail {
  id: string;
  channel: string;
  received_at: string;
  type?: string;
  control_id?: string;
  sender: string;
  status: string;
  ack_code?: string;
  keys?: Record<string, string>;
  seq: number;
  source: string;
  remote_address?: string;
  content_type: string;
  duplicate_count: number;
  channel_version?: number;
  issues: Issue[];
  content?: { raw?: Content; ack?: Content; transformed?: Content };
  deliveries: Delivery[];
  /** Channel chaining: the message this one came from, and those it was handed on as. */
  parent?: MessageLink;
  children?: MessageLink[];
}

export interface MessageLink {
  id: string;
  channel_id: string;
  destination: string;
}

/** A link to a parent or child message: its channel, and the destination that handed it on. */
export function LinkedMessage({ link }: { link: MessageLink }) {
  return (
    <>
      <Link className="mono" to={`/messages/${encodeURIComponent(link.id)}`}>
        {link.id}
      </Link>
      <span className="muted">
        {' '}
        on {link.channel_id} by {link.destination}
      </span>
    </>
  );
}

/** The facts of channel chaining: where the message came from, what it was handed on as. */
export function MessageLinks({ parent, children }: { parent?: MessageLink; children: MessageLink[] }) {
  return (
    <>
      {parent ? (
        <div>
          <dt>Handed on from</dt>
          <dd>
            <LinkedMessage link={parent} />
          </dd>
        </div>
      ) : null}
      {children.length > 0 ? (
        <div>
          <dt>Handed on as</dt>
          <dd>
            {children.map((c) => (
              <div key={c.id}>
                <LinkedMessage link={c} />
              </div>
            ))}
          </dd>
        </div>
      ) : null}
    </>
  );
}

/** Delivery states that are not final: the page keeps them current. */
const UNFINISHED = ['pending', 'retrying', 'parked'];

function AttemptResponse({ response, label }: { response: Content | undefined; label: string }) {
  if (!response) return <span className="muted">none</span>;
  return <ContentView content={response} label={label} />;
}

function Stage({ title, children }: { title: string; children: ReactNode }) {
  return (
    <section className="stage card" aria-label={title}>
      <h3>{title}</h3>
      {children}
    </section>
  );
}

type ReplayTarget = { kind: 'message' } | { kind: 'delivery'; id: string; destination: string };

export default function Message() {
  useTitle('Message');
  const { id = '' } = useParams();
  const { can } = useSession();
  const mayReadContent = can('phi:read');
  const mayReplay = can('messages:replay');
  const queries = useQueryClient();
  const [reveal, setReveal] = useState(false);
  const [replay, setReplay] = useState<ReplayTarget | undefined>(undefined);
  const [replayed, setReplayed] = useState<string | undefined>(undefined);

  const meta = useQuery({
    queryKey: ['message', id, 'metadata'],
    queryFn: ({ signal }) =>
      api<MessageDetail>(`/api/v1/messages/${encodeURIComponent(id)}`, { query: { content: false }, signal }),
    // While a delivery is still on its way, what it waits for is kept current (metadata only).
    refetchInterval: (q) =>
      q.state.data?.status === 'received' ||
      q.state.data?.deliveries.some((d) => UNFINISHED.includes(d.status))
        ? 3_000
        : false,
  });
  const full = useQuery({
    queryKey: ['message', id, 'content'],
    queryFn: ({ signal }) =>
      api<MessageDetail>(`/api/v1/messages/${encodeURIComponent(id)}`, { query: { content: true }, signal }),
    enabled: reveal && mayReadContent,
    // Each reveal is an audited read: not repeated behind the person's back.
    staleTime: Infinity,
    refetchOnMount: false,
  });

  const doReplay = useMutation({
    mutationFn: (t: ReplayTarget) =>
      t.kind === 'message'
        ? api<{ requeued: string[] }>(`/api/v1/messages/${encodeURIComponent(id)}/replay`, { method: 'POST' })
        : api<{ requeued: string[] }>(`/api/v1/deliveries/${encodeURIComponent(t.id)}/replay`, {
            method: 'POST',
          }),
    onSuccess: (r) => {
      setReplayed(
        r.requeued.length === 0
          ? 'Nothing was replayed: no delivery of this message is dead-lettered.'
          : `Replayed ${r.requeued.length} deliver${r.requeued.length === 1 ? 'y' : 'ies'}: queued for another attempt.`,
      );
      setReplay(undefined);
      void queries.invalidateQueries({ queryKey: ['message', id] });
      void queries.invalidateQueries({ queryKey: ['dead-letters'] });
    },
  });

  if (meta.isPending) return <Loading what="Loading the message" />;
  if (meta.isError)
    return (
      <section>
        <h1>Message</h1>
        <ErrorBox error={meta.error} retry={() => void meta.refetch()} />
        <p>
          <Link to="/messages">Back to the search</Link>
        </p>
      </section>
    );

  // Metadata (kept current) from the first read; the bytes, and the keys, from the revealed one.
  const m = meta.data;
  const keys = full.data?.keys ?? m.keys;
  const revealed = (deliveryId: string) => full.data?.deliveries.find((d) => d.id === deliveryId);
  const dead = m.deliveries.filter((d) => d.status === 'dead_lettered');

  return (
    <section className="message-page">
      <p className="crumbs">
        <Link to="/messages">Messages</Link> › <span className="mono">{m.id}</span>
      </p>
      <h1>
        Message {m.control_id ? <span className="mono">{m.control_id}</span> : null}{' '}
        <span className={statusTone(m.status)}>{m.status}</span>
      </h1>

      <dl className="facts">
        <div>
          <dt>Channel</dt>
          <dd>
            <Link to={`/channels/${encodeURIComponent(m.channel)}`}>{m.channel}</Link>
            {m.channel_version !== undefined ? <span className="muted"> v{m.channel_version}</span> : null}
          </dd>
        </div>
        <div>
          <dt>Received</dt>
          <dd>
            <Time value={m.received_at} />
          </dd>
        </div>
        <div>
          <dt>Type</dt>
          <dd>{m.type ?? '—'}</dd>
        </div>
        <div>
          <dt>Control id</dt>
          <dd className="mono">{m.control_id ?? '—'}</dd>
        </div>
        <div>
          <dt>ACK</dt>
          <dd>{m.ack_code ? <span className={ackTone(m.ack_code)}>{m.ack_code}</span> : '—'}</dd>
        </div>
        <div>
          <dt>Sender</dt>
          <dd className="mono">{m.sender}</dd>
        </div>
        <div>
          <dt>Source</dt>
          <dd>
            {m.source}
            {m.remote_address ? <span className="muted"> from {m.remote_address}</span> : null}
          </dd>
        </div>
        <div>
          <dt>Content type</dt>
          <dd>{m.content_type}</dd>
        </div>
        <MessageLinks parent={m.parent} children={m.children ?? []} />
        {m.duplicate_count > 0 ? (
          <div>
            <dt>Duplicates</dt>
            <dd>{m.duplicate_count}</dd>
          </div>
        ) : null}
        {keys && Object.keys(keys).length > 0 ? (
          <div>
            <dt>Keys</dt>
            <dd className="mono">
              {Object.entries(keys)
                .map(([k, v]) => `${k}:${v}`)
                .join(' ')}
            </dd>
          </div>
        ) : null}
        <div>
          <dt>Message id</dt>
          <dd className="mono">{m.id}</dd>
        </div>
      </dl>

      {mayReplay ? (
        <div className="actions">
          <button
            type="button"
            className="primary"
            disabled={dead.length === 0}
            aria-describedby="replay-help"
            onClick={() => {
              setReplayed(undefined);
              doReplay.reset();
              setReplay({ kind: 'message' });
            }}
          >
            Replay
          </button>
          <span id="replay-help" className="muted">
            {dead.length === 0
              ? 'Nothing to replay: no delivery is dead-lettered.'
              : `${dead.length} dead-lettered deliver${dead.length === 1 ? 'y' : 'ies'} can be replayed.`}
          </span>
        </div>
      ) : null}
      {replayed ? (
        <p className="notice" role="status">
          {replayed}
        </p>
      ) : null}

      {m.issues.length > 0 ? (
        <>
          <h2>Issues</h2>
          <table>
            <thead>
              <tr>
                <th scope="col">Severity</th>
                <th scope="col">Code</th>
                <th scope="col">Where</th>
                <th scope="col">Message</th>
                <th scope="col">Step</th>
              </tr>
            </thead>
            <tbody>
              {m.issues.map((i, n) => (
                <tr key={n}>
                  <td>
                    <span className={i.severity === 'error' ? 'badge bad' : 'badge warn'}>{i.severity}</span>
                  </td>
                  <td className="mono">{i.code}</td>
                  <td className="mono">{i.location ?? '—'}</td>
                  <td>{i.message}</td>
                  <td>{i.step ?? '—'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      ) : null}

      <h2>Deliveries</h2>
      {m.deliveries.length === 0 ? (
        <p className="muted">No deliveries: the pipeline sent this message nowhere.</p>
      ) : (
        m.deliveries.map((d) => (
          <section key={d.id} className="delivery card" aria-labelledby={`delivery-${d.id}`}>
            <div className="delivery-head">
              <h3 id={`delivery-${d.id}`}>
                To <span className="mono">{d.destination}</span>{' '}
                <span className={statusTone(d.status)}>{d.status.replace('_', ' ')}</span>
              </h3>
              {mayReplay && d.status === 'dead_lettered' ? (
                <button
                  type="button"
                  onClick={() => {
                    setReplayed(undefined);
                    doReplay.reset();
                    setReplay({ kind: 'delivery', id: d.id, destination: d.destination });
                  }}
                >
                  Replay this delivery
                </button>
              ) : null}
            </div>
            <p>
              {d.after ? `after ${d.after} · ` : null}
              {d.attempts} attempt{d.attempts === 1 ? '' : 's'}
              {d.next_attempt_at ? (
                <>
                  {' '}
                  · next at <Time value={d.next_attempt_at} />
                </>
              ) : null}
              {d.last_error ? <span className="error"> · last error: {d.last_error}</span> : null}
            </p>
            {d.waiting ? (
              <p className="waiting">
                <strong>Waiting:</strong> {d.waiting}
              </p>
            ) : null}
            {d.attempt_list.length > 0 ? (
              <div className="table-scroll">
                <table className="attempts">
                  <caption className="muted">Attempts to {d.destination}</caption>
                  <thead>
                    <tr>
                      <th scope="col">#</th>
                      <th scope="col">Started</th>
                      <th scope="col">Finished</th>
                      <th scope="col">Outcome</th>
                      <th scope="col">Code</th>
                      <th scope="col">Error</th>
                      {full.data ? <th scope="col">Response</th> : null}
                    </tr>
                  </thead>
                  <tbody>
                    {d.attempt_list.map((a) => (
                      <tr key={a.number}>
                        <td className="num">{a.number}</td>
                        <td>
                          <Time value={a.started_at} />
                        </td>
                        <td>
                          <Time value={a.finished_at} />
                        </td>
                        <td>
                          <span
                            className={
                              a.outcome === 'sent'
                                ? 'badge ok'
                                : a.outcome === 'retry'
                                  ? 'badge warn'
                                  : 'badge bad'
                            }
                          >
                            {a.outcome}
                          </span>
                        </td>
                        <td className="mono">{a.code ?? '—'}</td>
                        <td>{a.error ?? '—'}</td>
                        {full.data ? (
                          <td className="response">
                            <AttemptResponse
                              response={
                                revealed(d.id)?.attempt_list.find((x) => x.number === a.number)?.response
                              }
                              label={`Response of ${d.destination} to attempt ${a.number}`}
                            />
                          </td>
                        ) : null}
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            ) : null}
          </section>
        ))
      )}

      <h2>Content</h2>
      {!mayReadContent ? (
        <p className="notice">
          Message content (the raw message, the ACK, what was sent and the responses) needs the{' '}
          <code>phi:read</code> permission, which your role does not have.
        </p>
      ) : !reveal ? (
        <div className="reveal">
          <button type="button" className="primary" onClick={() => setReveal(true)}>
            Show content
          </button>
          <span className="muted">
            Message content is patient data: showing it is recorded in the audit log.
          </span>
        </div>
      ) : full.isPending ? (
        <Loading what="Loading the content" />
      ) : full.isError ? (
        <ErrorBox error={full.error} retry={() => void full.refetch()} />
      ) : (
        <div className="stages">
          <Stage title="Raw message">
            {full.data.content?.raw ? (
              <ContentView content={full.data.content.raw} label="Raw message" />
            ) : (
              <p className="muted">Not stored.</p>
            )}
          </Stage>
          <Stage title="ACK sent">
            {full.data.content?.ack ? (
              <ContentView content={full.data.content.ack} label="ACK sent" />
            ) : (
              <p className="muted">No ACK was sent for this message.</p>
            )}
          </Stage>
          <Stage title="Transformed">
            {full.data.content?.transformed ? (
              <ContentView content={full.data.content.transformed} label="Transformed" />
            ) : (
              <p className="muted">The pipeline produced no transformed content.</p>
            )}
          </Stage>
          {m.deliveries.map((d) => {
            const payload = revealed(d.id)?.payload;
            return (
              <Stage key={d.id} title={`Payload to ${d.destination}`}>
                {payload ? (
                  <ContentView content={payload} label={`Payload to ${d.destination}`} />
                ) : (
                  <p className="muted">No payload stored.</p>
                )}
              </Stage>
            );
          })}
        </div>
      )}

      <Confirm
        open={replay !== undefined}
        title={
          replay?.kind === 'delivery'
            ? `Replay the delivery to ${replay.destination}?`
            : 'Replay this message?'
        }
        confirmLabel="Replay"
        busy={doReplay.isPending}
        onCancel={() => setReplay(undefined)}
        onConfirm={() => replay && doReplay.mutate(replay)}
      >
        <p>
          {replay?.kind === 'delivery'
            ? 'The delivery is queued again and sent as it was.'
            : `${dead.length} dead-lettered deliver${dead.length === 1 ? 'y is queued again and sent as it was' : 'ies are queued again and sent as they were'}.`}
        </p>
        {doReplay.isError ? (
          <p className="error" role="alert">
            {errorMessage(doReplay.error)}
          </p>
        ) : null}
      </Confirm>
    </section>
  );
}
