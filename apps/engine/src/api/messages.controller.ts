import { Controller, Inject, UseGuards } from '@nestjs/common';
import { hasScope, mayUseChannel, type Principal } from '@sinew/auth';
import type { ContentStage, DeliveryRecord, MessageRecord, MessageSearch, Store } from '@sinew/store';
import { isUtf8 } from 'node:buffer';
import { z } from 'zod';
import type { ApiContext } from './context';
import { Ctx, Input } from './decorators';
import { API_DEPS, type ApiDeps } from './deps';
import { ApiGuard } from './guard';
import { ApiProblem } from './problem';
import { ApiRoute } from './route';
import {
  content,
  DELIVERY_STATUSES,
  idParam,
  instant,
  issue,
  MESSAGE_STATUSES,
  queryBool,
  queryInt,
} from './schemas';

export const searchQuery = z.strictObject({
  channel: idParam.optional().describe('Channel id'),
  status: z
    .enum([...MESSAGE_STATUSES, 'dead_lettered'])
    .optional()
    .describe('Message status; `dead_lettered` is the same as `failed` (a delivery was dead-lettered)'),
  since: instant.optional().describe('Received at or after (ISO 8601)'),
  until: instant.optional().describe('Received before (ISO 8601)'),
  type: z
    .string()
    .max(40)
    .regex(/^[A-Za-z0-9^_]+$/)
    .optional()
    .describe('Message type and trigger (`ORU^R01`), or a FHIR resource type'),
  control_id: z.string().min(1).max(200).optional().describe('MSH-10'),
  sender: z.string().min(1).max(400).optional().describe('`MSH-3|MSH-4`, or the peer for non-HL7 input'),
  key: z
    .string()
    .max(400)
    .regex(/^[A-Za-z][A-Za-z0-9_]*:.+$/, 'expected name:value, e.g. mrn:12345')
    .optional()
    .describe('A business key the channel declares, as `name:value` (`mrn:12345`)'),
  q: z
    .string()
    .trim()
    .min(1)
    .max(400)
    .optional()
    .describe(
      'One free text matched exactly against the message id, the control id (MSH-10) and every business key’s value, whatever its name (an MRN, a visit number): a message matches when any does. The audit log records that it was used, never its value.',
    ),
  limit: queryInt(1, 500).optional().describe('Page size (default 50, at most 500)'),
  cursor: z.string().max(200).optional().describe('`next_cursor` of the previous page'),
});
type SearchQuery = z.output<typeof searchQuery>;

export const messageSummary = z.object({
  id: z.string(),
  channel: z.string(),
  received_at: z.string(),
  type: z.string().optional(),
  control_id: z.string().optional(),
  sender: z.string(),
  status: z.enum(MESSAGE_STATUSES),
  ack_code: z.string().optional(),
  keys: z
    .record(z.string(), z.string())
    .optional()
    .describe('Business keys (PHI: only with the phi:read scope)'),
});

const searchResponse = z.object({
  items: z.array(messageSummary),
  next_cursor: z.string().nullable(),
});

const attempt = z.object({
  number: z.number().int(),
  started_at: z.string(),
  finished_at: z.string(),
  outcome: z.enum(['sent', 'retry', 'failed']),
  code: z.string().optional(),
  error: z.string().optional(),
  response: content.optional().describe('The peer’s response (phi:read)'),
});

const delivery = z.object({
  id: z.string(),
  destination: z.string(),
  status: z.enum(DELIVERY_STATUSES),
  attempts: z.number().int(),
  next_attempt_at: z.string().optional(),
  last_error: z.string().optional(),
  waiting: z.string().optional().describe('Why a delivery that is not finished waits'),
  after: z
    .string()
    .optional()
    .describe('The destination whose delivery of the message this one waits for (its `after:`)'),
  payload: content.optional().describe('What is (or was) sent (phi:read)'),
  attempt_list: z.array(attempt),
});

