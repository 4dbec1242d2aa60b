import { createHash } from 'node:crypto';
import type { AuditEventRecord, Store } from '@sinew/store';
import { conflict, invalidInput } from './errors';

/** What one API call or CLI command did, as the audit log records it. */
export interface AuditInput {
  /** The username, the key's or client's name, `anonymous`, or `cli`. */
  actor: string;
  actorKind: 'user' | 'key' | 'client' | 'app' | 'system' | 'anonymous' | 'cli';
  /** The key's identifying prefix, or the OAuth client's id. */
  via?: string;
  /** The route template (`GET /api/v1/messages/{id}`), never a concrete path; or `cli keys create`. */
  action: string;
  /** Message ids, channel ids, key ids, user ids. */
  objectIds?: string[];
  /**
   * A search's filter. Unless the log was created with `recordFilterValues`, values are
   * kept only for parameters that cannot hold PHI (channel, status, times, type …); a
   * business key (`key=mrn:12345`) keeps its name (`mrn`); any other value is written `*`.
   */
  filter?: Record<string, string>;
  /** The caller's address. */
  from?: string;
  /** `200`, `403`, `ok`, `error` … */
  outcome: string;
  /** Message content (PHI) was returned. */
  contentRead?: boolean;
}

/** An audit event as read back. */
export interface AuditRecord {
  seq: number;
  at: Date;
  actor: string;
  actorKind: string;
  via?: string;
  action: string;
  objectIds: string[];
  filter?: Record<string, string>;
  from?: string;
  outcome: string;
  contentRead: boolean;
  prevHash: string;
  hash: string;
}

export type VerifyResult =
  | { ok: true; rows: number; head: { seq: number; hash: string } }
  | { ok: false; rows: number; firstBroken: { seq: number; reason: string } };

export interface AuditSearchInput {
  actor?: string;
  /** The key's prefix, the client's or the app's id. */
  via?: string;
  action?: string;
  since?: Date;
  until?: Date;
  /** Default 100, at most 1000. */
  limit?: number;
  /** `nextCursor` of the previous page. */
  cursor?: string;
}

/** Filter parameters whose values are recorded as given: none of them can hold PHI. */
const SAFE_FILTER_VALUES: ReadonlySet<string> = new Set([
  'channel',
  'status',
  'since',
  'until',
  'type',
  'trigger',
  'destination',
  'limit',
  'dry_run',
  'outcome',
  'state',
  'scope',
  'role',
  'actor',
  'action',
  'format',
  'content',
]);
const ACTOR_KINDS: ReadonlySet<string> = new Set([
  'user',
  'key',
  'client',
  'app',
  'system',
  'anonymous',
  'cli',
]);
/** The hash the first event follows. */
export const GENESIS_HASH = '0'.repeat(64);
const SCAN_BATCH = 1000;
const MAX_SEARCH_LIMIT = 1000;

/**
 * The audit log: append-only and hash-chained, in the ledger's database. Each event stores
 * `prev_hash`, the hash of the event before it, and `hash = sha256(prev_hash ‖ canonical
 * JSON of its fields)` (see `auditHash`). Appends are serialised by the store (the lock of
 * the `audit_chain` row), so the chain never forks; that row also holds the chain's head, so
 * removing the newest event is detected too. `verify` walks the chain and names the first
 * event that was edited, removed or inserted. `prune` deletes old events and records the
 * hash of the last one deleted as the chain's new start, so what remains still verifies.
 */
export class AuditLog {
  private readonly recordFilterValues: boolean;
  private readonly now: () => Date;

  constructor(
    private readonly store: Store,
    options: { recordFilterValues?: boolean; now?: () => Date } = {},
  ) {
    this.recordFilterValues = options.recordFilterValues ?? false;
    this.now = options.now ?? (() => new Date());
  }

  async append(e: AuditInput): Promise<void> {
    checkInput(e);
    const objectIds = e.objectIds && e.objectIds.length > 0 ? JSON.stringify(e.objectIds) : undefined;
    const filter =
      e.filter && Object.keys(e.filter).length > 0
        ? JSON.stringify(auditFilter(e.filter, this.recordFilterValues))
        : undefined;
    await this.store.access.appendAudit(
      {
        at: this.now(),
        actor: e.actor,
        actorKind: e.actorKind,
        ...(e.via !== undefined ? { via: e.via } : {}),
        action: e.action,
        ...(objectIds !== undefined ? { objectIds } : {}),
        ...(filter !== undefined ? { filter } : {}),
        ...(e.from !== undefined ? { remoteAddress: e.from } : {}),
        outcome: e.outcome,
        contentRead: e.contentRead === true,
      },
      (event) => auditHash(event.prevHash, { ...event, contentRead: event.contentRead ? 1 : 0 }),
    );
  }

