/**
 * Shadow runs: the stored messages of a channel run again through a candidate version of the
 * channel, and what the candidate would do compared with what the ledger recorded. Nothing is
 * delivered and nothing is written: the run reads the ledger (a page of messages at a time)
 * and runs the candidate's pipeline in memory.
 *
 * The transformers' outputs are deterministic (resource ids are hashes of the transformer, the
 * resource and the message's identity: `deterministicUuid` in libs/mapping), except for the
 * header of an HL7 v2 message a transformer builds: MSH-7 is the clock, and MSH-10 is made for
 * each built message (`builtControlId`; messages stored by earlier releases hashed the input
 * instead). Those two fields are left out of the comparison of payloads a transformer builds;
 * everything else is compared as is.
 */
import type { CompiledChannel, CompiledDestination } from '@sinew/channels';
import { Hl7Message, type Hl7Segment } from '@sinew/hl7v2';
import type { MessageTransformer } from '@sinew/mapping';
import type {
  ContentType,
  DeliveryRecord,
  MessageIssue,
  MessageRecord,
  MessageStatus,
  NewDelivery,
  PipelineResult,
  Store,
} from '@sinew/store';
import { ChannelPipeline } from './pipeline';
import type { PipelineThreads } from './pipeline-threads';

/** One difference inside a payload: an HL7 path or a JSON pointer; undefined = absent. */
export interface FieldChange {
  path: string;
  before?: string;
  after?: string;
}

export interface DestinationDiff {
  destination: string;
  /** `added`: only the candidate delivers; `removed`: only the ledger has it. */
  change: 'added' | 'removed' | 'changed';
  /** For `changed`: the differences (HL7 paths, JSON pointers, or `(payload type)` …). */
  fields: FieldChange[];
}

/** What the candidate would do with a message, compared with what it did. */
export type ShadowOutcome = 'unchanged' | 'changed' | 'filtered' | 'rejected' | 'errored';

export interface MessageDiff {
  id: string;
  receivedAt: Date;
  messageType?: string;
  /** The status the ledger recorded. */
  stored: MessageStatus;
  /** The candidate pipeline's status. */
  candidate: PipelineResult['status'];
  outcome: Exclude<ShadowOutcome, 'unchanged'>;
  /** The candidate's first error, when it would reject or error the message. */
  issue?: MessageIssue;
  destinations: DestinationDiff[];
}

export interface ShadowTotals {
  messages: number;
  unchanged: number;
  changed: number;
  filtered: number;
  rejected: number;
  errored: number;
  /** Messages still `received` (no outcome recorded yet) or without stored content: not compared. */
  skipped: number;
  destinationsAdded: number;
  destinationsRemoved: number;
}

export interface ShadowOptions {
  store: Store;
  /** The channel whose stored messages are read (the candidate's own id may differ). */
  channelId: string;
  candidate: CompiledChannel;
  since?: Date;
  until?: Date;
  /** At most this many messages (newest first). */
  limit?: number;
  /** Messages read per page (default 500). */
  pageSize?: number;
  /** Called for every message whose outcome would change, newest first. */
  onDiff?: (diff: MessageDiff) => void;
  /** Stops the run before the next message (the totals then cover the messages read). */
  signal?: AbortSignal;
  /**
   * Pipeline threads started with the candidate (PipelineThreads): the pipeline then runs on
   * them and on this thread, several messages at once; the order of the reports is kept.
   */
  threads?: Pick<PipelineThreads, 'run' | 'size' | 'pending'>;
}

/** The ledger answers at most this many rows per search. */
const MAX_PAGE = 10_000;

/** Stored status → the pipeline outcome it came from; undefined while still `received`. */
function pipelineStatus(s: MessageStatus): PipelineResult['status'] | undefined {
  switch (s) {
    case 'received':
      return undefined;
    case 'filtered':
    case 'rejected':
    case 'errored':
      return s;
    default:
      return 'processed';
  }
}

/**
 * The stored messages of a channel, newest first, a page at a time. The ledger pages by
 * `until` (exclusive), so each page asks up to the last millisecond seen (inclusive) and skips
 * the messages of that millisecond already returned.
 */