const messageLink = z.object({
  id: z.string(),
  channel_id: z.string(),
  destination: z.string().describe('The `channel` destination (of the parent’s channel) that handed it on'),
});

const messageDetail = messageSummary.extend({
  seq: z.number().int(),
  source: z.string(),
  remote_address: z.string().optional(),
  content_type: z.string(),
  duplicate_count: z.number().int(),
  channel_version: z.number().int().optional(),
  issues: z.array(issue),
  content: z
    .object({ raw: content.optional(), ack: content.optional(), transformed: content.optional() })
    .optional()
    .describe('Every stage’s bytes (PHI: only with the phi:read scope)'),
  deliveries: z.array(delivery),
  parent: messageLink
    .optional()
    .describe('The message this one was handed on from by a `channel` destination (channel chaining)'),
  children: z
    .array(messageLink)
    .describe('The messages this one was handed on as, by its `channel` destinations (oldest first)'),
});

const idPath = z.strictObject({ id: idParam });

const replayResponse = z.object({ requeued: z.array(z.string()) });

const reprocessBody = z.strictObject({
  ids: z.array(idParam).min(1).max(1000).describe('Messages to run through the pipeline again'),
});
const reprocessResponse = z.object({
  reprocessed: z
    .array(z.string())
    .describe('The messages set back to `received` (others were not reprocessable)'),
});

function encode(buf: Buffer | undefined): z.output<typeof content> | undefined {
  if (!buf) return undefined;
  return isUtf8(buf)
    ? { encoding: 'utf8', data: buf.toString('utf8'), bytes: buf.length }
    : { encoding: 'base64', data: buf.toString('base64'), bytes: buf.length };
}

/** An opaque page cursor: the last item's receipt time and seq. */
function encodeCursor(m: MessageRecord): string {
  return Buffer.from(JSON.stringify([m.receivedAt.getTime(), m.seq])).toString('base64url');
}

function decodeCursor(cursor: string): { receivedAt: Date; seq: number } {
  try {
    const v = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    if (Array.isArray(v) && v.length === 2 && Number.isSafeInteger(v[0]) && Number.isSafeInteger(v[1]))
      return { receivedAt: new Date(v[0] as number), seq: v[1] as number };
  } catch {
    // answered below
  }
  throw new ApiProblem({
    status: 400,
    code: 'request.invalid',
    detail: 'invalid query',
    invalid_params: [{ name: 'query.cursor', reason: 'not a cursor this API gave out' }],
  });
}

function summary(m: MessageRecord, phi: boolean): z.output<typeof messageSummary> {
  return {
    id: m.id,
    channel: m.channelId,
    received_at: m.receivedAt.toISOString(),
    ...(m.messageType !== undefined ? { type: m.messageType } : {}),
    ...(m.controlId !== undefined ? { control_id: m.controlId } : {}),
    sender: m.sender,
    status: m.status,
    ...(m.ackCode !== undefined ? { ack_code: m.ackCode } : {}),
    ...(phi ? { keys: m.keys } : {}),
  };
}

/** The channels a caller may search: all (undefined), or the ones it is restricted to. */
function channelScope(p: Principal, asked: string | undefined): string | undefined {
  if (asked !== undefined) {
    if (!mayUseChannel(p, asked))
      throw new ApiProblem({
        status: 403,
        code: 'channel.forbidden',
        detail: `no access to channel ${asked}`,
      });
    return asked;
  }
  if (p.channels === undefined) return undefined;
  if (p.channels.length === 1) return p.channels[0];
  throw new ApiProblem({
    status: 400,
    code: 'request.invalid',
    detail: 'invalid query',
    invalid_params: [{ name: 'query.channel', reason: 'required: your access is limited to some channels' }],
  });
}