  /**
   * Walks the chain from its start (genesis, or the last pruned event) to its head. Names the
   * first broken event: one whose fields no longer match its hash (edited), one whose
   * `prev_hash` is not its predecessor's hash, a seq missing from the sequence (removed), an
   * event before the start or after the head (inserted), or a head that is missing.
   */
  async verify(): Promise<VerifyResult> {
    const start = await this.store.access.auditChain();
    let prevHash = start.baseHash;
    let expected = start.baseSeq + 1;
    let rows = 0;
    let after = Number.MIN_SAFE_INTEGER;
    const broken = (seq: number, reason: string): VerifyResult => ({
      ok: false,
      rows,
      firstBroken: { seq, reason },
    });
    for (;;) {
      const batch = await this.store.access.scanAudit(after, SCAN_BATCH);
      for (const row of batch) {
        after = row.seq;
        if (row.seq < expected) {
          return broken(
            row.seq,
            row.seq <= start.baseSeq
              ? `row ${row.seq} lies before the chain's start (${start.baseSeq}): inserted`
              : `row ${row.seq} is out of sequence: inserted`,
          );
        }
        if (row.seq > expected) {
          return broken(expected, `row ${expected} is missing: removed (the next row is ${row.seq})`);
        }
        if (row.prevHash !== prevHash) {
          return broken(
            row.seq,
            `its prev_hash is not the hash of row ${row.seq - 1}: a row before it was replaced, or it was inserted`,
          );
        }
        if (auditHash(row.prevHash, row) !== row.hash) {
          return broken(row.seq, 'its fields do not match its hash: edited');
        }
        prevHash = row.hash;
        expected += 1;
        rows += 1;
      }
      if (batch.length === SCAN_BATCH) continue;
      // Read the head after the walk: events appended meanwhile are walked too.
      const end = await this.store.access.auditChain();
      const last = expected - 1;
      if (last < end.headSeq) {
        const more = await this.store.access.scanAudit(after, 1);
        if (more.length > 0) continue;
        return broken(last + 1, `row ${last + 1} is missing: removed (the chain's head is ${end.headSeq})`);
      }
      if (last > end.headSeq) {
        return broken(
          end.headSeq + 1,
          `row ${end.headSeq + 1} lies after the chain's head (${end.headSeq}): inserted`,
        );
      }
      if (prevHash !== end.headHash) {
        return broken(last, "its hash is not the chain's recorded head: the newest rows were replaced");
      }
      return { ok: true, rows, head: { seq: last, hash: prevHash } };
    }
  }

  /** Newest first, by pages (`nextCursor` while there may be more). */
  async search(f: AuditSearchInput = {}): Promise<{ items: AuditRecord[]; nextCursor?: string }> {
    const limit = f.limit ?? 100;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_SEARCH_LIMIT) {
      throw invalidInput(`limit is an integer from 1 to ${MAX_SEARCH_LIMIT}`);
    }
    for (const [name, date] of [
      ['since', f.since],
      ['until', f.until],
    ] as const) {
      if (date !== undefined && (!(date instanceof Date) || Number.isNaN(date.getTime()))) {
        throw invalidInput(`${name} must be a valid date`);
      }
    }
    const beforeSeq = f.cursor === undefined ? undefined : decodeCursor(f.cursor);
    const rows = await this.store.access.searchAudit({
      ...(f.actor !== undefined ? { actor: f.actor } : {}),
      ...(f.via !== undefined ? { via: f.via } : {}),
      ...(f.action !== undefined ? { action: f.action } : {}),
      ...(f.since !== undefined ? { since: f.since } : {}),
      ...(f.until !== undefined ? { until: f.until } : {}),
      ...(beforeSeq !== undefined ? { beforeSeq } : {}),
      limit: limit + 1,
    });
    const items = rows.slice(0, limit).map(toRecord);
    const last = items[items.length - 1];
    return rows.length > limit && last ? { items, nextCursor: encodeCursor(last.seq) } : { items };
  }

  /**
   * Deletes the events recorded before `before` (oldest first, up to the first event at or
   * after it) once the chain verifies, and records the hash of the last deleted event as the
   * chain's start: the events kept still verify. Refuses (nothing deleted) when the chain is
   * broken, so pruning never erases the evidence of tampering.
   */
  async prune(before: Date): Promise<{ pruned: number; baseSeq: number }> {
    if (!(before instanceof Date) || Number.isNaN(before.getTime()))
      throw invalidInput('before must be a valid date');
    const check = await this.verify();
    if (!check.ok) {
      throw conflict(
        `the audit chain is broken at row ${check.firstBroken.seq} (${check.firstBroken.reason}); nothing pruned`,
      );
    }
    const { pruned, baseSeq } = await this.store.access.pruneAudit(before);
    return { pruned, baseSeq };
  }
}