export async function* storedMessages(
  store: Store,
  search: { channelId: string; since?: Date; until?: Date; limit?: number; pageSize?: number },
): AsyncGenerator<MessageRecord> {
  const pageSize = Math.max(1, Math.min(search.pageSize ?? 500, MAX_PAGE));
  let remaining = search.limit ?? Number.POSITIVE_INFINITY;
  let until = search.until;
  let boundary: number | undefined;
  let seen = new Set<string>();
  while (remaining > 0) {
    const want = seen.size + Math.min(pageSize, remaining);
    if (want > MAX_PAGE)
      throw new Error(`more than ${MAX_PAGE - pageSize} messages were received within one millisecond`);
    const rows = await store.searchMessages({
      channelId: search.channelId,
      ...(search.since ? { since: search.since } : {}),
      ...(until ? { until } : {}),
      limit: want,
    });
    const fresh = rows.filter((r) => !seen.has(r.id));
    if (fresh.length === 0) return;
    for (const r of fresh) {
      if (remaining <= 0) return;
      remaining--;
      yield r;
    }
    if (rows.length < want) return;
    const last = (fresh[fresh.length - 1] as MessageRecord).receivedAt.getTime();
    if (last !== boundary) seen = new Set();
    for (const r of fresh) if (r.receivedAt.getTime() === last) seen.add(r.id);
    boundary = last;
    until = new Date(last + 1);
  }
}

/** Runs the candidate over the stored messages and reports each one whose outcome would change. */
export async function shadowRun(options: ShadowOptions): Promise<ShadowTotals> {
  const { store, candidate } = options;
  const pipeline = new ChannelPipeline(candidate);
  const generated = generatedHeaderFields(candidate);
  const totals: ShadowTotals = {
    messages: 0,
    unchanged: 0,
    changed: 0,
    filtered: 0,
    rejected: 0,
    errored: 0,
    skipped: 0,
    destinationsAdded: 0,
    destinationsRemoved: 0,
  };
  const search = {
    channelId: options.channelId,
    ...(options.since ? { since: options.since } : {}),
    ...(options.until ? { until: options.until } : {}),
    ...(options.limit !== undefined ? { limit: options.limit } : {}),
    ...(options.pageSize !== undefined ? { pageSize: options.pageSize } : {}),
  };
  const threads = options.threads && options.threads.size > 0 ? options.threads : undefined;
  /** One message: read, run, compared; undefined when it could not be compared. */
  const one = async (m: MessageRecord): Promise<MessageDiff | 'unchanged' | undefined> => {
    const stored = pipelineStatus(m.status);
    const raw = stored && (await store.getContent(m.id, 'raw'));
    if (!stored || !raw) return undefined;
    // Each thread kept a few messages ahead; the rest run here meanwhile.
    const result =
      threads && threads.pending < threads.size * 4
        ? await threads.run(candidate.id, raw, m.contentType, m.id)
        : pipeline.run(raw, m.contentType, undefined, m.id);
    return (await compareMessage(store, m, stored, result, generated)) ?? 'unchanged';
  };
  const count = (diff: MessageDiff | 'unchanged' | undefined) => {
    totals.messages++;
    if (diff === undefined) totals.skipped++;
    else if (diff === 'unchanged') totals.unchanged++;
    else {
      totals[diff.outcome]++;
      for (const d of diff.destinations) {
        if (d.change === 'added') totals.destinationsAdded++;
        else if (d.change === 'removed') totals.destinationsRemoved++;
      }
      options.onDiff?.(diff);
    }
  };
  // Messages under way, oldest request first: reported in the order they were read.
  const window = threads ? threads.size * 16 : 1;
  const underWay: Array<Promise<MessageDiff | 'unchanged' | undefined>> = [];
  for await (const m of storedMessages(store, search)) {
    if (options.signal?.aborted) break;
    const p = one(m);
    // Awaited below, in order; marked handled so that a later failure is not reported early.
    p.catch(() => undefined);
    underWay.push(p);
    while (underWay.length >= window) count(await (underWay.shift() as (typeof underWay)[number]));
  }
  while (underWay.length) count(await (underWay.shift() as (typeof underWay)[number]));
  return totals;
}