/** The store search a query's filters ask for, within the channels the caller may see. */
export function searchOf(q: Omit<SearchQuery, 'limit' | 'cursor'>, principal: Principal): MessageSearch {
  const search: MessageSearch = {};
  const channel = channelScope(principal, q.channel);
  if (channel !== undefined) search.channelId = channel;
  if (q.status !== undefined) search.status = q.status === 'dead_lettered' ? 'failed' : q.status;
  if (q.since) search.since = q.since;
  if (q.until) search.until = q.until;
  if (q.type !== undefined) search.messageType = q.type;
  if (q.control_id !== undefined) search.controlId = q.control_id;
  if (q.sender !== undefined) search.sender = q.sender;
  if (q.key !== undefined) {
    const at = q.key.indexOf(':');
    search.key = { name: q.key.slice(0, at), value: q.key.slice(at + 1) };
  }
  if (q.q !== undefined) search.text = q.q;
  return search;
}

/**
 * The filters of a query as the audit keeps them: their names and values, except a business
 * key's value (an MRN is PHI: only its name is kept) and the free text `q` (only that it was
 * used: `*`). Paging parameters are left out.
 */
export function filterOf(q: Record<string, unknown>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(q)
      .filter(([k, v]) => v !== undefined && k !== 'cursor' && k !== 'limit')
      .map(([k, v]) => [
        k,
        k === 'q'
          ? '*'
          : k === 'key'
            ? String(v).slice(0, String(v).indexOf(':'))
            : v instanceof Date
              ? v.toISOString()
              : String(v),
      ]),
  );
}

const getQuery = z.strictObject({
  content: queryBool
    .optional()
    .describe(
      '`false`: metadata, issues, deliveries, attempts and waiting reasons only — no stage bytes, payloads, responses or business keys, and the audit row is not a content read (default `true`)',
    ),
});

/** Messages: search, every stage of one, replay and reprocess. */
@Controller()
@UseGuards(ApiGuard)
export class MessagesController {
  constructor(@Inject(API_DEPS) private readonly deps: ApiDeps) {}

  private get store(): Store {
    return this.deps.store;
  }

  @ApiRoute({
    method: 'GET',
    path: '/api/v1/messages',
    operationId: 'searchMessages',
    summary: 'Search messages',
    description:
      'Newest first, a page at a time (keyset pagination: pass `next_cursor` back as `cursor`). Every filter is an index lookup.',
    tag: 'Messages',
    scope: 'messages:read',
    query: searchQuery,
    response: searchResponse,
  })
  async search(
    @Input('query') q: SearchQuery,
    @Ctx() c: ApiContext,
  ): Promise<z.output<typeof searchResponse>> {
    const principal = c.principal as Principal;
    const limit = q.limit ?? 50;
    const search = searchOf(q, principal);
    search.limit = limit + 1;
    if (q.cursor !== undefined) search.after = decodeCursor(q.cursor);
    c.filter = filterOf(q);
    const found = await this.store.searchMessages(search);
    const page = found.slice(0, limit);
    const last = page[page.length - 1];
    const phi = hasScope(principal, 'phi:read');
    if (phi && page.length > 0) c.contentRead = true;
    c.objectIds.push(...page.map((m) => m.id));
    return {
      items: page.map((m) => summary(m, phi)),
      next_cursor: found.length > limit && last ? encodeCursor(last) : null,
    };
  }

