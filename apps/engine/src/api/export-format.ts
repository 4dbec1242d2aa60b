import type { AuditRecord } from '@sinew/auth';
import type { ContentStage, MessageIssue, MessageRecord, MessageSearch, Store } from '@sinew/store';
import { isUtf8 } from 'node:buffer';

/**
 * What an export writes, shared by the admin API (`GET /api/v1/messages/export`,
 * `GET /api/v1/audit/export`) and the CLI on a local ledger, so both write the same lines.
 * No framework here: the CLI bundles it.
 */

/** Messages read from the ledger per query while exporting: what an export holds at a time. */
export const EXPORT_PAGE = 500;
export const DEFAULT_EXPORT_LIMIT = 10_000;
export const MAX_EXPORT_LIMIT = 1_000_000;

/** Bytes as JSON: UTF-8 text when they are, else base64. */
export interface EncodedContent {
  encoding: 'utf8' | 'base64';
  data: string;
  bytes: number;
}

export function encodeContent(buf: Buffer | undefined): EncodedContent | undefined {
  if (!buf) return undefined;
  return isUtf8(buf)
    ? { encoding: 'utf8', data: buf.toString('utf8'), bytes: buf.length }
    : { encoding: 'base64', data: buf.toString('base64'), bytes: buf.length };
}

/** One line of a message export. */
export interface ExportedMessage {
  id: string;
  channel: string;
  received_at: string;
  type?: string;
  control_id?: string;
  sender: string;
  status: MessageRecord['status'];
  ack_code?: string;
  keys?: Record<string, string>;
  seq: number;
  source: string;
  remote_address?: string;
  content_type: string;
  duplicate_count: number;
  channel_version?: number;
  issues: MessageIssue[];
  content?: { raw?: EncodedContent; ack?: EncodedContent; transformed?: EncodedContent };
}

export function exportedMessage(
  m: MessageRecord,
  withKeys: boolean,
  stages: Partial<Record<ContentStage, Buffer>> | undefined,
): ExportedMessage {
  const out: ExportedMessage = {
    id: m.id,
    channel: m.channelId,
    received_at: m.receivedAt.toISOString(),
    ...(m.messageType !== undefined ? { type: m.messageType } : {}),
    ...(m.controlId !== undefined ? { control_id: m.controlId } : {}),
    sender: m.sender,
    status: m.status,
    ...(m.ackCode !== undefined ? { ack_code: m.ackCode } : {}),
    ...(withKeys ? { keys: m.keys } : {}),
    seq: m.seq,
    source: m.source,
    ...(m.remoteAddress !== undefined ? { remote_address: m.remoteAddress } : {}),
    content_type: m.contentType,
    duplicate_count: m.duplicateCount,
    ...(m.channelVersion !== undefined ? { channel_version: m.channelVersion } : {}),
    issues: m.issues,
  };
  if (stages) {
    const raw = encodeContent(stages.raw);
    const ack = encodeContent(stages.ack);
    const transformed = encodeContent(stages.transformed);
    out.content = {
      ...(raw ? { raw } : {}),
      ...(ack ? { ack } : {}),
      ...(transformed ? { transformed } : {}),
    };
  }
  return out;
}

/**
 * The NDJSON of the messages a search finds, newest first, up to `limit`, a page at a time
 * (keyset pagination: each page starts after the last one's final message), one chunk per
 * page. Memory holds one page, whatever the limit.
 */
export async function* messageExportChunks(
  store: Store,
  search: Omit<MessageSearch, 'limit' | 'after'>,
  limit: number,
  options: { keys: boolean; content: boolean },
): AsyncGenerator<string> {
  let left = limit;
  let after: MessageSearch['after'];
  while (left > 0) {
    const asked = Math.min(EXPORT_PAGE, left);
    const page = await store.searchMessages({ ...search, limit: asked, ...(after ? { after } : {}) });
    if (page.length === 0) return;
    const contents = options.content ? await store.getContents(page.map((m) => m.id)) : undefined;
    let chunk = '';
    for (const m of page) {
      const stages = contents ? (contents.get(m.id) ?? {}) : undefined;
      chunk += `${JSON.stringify(exportedMessage(m, options.keys, stages))}\n`;
    }
    yield chunk;
    left -= page.length;
    const last = page[page.length - 1] as MessageRecord;
    after = { receivedAt: last.receivedAt, seq: last.seq };
    if (page.length < asked) return;
  }
}

/** An audit event as JSON (`GET /api/v1/audit`, NDJSON exports). */
export interface AuditEventJson {
  seq: number;
  at: string;
  actor: string;
  actor_kind: string;
  via?: string;
  action: string;
  object_ids: string[];
  filter?: Record<string, string>;
  from?: string;
  outcome: string;
  content_read: boolean;
  hash: string;
  prev_hash: string;
}

export function auditEventJson(r: AuditRecord): AuditEventJson {
  return {
    seq: r.seq,
    at: r.at.toISOString(),
    actor: r.actor,
    actor_kind: r.actorKind,
    ...(r.via ? { via: r.via } : {}),
    action: r.action,
    object_ids: r.objectIds,
    ...(r.filter ? { filter: r.filter } : {}),
    ...(r.from ? { from: r.from } : {}),
    outcome: r.outcome,
    content_read: r.contentRead,
    hash: r.hash,
    prev_hash: r.prevHash,
  };
}

/** The CSV columns of an audit export, in order (the header row). */
export const AUDIT_CSV_COLUMNS = [
  'seq',
  'at',
  'actor',
  'actor_kind',
  'via',
  'action',
  'object_ids',
  'filter',
  'from',
  'outcome',
  'content_read',
  'hash',
  'prev_hash',
] as const;

/** One CSV field (RFC 4180): quoted when it holds a comma, a quote or a line break, its quotes doubled. */
export function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

/** The CSV header row, CRLF-terminated. */
export const AUDIT_CSV_HEADER = `${AUDIT_CSV_COLUMNS.join(',')}\r\n`;

/** One audit event as a CSV row (CRLF-terminated): object ids space-separated, the filter as JSON. */
export function auditCsvRow(r: AuditRecord): string {
  const e = auditEventJson(r);
  const cells: Record<(typeof AUDIT_CSV_COLUMNS)[number], string> = {
    seq: String(e.seq),
    at: e.at,
    actor: e.actor,
    actor_kind: e.actor_kind,
    via: e.via ?? '',
    action: e.action,
    object_ids: e.object_ids.join(' '),
    filter: e.filter ? JSON.stringify(e.filter) : '',
    from: e.from ?? '',
    outcome: e.outcome,
    content_read: String(e.content_read),
    hash: e.hash,
    prev_hash: e.prev_hash,
  };
  return `${AUDIT_CSV_COLUMNS.map((k) => csvField(cells[k])).join(',')}\r\n`;
}