async function compareMessage(
  store: Store,
  m: MessageRecord,
  stored: PipelineResult['status'],
  result: PipelineResult,
  generated: ReadonlyMap<string, ReadonlySet<string>>,
): Promise<MessageDiff | undefined> {
  const base = {
    id: m.id,
    receivedAt: m.receivedAt,
    ...(m.messageType !== undefined ? { messageType: m.messageType } : {}),
    stored: m.status,
    candidate: result.status,
  };
  if (result.status !== 'processed') {
    if (result.status === stored) return undefined;
    const issue = result.issues.find((i) => i.severity === 'error');
    return { ...base, outcome: result.status, ...(issue ? { issue } : {}), destinations: [] };
  }
  if (stored !== 'processed') {
    // Filtered, rejected or errored then; delivered now.
    return {
      ...base,
      outcome: 'changed',
      destinations: result.deliveries.map((d) => ({
        destination: d.destination,
        change: 'added',
        fields: [],
      })),
    };
  }
  const before = new Map<string, DeliveryRecord>();
  for (const d of await store.getDeliveries(m.id)) before.set(d.destination, d);
  const destinations: DestinationDiff[] = [];
  for (const d of result.deliveries) {
    const old = before.get(d.destination);
    before.delete(d.destination);
    if (!old) {
      destinations.push({ destination: d.destination, change: 'added', fields: [] });
      continue;
    }
    const payload = await store.getDeliveryPayload(old.id);
    const fields = payload
      ? comparePayloads(payload, d, generated.get(d.destination))
      : [{ path: '(payload)', after: `${d.payload.length} bytes` }];
    if ((old.orderKey ?? undefined) !== d.orderKey)
      fields.push({
        path: '(ordering key)',
        ...(old.orderKey !== undefined ? { before: old.orderKey } : {}),
        ...(d.orderKey !== undefined ? { after: d.orderKey } : {}),
      });
    if (fields.length) destinations.push({ destination: d.destination, change: 'changed', fields });
  }
  for (const name of before.keys()) destinations.push({ destination: name, change: 'removed', fields: [] });
  return destinations.length ? { ...base, outcome: 'changed', destinations } : undefined;
}

/**
 * Per destination, the header fields of the HL7 v2 message a transformer builds that differ on
 * every run: MSH-7 (the clock) and MSH-10 (see the file comment).
 */
export function generatedHeaderFields(channel: CompiledChannel): Map<string, ReadonlySet<string>> {
  let mapped: MessageTransformer | undefined;
  for (const s of channel.steps) if (s.kind === 'map') mapped = s.transformer;
  const out = new Map<string, ReadonlySet<string>>();
  const fieldsOf = (t: MessageTransformer | undefined): ReadonlySet<string> | undefined => {
    if (!t || t.spec.output !== 'hl7v2') return undefined;
    return new Set(['MSH-7', 'MSH-10']);
  };
  const builder = (d: CompiledDestination) => d.transformer ?? (d.payload === 'raw' ? undefined : mapped);
  for (const d of channel.destinations) {
    const f = fieldsOf(builder(d));
    if (f) out.set(d.name, f);
  }
  return out;
}

/**
 * The differences between a stored payload and the candidate's: none when the bytes are equal;
 * else HL7 v2 by HL7 path, FHIR and JSON by JSON pointer, other content as a whole.
 */
export function comparePayloads(
  stored: { body: Buffer; contentType: ContentType },
  candidate: Pick<NewDelivery, 'payload' | 'payloadType'>,
  ignore?: ReadonlySet<string>,
): FieldChange[] {
  if (stored.contentType === candidate.payloadType && stored.body.equals(candidate.payload)) return [];
  if (stored.contentType !== candidate.payloadType)
    return [{ path: '(payload type)', before: stored.contentType, after: candidate.payloadType }];
  try {
    if (stored.contentType === 'hl7v2')
      return diffHl7(Hl7Message.parse(stored.body), Hl7Message.parse(candidate.payload), ignore);
    if (stored.contentType === 'fhir' || stored.contentType === 'json')
      return diffJson(
        JSON.parse(stored.body.toString('utf8')) as unknown,
        JSON.parse(candidate.payload.toString('utf8')) as unknown,
      );
  } catch {
    // Unreadable on one side: compared as text below.
  }
  return [
    { path: '(payload)', before: stored.body.toString('utf8'), after: candidate.payload.toString('utf8') },
  ];
}

function segmentsByName(msg: Hl7Message): Map<string, Hl7Segment[]> {
  const out = new Map<string, Hl7Segment[]>();
  for (const s of msg.segments) {
    const list = out.get(s.name);
    if (list) list.push(s);
    else out.set(s.name, [s]);
  }
  return out;
}

/**
 * Field-level differences of two HL7 v2 messages, by HL7 path (`PID-5.1`, `OBX[2]-5`,
 * `PID-3[2].1`), segments matched by name and occurrence. Values are shown decoded; a segment
 * on one side only is shown whole. `ignore` lists fields (`MSH-7`) left out.
 */