  @ApiRoute({
    method: 'GET',
    path: '/api/v1/messages/{id}',
    operationId: 'getMessage',
    summary: 'A message with every stage',
    description:
      'Metadata, issues, deliveries and every attempt, and why a delivery waits. With the phi:read scope also the business keys and the bytes of every stage: raw, the ACK sent, the transformed content, each destination’s payload and each peer’s response — unless `content=false` asks for the rest only.',
    tag: 'Messages',
    scope: 'messages:read',
    params: idPath,
    query: getQuery,
    response: messageDetail,
    errors: [404],
  })
  async get(
    @Input('params') p: { id: string },
    @Input('query') q: z.output<typeof getQuery>,
    @Ctx() c: ApiContext,
  ): Promise<z.output<typeof messageDetail>> {
    const principal = c.principal as Principal;
    const m = await this.visibleMessage(p.id, principal);
    c.objectIds.push(m.id);
    if (q.content === false) c.filter = { content: 'false' };
    const phi = q.content !== false && hasScope(principal, 'phi:read');
    const deliveries = await this.store.getDeliveries(m.id);
    const stage = async (s: ContentStage) => encode(await this.store.getContent(m.id, s));
    const out: z.output<typeof messageDetail> = {
      ...summary(m, phi),
      seq: m.seq,
      source: m.source,
      ...(m.remoteAddress !== undefined ? { remote_address: m.remoteAddress } : {}),
      content_type: m.contentType,
      duplicate_count: m.duplicateCount,
      ...(m.channelVersion !== undefined ? { channel_version: m.channelVersion } : {}),
      issues: m.issues,
      deliveries: await Promise.all(deliveries.map((d) => this.delivery(d, phi))),
      ...(await this.links(m.id, principal)),
    };
    if (phi) {
      c.contentRead = true;
      const [raw, ack, transformed] = await Promise.all([stage('raw'), stage('ack'), stage('transformed')]);
      out.content = {
        ...(raw ? { raw } : {}),
        ...(ack ? { ack } : {}),
        ...(transformed ? { transformed } : {}),
      };
    }
    return out;
  }

  /** Parent and children, leaving out those on channels the caller may not see. */
  private async links(
    id: string,
    principal: Principal,
  ): Promise<Pick<z.output<typeof messageDetail>, 'parent' | 'children'>> {
    const { parent, children } = await this.store.links.linksOf(id);
    const link = (l: { messageId: string; channelId: string; destination: string }) => ({
      id: l.messageId,
      channel_id: l.channelId,
      destination: l.destination,
    });
    return {
      ...(parent && mayUseChannel(principal, parent.channelId) ? { parent: link(parent) } : {}),
      children: children.filter((c) => mayUseChannel(principal, c.channelId)).map(link),
    };
  }

  private async visibleMessage(id: string, principal: Principal): Promise<MessageRecord> {
    const m = await this.store.getMessage(id);
    // A message on a channel the caller may not see is answered as missing.
    if (!m || !mayUseChannel(principal, m.channelId))
      throw new ApiProblem({ status: 404, code: 'message.not_found', detail: `no message ${id}` });
    return m;
  }

  private async delivery(d: DeliveryRecord, phi: boolean): Promise<z.output<typeof delivery>> {
    const attempts = await this.store.getAttempts(d.id);
    const payload = phi ? await this.store.getDeliveryPayload(d.id) : undefined;
    const out: z.output<typeof delivery> = {
      id: d.id,
      destination: d.destination,
      status: d.status,
      attempts: d.attempts,
      ...(d.nextAttemptAt ? { next_attempt_at: d.nextAttemptAt.toISOString() } : {}),
      ...(d.lastError !== undefined ? { last_error: d.lastError } : {}),
      attempt_list: attempts.map((a) => ({
        number: a.number,
        started_at: a.startedAt.toISOString(),
        finished_at: a.finishedAt.toISOString(),
        outcome: a.outcome,
        ...(a.code !== undefined ? { code: a.code } : {}),
        ...(a.error !== undefined ? { error: a.error } : {}),
        ...(phi && a.response ? { response: encode(a.response) } : {}),
      })),
    };
    const waiting = this.waiting(d, phi);
    if (waiting) out.waiting = waiting;
    const after = this.deps.engine
      .channel(d.channelId)
      ?.destinations.find((x) => x.name === d.destination)?.after;
    if (after !== undefined) out.after = after;
    const p = encode(payload?.body);
    if (p) out.payload = p;
    return out;
  }