/**
 * The hash of an event: sha256 of the previous hash (hex) followed by the canonical JSON of
 * the event's stored fields — an object with the keys in alphabetical order, absent optional
 * fields as null, the time as an ISO 8601 string, `content_read` as the stored integer and
 * `object_ids` and `filter` as the stored JSON texts — in lowercase hex.
 */
export function auditHash(
  prevHash: string,
  e: Pick<
    AuditEventRecord,
    | 'seq'
    | 'at'
    | 'actor'
    | 'actorKind'
    | 'via'
    | 'action'
    | 'objectIds'
    | 'filter'
    | 'remoteAddress'
    | 'outcome'
  > & { contentRead: number },
): string {
  const canonical = JSON.stringify({
    action: e.action,
    actor: e.actor,
    actor_kind: e.actorKind,
    at: e.at.toISOString(),
    content_read: e.contentRead,
    filter: e.filter ?? null,
    object_ids: e.objectIds ?? null,
    outcome: e.outcome,
    remote_address: e.remoteAddress ?? null,
    seq: e.seq,
    via: e.via ?? null,
  });
  return createHash('sha256').update(prevHash, 'utf8').update(canonical, 'utf8').digest('hex');
}

/**
 * The filter as recorded: keys sorted; values kept for the parameters in the safe list, the
 * name of a business key (`mrn:12345` → `mrn`), `*` for any other value; everything as
 * given when `recordValues` (a deployment's explicit choice), except the free-text search
 * `q`, which is always `*`.
 */
export function auditFilter(filter: Record<string, string>, recordValues: boolean): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of Object.keys(filter).sort()) {
    const value = String(filter[name]);
    // The one search field takes MRNs and names: never recorded, whatever the deployment chose.
    if (name === 'q') out[name] = '*';
    else if (recordValues || SAFE_FILTER_VALUES.has(name)) out[name] = value;
    else if (name === 'key') out[name] = keyNames(value);
    else out[name] = '*';
  }
  return out;
}

/** `mrn:12345` → `mrn`; several keys (`mrn:1,visit:2`) → `mrn,visit`; a bare name stays. */
function keyNames(value: string): string {
  return value
    .split(',')
    .map((part) => {
      const colon = part.indexOf(':');
      const name = colon >= 0 ? part.slice(0, colon) : part;
      return /^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/.test(name) ? name : '*';
    })
    .join(',');
}

function checkInput(e: AuditInput): void {
  if (typeof e?.actor !== 'string' || e.actor === '') throw invalidInput('an audit event needs an actor');
  if (!ACTOR_KINDS.has(e.actorKind)) {
    throw invalidInput(
      `actorKind is user, key, client, app, system, anonymous or cli, not ${String(e.actorKind)}`,
    );
  }
  if (typeof e.action !== 'string' || e.action === '') throw invalidInput('an audit event needs an action');
  if (typeof e.outcome !== 'string' || e.outcome === '')
    throw invalidInput('an audit event needs an outcome');
  if (
    e.objectIds !== undefined &&
    !(Array.isArray(e.objectIds) && e.objectIds.every((id) => typeof id === 'string'))
  ) {
    throw invalidInput('objectIds must be a list of strings');
  }
}

function toRecord(row: AuditEventRecord): AuditRecord {
  const record: AuditRecord = {
    seq: row.seq,
    at: row.at,
    actor: row.actor,
    actorKind: row.actorKind,
    action: row.action,
    objectIds: row.objectIds === undefined ? [] : parseJson<string[]>(row.objectIds, row.seq),
    outcome: row.outcome,
    contentRead: row.contentRead !== 0,
    prevHash: row.prevHash,
    hash: row.hash,
  };
  if (row.via !== undefined) record.via = row.via;
  if (row.filter !== undefined) record.filter = parseJson<Record<string, string>>(row.filter, row.seq);
  if (row.remoteAddress !== undefined) record.from = row.remoteAddress;
  return record;
}

function parseJson<T>(text: string, seq: number): T {
  try {
    return JSON.parse(text) as T;
  } catch {
    throw conflict(`audit row ${seq} is not readable: it was edited (run sinew audit verify)`);
  }
}

function encodeCursor(seq: number): string {
  return Buffer.from(`a:${seq}`, 'utf8').toString('base64url');
}

function decodeCursor(cursor: string): number {
  const text = typeof cursor === 'string' ? Buffer.from(cursor, 'base64url').toString('utf8') : '';
  const m = /^a:(-?\d{1,16})$/.exec(text);
  if (!m) throw invalidInput('not a cursor of this search');
  return Number(m[1]);
}