export function diffHl7(a: Hl7Message, b: Hl7Message, ignore?: ReadonlySet<string>): FieldChange[] {
  const out: FieldChange[] = [];
  const sa = segmentsByName(a);
  const sb = segmentsByName(b);
  const names = [...sa.keys(), ...[...sb.keys()].filter((n) => !sa.has(n))];
  for (const name of names) {
    const la = sa.get(name) ?? [];
    const lb = sb.get(name) ?? [];
    for (let k = 0; k < Math.max(la.length, lb.length); k++) {
      const x = la[k];
      const y = lb[k];
      const at = k === 0 ? name : `${name}[${k + 1}]`;
      if (!x || !y) {
        out.push({ path: at, ...(x ? { before: x.toString() } : {}), ...(y ? { after: y.toString() } : {}) });
        continue;
      }
      if (x.toString() === y.toString()) continue;
      const fa = x.fields();
      const fb = y.fields();
      for (let f = 1; f < Math.max(fa.length, fb.length); f++) {
        const path = `${at}-${f}`;
        if (ignore?.has(path)) continue;
        diffField(path, fa[f], fb[f], x.isHeader && f <= 2, a, b, out);
      }
    }
  }
  return out;
}

function diffField(
  path: string,
  ra: string | undefined,
  rb: string | undefined,
  atomic: boolean,
  a: Hl7Message,
  b: Hl7Message,
  out: FieldChange[],
): void {
  if ((ra ?? '') === (rb ?? '')) return;
  const push = (p: string, x: string | undefined, y: string | undefined) => {
    if ((x ?? '') === (y ?? '')) return;
    out.push({
      path: p,
      ...(x ? { before: atomic ? x : a.decode(x) } : {}),
      ...(y ? { after: atomic ? y : b.decode(y) } : {}),
    });
  };
  if (atomic) return push(path, ra, rb);
  const repsA = split(ra, a.delimiters.repetition);
  const repsB = split(rb, b.delimiters.repetition);
  const reps = Math.max(repsA.length, repsB.length);
  for (let r = 0; r < reps; r++) {
    const xa = repsA[r];
    const xb = repsB[r];
    if ((xa ?? '') === (xb ?? '')) continue;
    const rp = r === 0 ? path : `${path}[${r + 1}]`;
    const ca = split(xa, a.delimiters.component);
    const cb = split(xb, b.delimiters.component);
    const subA = a.delimiters.subcomponent;
    const subB = b.delimiters.subcomponent;
    const hasSub = (s: string | undefined, d: string | undefined) => !!s && !!d && s.includes(d);
    if (ca.length <= 1 && cb.length <= 1 && !hasSub(xa, subA) && !hasSub(xb, subB)) {
      push(rp, xa, xb);
      continue;
    }
    for (let c = 0; c < Math.max(ca.length, cb.length); c++) {
      const ya = ca[c];
      const yb = cb[c];
      if ((ya ?? '') === (yb ?? '')) continue;
      const cp = `${rp}.${c + 1}`;
      const pa = split(ya, subA);
      const pb = split(yb, subB);
      if (pa.length <= 1 && pb.length <= 1) {
        push(cp, ya, yb);
        continue;
      }
      for (let s = 0; s < Math.max(pa.length, pb.length); s++) push(`${cp}.${s + 1}`, pa[s], pb[s]);
    }
  }
}

function split(text: string | undefined, sep: string | undefined): string[] {
  if (text === undefined || text === '') return [];
  return sep ? text.split(sep) : [text];
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

const escapePointer = (key: string) => key.replace(/~/g, '~0').replace(/\//g, '~1');

/**
 * Differences of two JSON documents by JSON pointer (`/entry/0/resource/name/0/family`);
 * values as JSON text, a member on one side only as absent on the other.
 */
export function diffJson(a: unknown, b: unknown, pointer = '', out: FieldChange[] = []): FieldChange[] {
  if (a === b) return out;
  if (Array.isArray(a) && Array.isArray(b)) {
    for (let i = 0; i < Math.max(a.length, b.length); i++) diffJson(a[i], b[i], `${pointer}/${i}`, out);
  } else if (isObject(a) && isObject(b)) {
    for (const k of Object.keys(a)) diffJson(a[k], b[k], `${pointer}/${escapePointer(k)}`, out);
    for (const k of Object.keys(b))
      if (!(k in a)) diffJson(undefined, b[k], `${pointer}/${escapePointer(k)}`, out);
  } else {
    const x = a === undefined ? undefined : JSON.stringify(a);
    const y = b === undefined ? undefined : JSON.stringify(b);
    if (x !== y)
      out.push({
        path: pointer || '/',
        ...(x !== undefined ? { before: x } : {}),
        ...(y !== undefined ? { after: y } : {}),
      });
  }
  return out;
}