  /** Why an unfinished delivery waits, in an operator's words. */
  private waiting(d: DeliveryRecord, phi: boolean): string | undefined {
    if (d.status === 'parked') {
      const why = d.parkedReason ?? 'waiting behind an earlier message of its key';
      return phi && d.orderKey ? `${why}, key ${d.orderKey}` : why;
    }
    if (d.status === 'retrying') {
      const spec = this.deps.engine.channel(d.channelId)?.destinations.find((x) => x.name === d.destination);
      const of = spec ? ` of ${spec.retry.attempts}` : '';
      const at = d.nextAttemptAt ? ` at ${d.nextAttemptAt.toISOString()}` : '';
      const after = d.lastError ? ` after ${d.lastError}` : '';
      return `attempt ${d.attempts + 1}${of}${at}${after}`;
    }
    if (d.status === 'pending') return 'queued for its next attempt';
    return undefined;
  }

  @ApiRoute({
    method: 'POST',
    path: '/api/v1/messages/{id}/replay',
    operationId: 'replayMessage',
    summary: 'Replay a message’s dead-lettered deliveries',
    tag: 'Messages',
    scope: 'messages:replay',
    params: idPath,
    response: replayResponse,
    errors: [404],
  })
  async replayMessage(
    @Input('params') p: { id: string },
    @Ctx() c: ApiContext,
  ): Promise<z.output<typeof replayResponse>> {
    const m = await this.visibleMessage(p.id, c.principal as Principal);
    const dead = (await this.store.getDeliveries(m.id)).filter((d) => d.status === 'dead_lettered');
    const requeued: string[] = [];
    for (const d of dead) requeued.push((await this.store.requeueDelivery(d.id)).id);
    c.objectIds.push(m.id, ...requeued);
    if (requeued.length > 0) void this.deps.engine.sweep();
    return { requeued };
  }

  @ApiRoute({
    method: 'POST',
    path: '/api/v1/deliveries/{id}/replay',
    operationId: 'replayDelivery',
    summary: 'Replay one dead-lettered delivery',
    tag: 'Messages',
    scope: 'messages:replay',
    params: idPath,
    response: replayResponse,
    errors: [404, 409],
  })
  async replayDelivery(
    @Input('params') p: { id: string },
    @Ctx() c: ApiContext,
  ): Promise<z.output<typeof replayResponse>> {
    const d = await this.store.getDelivery(p.id);
    if (!d || !mayUseChannel(c.principal as Principal, d.channelId))
      throw new ApiProblem({ status: 404, code: 'delivery.not_found', detail: `no delivery ${p.id}` });
    const r = await this.store.requeueDelivery(d.id);
    c.objectIds.push(d.messageId, r.id);
    void this.deps.engine.sweep();
    return { requeued: [r.id] };
  }

  @ApiRoute({
    method: 'POST',
    path: '/api/v1/messages/reprocess',
    operationId: 'reprocessMessages',
    summary: 'Run messages through the pipeline again',
    description:
      'Messages whose pipeline delivered nothing (errored, rejected, filtered) go back to `received` and run through the channel as deployed now; the sender’s ACK stays what it was.',
    tag: 'Messages',
    scope: 'messages:replay',
    body: reprocessBody,
    response: reprocessResponse,
  })
  async reprocess(
    @Input('body') b: z.output<typeof reprocessBody>,
    @Ctx() c: ApiContext,
  ): Promise<z.output<typeof reprocessResponse>> {
    const principal = c.principal as Principal;
    const allowed: string[] = [];
    for (const id of b.ids) {
      const m = await this.store.getMessage(id);
      if (m && mayUseChannel(principal, m.channelId)) allowed.push(id);
    }
    const reprocessed = allowed.length > 0 ? await this.store.reprocessMessages(allowed) : [];
    c.objectIds.push(...reprocessed);
    if (reprocessed.length > 0) void this.deps.engine.sweep();
    return { reprocessed };
  }
}
