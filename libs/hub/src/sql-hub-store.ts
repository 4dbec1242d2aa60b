import { createHash, randomUUID } from 'node:crypto';
import type { SqlDatabase, SqlExecutor, SqlValue } from '@sinew/store';
import {
  dateRange,
  indexEntries,
  MIN_TIME,
  normalise,
  paramOf,
  patientOf,
  referenceTarget,
  searchParamInfo,
  sortDate,
  sortName,
  type IndexEntry,
} from './search-params';
import {
  HUB_ENVIRONMENTS,
  HubSearchError,
  type FhirResource,
  type HubChange,
  type HubChangeAction,
  type HubEnvironment,
  type HubExportRequest,
  type HubSearchPage,
  type HubSearchParamInfo,
  type HubSearchRequest,
  type HubStore,
  type HubVersion,
  type HubViewer,
  type HubWriteOrigin,
} from './types';

/** A write the hub refuses as it stands (not FHIR, a malformed Bundle): sending it again cannot succeed. */
export class HubWriteError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HubWriteError';
  }
}

/** Resource types that describe a message rather than clinic data: not kept. */
const NOT_KEPT = new Set(['MessageHeader', 'OperationOutcome', 'Bundle', 'Parameters']);
/** Statuses that make a write a cancellation, applied onto the stored resource. */
const CANCEL_STATUSES = new Set(['cancelled', 'entered-in-error']);
const CANCELLABLE = new Set(['Encounter', 'Appointment']);
const ID = /^[A-Za-z0-9\-.]{1,64}$/;
const TYPE = /^[A-Z][A-Za-z]{1,63}$/;
const EXPORT_PAGE = 1000;
/** IN lists are padded to a power of two up to this many values, then chunked. */
const IN_CHUNK = 512;
/** The advisory lock (with the schema's hash) that makes hub commits on PostgreSQL take `seq` in commit order. */
const PG_HUB_LOCK = 0x4855;

interface ResourceRow {
  pk: number;
  type: string;
  id: string;
  version: number;
  patient_id: string | null;
  last_updated: number;
  deleted: number;
  hash: string;
  body: FhirResource;
}

interface RawResourceRow {
  pk: number | string;
  type: string;
  id: string;
  version: number | string;
  patient_id: string | null;
  last_updated: number | string;
  deleted: number | string;
  hash: string;
  body: string | FhirResource;
}

interface Entry {
  fullUrl?: string;
  resource: FhirResource;
  method: 'PUT' | 'POST' | 'DELETE';
  /** `system|value` from a conditional request URL (`Patient?identifier=…`). */
  conditional?: { sys: string | undefined; value: string };
  /** Explicit id (the resource's, or the request URL's `Type/id`). */
  explicitId?: string;
  /** The id the entry is stored under, and the row it updates. */
  id?: string;
  existing?: ResourceRow;
}

type Change = Omit<HubChange, 'seq' | 'at'>;

/** Rows a write inserts together at its end. */
interface Batch {
  creates: Array<{ row: SqlValue[]; json: string; at: number; entries: IndexEntry[] }>;
  versions: SqlValue[][];
  index: SqlValue[][];
}

function toRow(raw: RawResourceRow): ResourceRow {
  return {
    pk: Number(raw.pk),
    type: raw.type,
    id: raw.id,
    version: Number(raw.version),
    patient_id: raw.patient_id,
    last_updated: Number(raw.last_updated),
    deleted: Number(raw.deleted),
    hash: raw.hash,
    body: parseBody(raw.body),
  };
}

function parseBody(body: string | FhirResource): FhirResource {
  return typeof body === 'string' ? (JSON.parse(body) as FhirResource) : body;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The body's hash, ignoring what the hub itself sets (`meta.versionId`, `meta.lastUpdated`). */
function contentHash(resource: FhirResource): string {
  const { meta, ...rest } = resource;
  let content: unknown = rest;
  if (meta) {
    const { versionId: _v, lastUpdated: _l, ...otherMeta } = meta;
    content = Object.keys(otherMeta).length ? { ...rest, meta: otherMeta } : rest;
  }
  return createHash('sha256').update(JSON.stringify(content)).digest('base64url');
}

function withMeta(resource: FhirResource, id: string, version: number, at: number): FhirResource {
  return {
    ...resource,
    id,
    meta: { ...(resource.meta ?? {}), versionId: String(version), lastUpdated: new Date(at).toISOString() },
  };
}

function identifierPairs(resource: FhirResource): Array<{ sys: string; value: string }> {
  const out: Array<{ sys: string; value: string }> = [];
  const ids = resource.identifier;
  for (const i of Array.isArray(ids) ? ids : []) {
    if (isObject(i) && typeof i.value === 'string' && i.value !== '') {
      out.push({ sys: typeof i.system === 'string' ? i.system : '', value: i.value });
    }
  }
  return out;
}

/** `system|value` of a token search or conditional URL: the system undefined when no `|`. */
function splitToken(text: string): { sys: string | undefined; value: string } {
  const bar = text.indexOf('|');
  if (bar < 0) return { sys: undefined, value: text };
  return { sys: text.slice(0, bar), value: text.slice(bar + 1) };
}

/** Replaces every `reference` the map knows, in place; returns whether any changed. */
function rewriteReferences(node: unknown, map: (reference: string) => string | undefined): boolean {
  let changed = false;
  if (Array.isArray(node)) {
    for (const item of node) changed = rewriteReferences(item, map) || changed;
  } else if (isObject(node)) {
    for (const [key, value] of Object.entries(node)) {
      if (key === 'reference' && typeof value === 'string') {
        const to = map(value);
        if (to !== undefined && to !== value) {
          node[key] = to;
          changed = true;
        }
      } else if (typeof value === 'object' && value !== null) {
        changed = rewriteReferences(value, map) || changed;
      }
    }
  }
  return changed;
}

function encodeCursor(values: unknown[]): string {
  return Buffer.from(JSON.stringify(values)).toString('base64url');
}

function decodeCursor(cursor: string, length: number): Array<string | number> {
  try {
    const values = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    if (
      Array.isArray(values) &&
      values.length === length &&
      values.every((v) => typeof v === 'string' || typeof v === 'number')
    ) {
      return values as Array<string | number>;
    }
  } catch {
    // falls through to the error below
  }
  throw new HubSearchError(
    'The page cursor is not valid for this search (it may belong to another one)',
    '_cursor',
  );
}

const DATE_PREFIX = /^(eq|ne|lt|gt|le|ge|sa|eb)/;

/** A date search value's condition on a range [loCol, hiCol). */
function dateCondition(
  param: string,
  text: string,
  loCol: string,
  hiCol: string,
): { sql: string; params: SqlValue[] } {
  const prefix = DATE_PREFIX.exec(text)?.[1] ?? 'eq';
  const rest = DATE_PREFIX.test(text) ? text.slice(2) : text;
  const range = dateRange(rest);
  if (!range) {
    throw new HubSearchError(
      `${param}: "${rest}" is not a date (YYYY, YYYY-MM, YYYY-MM-DD or a dateTime, after an optional prefix eq, ne, lt, gt, le, ge, sa or eb)`,
      param,
    );
  }
  const { lo, hi } = range;
  switch (prefix) {
    case 'eq':
      // `lo < hi` follows from the others; it bounds the index range scan on lo.
      return { sql: `(${loCol} >= ? AND ${loCol} < ? AND ${hiCol} <= ?)`, params: [lo, hi, hi] };
    case 'ne':
      return { sql: `NOT (${loCol} >= ? AND ${hiCol} <= ?)`, params: [lo, hi] };
    case 'lt':
      return { sql: `${loCol} < ?`, params: [lo] };
    case 'gt':
      return { sql: `${hiCol} > ?`, params: [hi] };
    case 'le':
      return { sql: `${loCol} < ?`, params: [hi] };
    case 'ge':
      return { sql: `${hiCol} > ?`, params: [lo] };
    case 'sa':
      return { sql: `${loCol} >= ?`, params: [hi] };
    default:
      return { sql: `${hiCol} <= ?`, params: [lo] };
  }
}

function nextPrefix(text: string): string {
  const last = text.charCodeAt(text.length - 1);
  return text.slice(0, -1) + String.fromCharCode(last + 1);
}

interface Condition {
  sql: string;
  params: SqlValue[];
  /** Lower: a better first filter (fewer rows expected). */
  rank: number;
  /** The same condition checked on each row another condition found (an index lookup by row). */
  filter?: { sql: string; params: SqlValue[] };
}

/**
 * The clinic data hub on the ledger's SQL connection (SQLite or PostgreSQL): see
 * docs/hub.md. Writes are one transaction each; changes are announced after the commit.
 */
export class SqlHubStore implements HubStore {
  private readonly listeners = new Set<(changes: readonly HubChange[]) => void>();
  private closed = false;
  private readonly pg: boolean;
  private readonly bodyIn: string;

  constructor(private readonly db: SqlDatabase) {
    this.pg = db.kind === 'postgres';
    this.bodyIn = this.pg ? 'CAST(? AS jsonb)' : '?';
  }

  async close(): Promise<void> {
    this.closed = true;
    this.listeners.clear();
  }

  private open(): void {
    if (this.closed) throw new Error('the hub is closed');
  }

  // ---------------------------------------------------------------- writes

  async write(input: FhirResource, origin: HubWriteOrigin): Promise<HubChange[]> {
    this.open();
    if (!HUB_ENVIRONMENTS.includes(origin.environment)) {
      throw new HubWriteError(`environment must be production or sandbox, not ${String(origin.environment)}`);
    }
    const entries = this.entriesOf(input);
    const env = origin.environment;
    const changes = await this.db.transaction(async (tx) => {
      if (this.pg) await tx.get('SELECT pg_advisory_xact_lock(?, hashtext(current_schema()))', [PG_HUB_LOCK]);
      const at = Date.now();
      const made = await this.writeEntries(tx, env, entries, at);
      return this.recordChanges(tx, env, made, origin, at);
    });
    if (changes.length) this.announce(changes);
    return changes;
  }

  private entriesOf(input: FhirResource): Entry[] {
    if (!isObject(input) || typeof input.resourceType !== 'string' || !TYPE.test(input.resourceType)) {
      throw new HubWriteError('the body is not a FHIR resource (no resourceType)');
    }
    if (input.resourceType !== 'Bundle') {
      if (NOT_KEPT.has(input.resourceType)) return [];
      return [this.entryOf(input, undefined, undefined)];
    }
    const raw = input.entry;
    if (raw !== undefined && !Array.isArray(raw)) throw new HubWriteError('Bundle.entry is not a list');
    const out: Entry[] = [];
    for (const [n, e] of (raw ?? []).entries()) {
      if (!isObject(e)) throw new HubWriteError(`Bundle.entry[${n}] is not an object`);
      const request = isObject(e.request) ? e.request : undefined;
      const fullUrl = typeof e.fullUrl === 'string' ? e.fullUrl : undefined;
      if (request?.method === 'DELETE') {
        const url = typeof request.url === 'string' ? request.url : '';
        const type = url.split(/[/?]/)[0] ?? '';
        if (!TYPE.test(type))
          throw new HubWriteError(`Bundle.entry[${n}].request.url names no resource type`);
        const entry = this.entryOf({ resourceType: type }, request, fullUrl);
        entry.method = 'DELETE';
        out.push(entry);
        continue;
      }
      const resource = e.resource;
      if (
        !isObject(resource) ||
        typeof resource.resourceType !== 'string' ||
        !TYPE.test(resource.resourceType)
      ) {
        throw new HubWriteError(`Bundle.entry[${n}].resource is not a FHIR resource`);
      }
      if (NOT_KEPT.has(resource.resourceType)) continue;
      out.push(this.entryOf(resource as FhirResource, request, fullUrl));
    }
    return out;
  }

  private entryOf(
    resource: FhirResource,
    request: Record<string, unknown> | undefined,
    fullUrl: string | undefined,
  ): Entry {
    const entry: Entry = { resource: structuredClone(resource), method: 'PUT' };
    if (fullUrl) entry.fullUrl = fullUrl;
    if (typeof resource.id === 'string' && ID.test(resource.id)) entry.explicitId = resource.id;
    const url = typeof request?.url === 'string' ? request.url : undefined;
    if (url) {
      const q = url.indexOf('?');
      if (q >= 0) {
        const identifier = new URLSearchParams(url.slice(q + 1)).get('identifier');
        if (identifier) entry.conditional = splitToken(identifier);
      } else {
        const id = url.split('/')[1];
        if (id && ID.test(id)) entry.explicitId = id;
      }
    }
    return entry;
  }

  /** Rows of `type` whose business identifier matches, keyed `system|value` (and `|value` for a search without system). */
  private async rowsByIdentifier(
    tx: SqlExecutor,
    env: HubEnvironment,
    type: string,
    values: string[],
  ): Promise<Array<{ sys: string; value: string; row: ResourceRow }>> {
    const out: Array<{ sys: string; value: string; row: ResourceRow }> = [];
    for (let i = 0; i < values.length; i += IN_CHUNK) {
      const chunk = values.slice(i, i + IN_CHUNK);
      const rows = await tx.all<RawResourceRow & { isys: string; ivalue: string }>(
        `SELECT i.sys AS isys, i.value AS ivalue, r.pk, r.type, r.id, r.version, r.patient_id, r.last_updated, r.deleted, r.hash, r.body
         FROM hub_index i JOIN hub_resource r ON r.pk = i.rpk
         WHERE i.env = ? AND i.type = ? AND i.param = 'identifier' AND ${this.inList('i.value', chunk.length)}
         ORDER BY r.deleted, r.pk`,
        [env, type, ...this.inParams(chunk)],
      );
      for (const r of rows) out.push({ sys: r.isys ?? '', value: r.ivalue, row: toRow(r) });
    }
    return out;
  }

  private async rowsById(
    tx: SqlExecutor,
    env: HubEnvironment,
    type: string,
    ids: string[],
  ): Promise<ResourceRow[]> {
    const out: ResourceRow[] = [];
    for (let i = 0; i < ids.length; i += IN_CHUNK) {
      const chunk = ids.slice(i, i + IN_CHUNK);
      const rows = await tx.all<RawResourceRow>(
        `SELECT pk, type, id, version, patient_id, last_updated, deleted, hash, body FROM hub_resource
         WHERE env = ? AND type = ? AND ${this.inList('id', chunk.length)}`,
        [env, type, ...this.inParams(chunk)],
      );
      out.push(...rows.map(toRow));
    }
    return out;
  }

  private inList(column: string, count: number): string {
    return this.db.inList(column, this.pg ? count : paddedLength(count));
  }

  private inParams(values: string[]): SqlValue[] {
    // PostgreSQL takes the list as one text[] parameter; the driver turns the array into one.
    if (this.pg) return [values as unknown as SqlValue];
    const padded: SqlValue[] = [...values];
    const last = values[values.length - 1] ?? '';
    while (padded.length < paddedLength(values.length)) padded.push(last);
    return padded;
  }

  /** Finds each entry's stored resource (by identifier, then id) and gives every entry its id. */
  private async resolveIds(tx: SqlExecutor, env: HubEnvironment, entries: Entry[]): Promise<void> {
    const byType = new Map<string, Entry[]>();
    for (const e of entries) {
      const list = byType.get(e.resource.resourceType) ?? [];
      list.push(e);
      byType.set(e.resource.resourceType, list);
    }
    for (const [type, list] of byType) {
      const values = new Set<string>();
      const ids = new Set<string>();
      for (const e of list) {
        if (e.conditional) values.add(e.conditional.value);
        for (const p of identifierPairs(e.resource)) values.add(p.value);
        if (e.explicitId) ids.add(e.explicitId);
      }
      const byIdentifier = new Map<string, ResourceRow>();
      const byValue = new Map<string, ResourceRow>();
      for (const m of await this.rowsByIdentifier(tx, env, type, [...values])) {
        const key = `${m.sys}|${m.value}`;
        if (!byIdentifier.has(key)) byIdentifier.set(key, m.row);
        if (!byValue.has(m.value)) byValue.set(m.value, m.row);
      }
      const byId = new Map<string, ResourceRow>();
      for (const row of await this.rowsById(tx, env, type, [...ids])) byId.set(row.id, row);
      // Entries of this Bundle that share an identifier are one resource.
      const assigned = new Map<string, string>();
      for (const e of list) {
        const keys: string[] = [];
        let existing: ResourceRow | undefined;
        if (e.conditional) {
          const { sys, value } = e.conditional;
          existing = sys === undefined ? byValue.get(value) : byIdentifier.get(`${sys}|${value}`);
          keys.push(sys === undefined ? `*|${value}` : `${sys}|${value}`);
        }
        for (const p of identifierPairs(e.resource)) {
          existing ??= byIdentifier.get(`${p.sys}|${p.value}`);
          keys.push(`${p.sys}|${p.value}`);
        }
        if (!existing && e.explicitId) existing = byId.get(e.explicitId);
        let id = existing?.id;
        if (!id) for (const k of keys) id ??= assigned.get(k);
        id ??= e.explicitId ?? randomUUID();
        for (const k of keys) if (!assigned.has(k)) assigned.set(k, id);
        e.id = id;
        if (existing) e.existing = existing;
      }
    }
  }

  private async writeEntries(
    tx: SqlExecutor,
    env: HubEnvironment,
    entries: Entry[],
    at: number,
  ): Promise<Change[]> {
    await this.resolveIds(tx, env, entries);
    const references = new Map<string, string>();
    for (const e of entries) {
      const to = `${e.resource.resourceType}/${e.id as string}`;
      if (e.fullUrl) references.set(e.fullUrl, to);
      if (e.explicitId) references.set(`${e.resource.resourceType}/${e.explicitId}`, to);
    }
    const conditionalRefs = new Map<string, string | undefined>();
    for (const e of entries) {
      rewriteReferences(
        e.resource,
        (ref) => references.get(ref) ?? (ref.includes('?') ? `?${ref}` : undefined),
      );
      // Conditional references (`Patient?identifier=…`) outside the Bundle: looked up in the hub.
      const pending: string[] = [];
      rewriteReferences(e.resource, (ref) => {
        if (ref.startsWith('?')) pending.push(ref.slice(1));
        return undefined;
      });
      for (const ref of pending) {
        if (!conditionalRefs.has(ref)) conditionalRefs.set(ref, await this.resolveConditional(tx, env, ref));
      }
      rewriteReferences(e.resource, (ref) =>
        ref.startsWith('?') ? (conditionalRefs.get(ref.slice(1)) ?? ref.slice(1)) : undefined,
      );
    }
    const made: Change[] = [];
    const batch: Batch = { creates: [], versions: [], index: [] };
    const merges: Array<{
      survivor: string;
      merged: { reference?: string; identifier?: { sys: string; value: string } };
    }> = [];
    for (const e of entries) {
      const id = e.id as string;
      const type = e.resource.resourceType;
      if (e.method === 'DELETE') {
        if (e.existing && !e.existing.deleted)
          made.push(await this.remove(tx, env, e.existing, at, 'deleted'));
        continue;
      }
      let body: FhirResource = { ...e.resource, id };
      if (
        e.existing &&
        !e.existing.deleted &&
        CANCELLABLE.has(type) &&
        typeof body.status === 'string' &&
        CANCEL_STATUSES.has(body.status)
      ) {
        // A cancellation: the stored resource with the cancel's status (and whatever else it says).
        const { meta: _meta, ...stored } = e.existing.body;
        body = { ...stored, ...body, id };
      }
      if (type === 'Patient') {
        for (const link of Array.isArray(body.link) ? body.link : []) {
          if (!isObject(link) || !isObject(link.other)) continue;
          const other = link.other;
          const target: { reference?: string; identifier?: { sys: string; value: string } } = {};
          if (typeof other.reference === 'string') target.reference = other.reference;
          if (isObject(other.identifier) && typeof other.identifier.value === 'string') {
            target.identifier = {
              sys: typeof other.identifier.system === 'string' ? other.identifier.system : '',
              value: other.identifier.value,
            };
          }
          if (link.type === 'replaces') merges.push({ survivor: id, merged: target });
          if (link.type === 'replaced-by' && target.reference) {
            const survivor = referenceTarget(target.reference);
            if (survivor?.type === 'Patient')
              merges.push({ survivor: survivor.id, merged: { reference: `Patient/${id}` } });
          }
        }
      }
      const change = await this.put(tx, batch, env, type, id, body, e.existing, at);
      if (change) {
        made.push(change);
        const later = entries.filter((l) => l !== e && l.id === id && l.resource.resourceType === type);
        if (later.length) {
          // A later entry of the same resource compares against this version.
          await this.flush(tx, batch);
          e.existing = await this.rowOf(tx, env, type, id);
          for (const l of later) l.existing = e.existing;
        }
      }
    }
    await this.flush(tx, batch);
    for (const m of merges) made.push(...(await this.merge(tx, batch, env, m.survivor, m.merged, at)));
    await this.flush(tx, batch);
    return made;
  }

  private async resolveConditional(
    tx: SqlExecutor,
    env: HubEnvironment,
    ref: string,
  ): Promise<string | undefined> {
    const q = ref.indexOf('?');
    const type = ref.slice(0, q);
    const identifier = new URLSearchParams(ref.slice(q + 1)).get('identifier');
    if (!TYPE.test(type) || !identifier) return undefined;
    const { sys, value } = splitToken(identifier);
    const match = (await this.rowsByIdentifier(tx, env, type, [value])).find(
      (m) => sys === undefined || m.sys === sys,
    );
    return match ? `${type}/${match.row.id}` : undefined;
  }

  private async rowOf(
    tx: SqlExecutor,
    env: HubEnvironment,
    type: string,
    id: string,
  ): Promise<ResourceRow | undefined> {
    const raw = await tx.get<RawResourceRow>(
      'SELECT pk, type, id, version, patient_id, last_updated, deleted, hash, body FROM hub_resource WHERE env = ? AND type = ? AND id = ?',
      [env, type, id],
    );
    return raw ? toRow(raw) : undefined;
  }

  /**
   * Stores `body` as the resource's next version; undefined when it is what is stored already.
   * New resources, versions and index rows wait in `batch` and are inserted together by
   * `flush` (one statement per table on PostgreSQL).
   */
  private async put(
    tx: SqlExecutor,
    batch: Batch,
    env: HubEnvironment,
    type: string,
    id: string,
    content: FhirResource,
    existing: ResourceRow | undefined,
    at: number,
  ): Promise<Change | undefined> {
    const hash = contentHash(content);
    if (existing && !existing.deleted && existing.hash === hash) return undefined;
    const version = existing ? existing.version + 1 : 1;
    const body = withMeta(content, id, version, at);
    const patientId = patientOf(body);
    const entries = indexEntries(body);
    const json = JSON.stringify(body);
    const sortKeys = [sortDate(entries) ?? MIN_TIME, sortName(body) ?? ''] as const;
    if (existing) {
      const pk = existing.pk;
      await tx.run(
        `UPDATE hub_resource SET version = ?, patient_id = ?, last_updated = ?, deleted = 0, hash = ?, sort_date = ?, sort_name = ?, body = ${this.bodyIn} WHERE pk = ?`,
        [version, patientId, at, hash, ...sortKeys, json, pk],
      );
      await tx.run('DELETE FROM hub_index WHERE rpk = ?', [pk]);
      batch.versions.push([pk, version, at, 0, json]);
      for (const e of entries) batch.index.push([pk, env, type, e.param, e.sys, e.value, e.raw, e.lo, e.hi]);
    } else {
      batch.creates.push({
        row: [env, type, id, version, patientId, at, 0, hash, ...sortKeys, json],
        json,
        at,
        entries,
      });
    }
    const change: Change = {
      environment: env,
      action: existing && !existing.deleted ? 'updated' : 'created',
      resourceType: type,
      id,
      versionId: version,
      patientId,
      resource: body,
      channelId: '',
      messageId: '',
    };
    if (existing && !existing.deleted) change.previous = existing.body;
    return change;
  }

  /** Inserts what `put` left in the batch. */
  private async flush(tx: SqlExecutor, batch: Batch): Promise<void> {
    if (batch.creates.length) {
      const inserted = await tx.insertRows<{ pk: number | string; type: string; id: string }>({
        table: 'hub_resource',
        columns: [
          'env',
          'type',
          'id',
          'version',
          'patient_id',
          'last_updated',
          'deleted',
          'hash',
          'sort_date',
          'sort_name',
          'body',
        ],
        pgTypes: [
          'text',
          'text',
          'text',
          'integer',
          'text',
          'bigint',
          'smallint',
          'text',
          'bigint',
          'text',
          'jsonb',
        ],
        rows: batch.creates.map((c) => c.row),
        returning: 'pk, type, id',
      });
      const pks = new Map(inserted.map((r) => [`${r.type}/${r.id}`, Number(r.pk)]));
      for (const c of batch.creates) {
        const [env, type, id] = c.row as [string, string, string];
        const pk = pks.get(`${type}/${id}`) as number;
        batch.versions.push([pk, 1, c.at, 0, c.json]);
        for (const e of c.entries)
          batch.index.push([pk, env, type, e.param, e.sys, e.value, e.raw, e.lo, e.hi]);
      }
      batch.creates = [];
    }
    if (batch.versions.length) {
      await tx.insertRows({
        table: 'hub_version',
        columns: ['rpk', 'version', 'last_updated', 'deleted', 'body'],
        pgTypes: ['bigint', 'integer', 'bigint', 'smallint', 'jsonb'],
        rows: batch.versions,
      });
      batch.versions = [];
    }
    if (batch.index.length) {
      await tx.insertRows({
        table: 'hub_index',
        columns: ['rpk', 'env', 'type', 'param', 'sys', 'value', 'raw', 'lo', 'hi'],
        pgTypes: ['bigint', 'text', 'text', 'text', 'text', 'text', 'text', 'bigint', 'bigint'],
        rows: batch.index,
      });
      batch.index = [];
    }
  }

  /** Marks a resource deleted (its last body kept as the deleted version's). */
  private async remove(
    tx: SqlExecutor,
    env: HubEnvironment,
    row: ResourceRow,
    at: number,
    action: 'deleted' | 'merged',
    extra: (body: FhirResource) => FhirResource = (b) => b,
  ): Promise<Change> {
    const version = row.version + 1;
    const body = withMeta(extra(row.body), row.id, version, at);
    const json = JSON.stringify(body);
    await tx.run(
      `UPDATE hub_resource SET version = ?, last_updated = ?, deleted = 1, hash = ?, body = ${this.bodyIn} WHERE pk = ?`,
      [version, at, contentHash(body), json, row.pk],
    );
    await tx.run(
      `INSERT INTO hub_version (rpk, version, last_updated, deleted, body) VALUES (?, ?, ?, 1, ${this.bodyIn})`,
      [row.pk, version, at, json],
    );
    return {
      environment: env,
      action,
      resourceType: row.type,
      id: row.id,
      versionId: version,
      patientId: row.patient_id,
      resource: body,
      previous: row.body,
      channelId: '',
      messageId: '',
    };
  }

  /**
   * A merge: the merged Patient is marked deleted (action `merged`, with a `replaced-by` link
   * to the survivor) and every resource of the merged patient is moved to the survivor (its
   * references rewritten, a new version).
   */
  private async merge(
    tx: SqlExecutor,
    batch: Batch,
    env: HubEnvironment,
    survivorId: string,
    merged: { reference?: string; identifier?: { sys: string; value: string } },
    at: number,
  ): Promise<Change[]> {
    let row: ResourceRow | undefined;
    const target = merged.reference ? referenceTarget(merged.reference) : undefined;
    if (target?.type === 'Patient') row = await this.rowOf(tx, env, 'Patient', target.id);
    if (!row && merged.identifier) {
      const { sys, value } = merged.identifier;
      row = (await this.rowsByIdentifier(tx, env, 'Patient', [value])).find(
        (m) => m.sys === sys && m.row.id !== survivorId,
      )?.row;
    }
    if (!row || row.id === survivorId || row.deleted) return [];
    const out: Change[] = [];
    const survivorRef = `Patient/${survivorId}`;
    const mergedChange = await this.remove(tx, env, row, at, 'merged', (body) => ({
      ...body,
      active: false,
      link: [
        ...(Array.isArray(body.link)
          ? body.link.filter((l) => !(isObject(l) && l.type === 'replaced-by'))
          : []),
        { other: { reference: survivorRef }, type: 'replaced-by' },
      ],
    }));
    mergedChange.mergedInto = survivorId;
    out.push(mergedChange);
    const moved = await tx.all<RawResourceRow>(
      `SELECT pk, type, id, version, patient_id, last_updated, deleted, hash, body FROM hub_resource
       WHERE env = ? AND patient_id = ? AND type <> 'Patient' AND deleted = 0`,
      [env, row.id],
    );
    const mergedId = row.id;
    for (const m of moved.map(toRow)) {
      const { meta: _meta, ...content } = m.body;
      const body = structuredClone(content) as FhirResource;
      rewriteReferences(body, (ref) => {
        const t = referenceTarget(ref);
        return t?.type === 'Patient' && t.id === mergedId ? survivorRef : undefined;
      });
      const change = await this.put(tx, batch, env, m.type, m.id, body, m, at);
      if (change) out.push(change);
    }
    return out;
  }

  private async recordChanges(
    tx: SqlExecutor,
    env: HubEnvironment,
    made: Change[],
    origin: HubWriteOrigin,
    at: number,
  ): Promise<HubChange[]> {
    if (made.length === 0) return [];
    const inserted = await tx.insertRows<{
      seq: number | string;
      type: string;
      id: string;
      version: number | string;
    }>({
      table: 'hub_change',
      columns: [
        'env',
        'action',
        'type',
        'id',
        'version',
        'patient_id',
        'at',
        'resource',
        'previous',
        'merged_into',
        'channel_id',
        'message_id',
      ],
      pgTypes: [
        'text',
        'text',
        'text',
        'text',
        'integer',
        'text',
        'bigint',
        'jsonb',
        'jsonb',
        'text',
        'text',
        'text',
      ],
      rows: made.map((c) => [
        env,
        c.action,
        c.resourceType,
        c.id,
        c.versionId,
        c.patientId,
        at,
        JSON.stringify(c.resource),
        c.previous ? JSON.stringify(c.previous) : null,
        c.mergedInto ?? null,
        origin.channelId,
        origin.messageId,
      ]),
      returning: 'seq, type, id, version',
    });
    const seqs = new Map(inserted.map((r) => [`${r.type}/${r.id}/${Number(r.version)}`, Number(r.seq)]));
    return made
      .map((c) => ({
        ...c,
        seq: seqs.get(`${c.resourceType}/${c.id}/${c.versionId}`) as number,
        at: new Date(at).toISOString(),
        channelId: origin.channelId,
        messageId: origin.messageId,
      }))
      .sort((x, y) => x.seq - y.seq);
  }

  private announce(changes: HubChange[]): void {
    for (const listener of [...this.listeners]) {
      try {
        listener(changes);
      } catch {
        // A listener's failure is its own; the write is committed.
      }
    }
  }

  onChange(listener: (changes: readonly HubChange[]) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  async changesSince(afterSeq: number, limit: number): Promise<HubChange[]> {
    this.open();
    const rows = await this.db.all<{
      seq: number | string;
      env: HubEnvironment;
      action: HubChangeAction;
      type: string;
      id: string;
      version: number | string;
      patient_id: string | null;
      at: number | string;
      resource: string | FhirResource;
      previous: string | FhirResource | null;
      merged_into: string | null;
      channel_id: string;
      message_id: string;
    }>(
      `SELECT seq, env, action, type, id, version, patient_id, at, resource, previous, merged_into, channel_id, message_id
       FROM hub_change WHERE seq > ? ORDER BY seq LIMIT ?`,
      [afterSeq, Math.max(1, Math.min(limit, 10_000))],
    );
    return rows.map((r) => {
      const change: HubChange = {
        seq: Number(r.seq),
        environment: r.env,
        action: r.action,
        resourceType: r.type,
        id: r.id,
        versionId: Number(r.version),
        patientId: r.patient_id,
        at: new Date(Number(r.at)).toISOString(),
        resource: parseBody(r.resource),
        channelId: r.channel_id,
        messageId: r.message_id,
      };
      if (r.previous !== null) change.previous = parseBody(r.previous);
      if (r.merged_into !== null) change.mergedInto = r.merged_into;
      return change;
    });
  }

  // ---------------------------------------------------------------- consent

  async setExcluded(
    environment: HubEnvironment,
    patientId: string,
    appId: string | undefined,
    excluded: boolean,
  ): Promise<void> {
    this.open();
    if (!HUB_ENVIRONMENTS.includes(environment))
      throw new Error(`unknown environment ${String(environment)}`);
    const app = appId ?? '';
    if (excluded) {
      await this.db.run(
        'INSERT INTO hub_consent (env, patient_id, app_id, at) VALUES (?, ?, ?, ?) ON CONFLICT (env, patient_id, app_id) DO NOTHING',
        [environment, patientId, app, Date.now()],
      );
    } else {
      await this.db.run('DELETE FROM hub_consent WHERE env = ? AND patient_id = ? AND app_id = ?', [
        environment,
        patientId,
        app,
      ]);
    }
  }

  async isVisible(viewer: HubViewer, patientId: string): Promise<boolean> {
    this.open();
    const row = await this.db.get<{ one: number }>(
      `SELECT 1 AS one FROM hub_consent WHERE env = ? AND patient_id = ? AND app_id IN ('', ?)`,
      [viewer.environment, patientId, viewer.appId ?? ''],
    );
    return row === undefined;
  }

  async exclusions(
    environment: HubEnvironment,
  ): Promise<Array<{ patientId: string; appId?: string; at: string }>> {
    this.open();
    const rows = await this.db.all<{ patient_id: string; app_id: string; at: number | string }>(
      'SELECT patient_id, app_id, at FROM hub_consent WHERE env = ? ORDER BY patient_id, app_id',
      [environment],
    );
    return rows.map((r) => {
      const out: { patientId: string; appId?: string; at: string } = {
        patientId: r.patient_id,
        at: new Date(Number(r.at)).toISOString(),
      };
      if (r.app_id !== '') out.appId = r.app_id;
      return out;
    });
  }

  /** SQL that keeps rows of `alias` whose patient the viewer may see. */
  private consentFilter(viewer: HubViewer, alias: string): { sql: string; params: SqlValue[] } {
    return {
      sql: `(${alias}.patient_id IS NULL OR NOT EXISTS (SELECT 1 FROM hub_consent c WHERE c.env = ${alias}.env AND c.patient_id = ${alias}.patient_id AND c.app_id IN ('', ?)))`,
      params: [viewer.appId ?? ''],
    };
  }

  // ---------------------------------------------------------------- reads

  private version(row: ResourceRow): HubVersion {
    return {
      resourceType: row.type,
      id: row.id,
      versionId: row.version,
      lastUpdated: new Date(row.last_updated).toISOString(),
      deleted: row.deleted === 1,
      resource: row.body,
      patientId: row.patient_id,
    };
  }

  private async visibleRow(
    viewer: HubViewer,
    resourceType: string,
    id: string,
  ): Promise<ResourceRow | undefined> {
    this.open();
    if (!ID.test(id)) return undefined;
    const row = await this.rowOf(this.db, viewer.environment, resourceType, id);
    if (!row) return undefined;
    if (row.patient_id !== null && !(await this.isVisible(viewer, row.patient_id))) return undefined;
    return row;
  }

  async read(viewer: HubViewer, resourceType: string, id: string): Promise<HubVersion | undefined> {
    const row = await this.visibleRow(viewer, resourceType, id);
    return row ? this.version(row) : undefined;
  }

  async vread(
    viewer: HubViewer,
    resourceType: string,
    id: string,
    versionId: number,
  ): Promise<HubVersion | undefined> {
    const row = await this.visibleRow(viewer, resourceType, id);
    if (!row || !Number.isInteger(versionId)) return undefined;
    const v = await this.db.get<{
      version: number | string;
      last_updated: number | string;
      deleted: number | string;
      body: string | FhirResource;
    }>('SELECT version, last_updated, deleted, body FROM hub_version WHERE rpk = ? AND version = ?', [
      row.pk,
      versionId,
    ]);
    if (!v) return undefined;
    const body = parseBody(v.body);
    return {
      resourceType,
      id,
      versionId: Number(v.version),
      lastUpdated: new Date(Number(v.last_updated)).toISOString(),
      deleted: Number(v.deleted) === 1,
      resource: body,
      patientId: patientOf(body),
    };
  }

  async history(
    viewer: HubViewer,
    resourceType: string,
    id: string,
    page: { count: number; cursor?: string },
  ): Promise<{ versions: HubVersion[]; next?: string; total: number }> {
    const row = await this.visibleRow(viewer, resourceType, id);
    if (!row) return { versions: [], total: 0 };
    const count = Math.max(1, Math.min(page.count, 1000));
    let before = row.version + 1;
    if (page.cursor !== undefined) before = Number(decodeCursor(page.cursor, 1)[0]);
    const rows = await this.db.all<{
      version: number | string;
      last_updated: number | string;
      deleted: number | string;
      body: string | FhirResource;
    }>(
      'SELECT version, last_updated, deleted, body FROM hub_version WHERE rpk = ? AND version < ? ORDER BY version DESC LIMIT ?',
      [row.pk, before, count + 1],
    );
    const versions = rows.slice(0, count).map((v) => {
      const body = parseBody(v.body);
      return {
        resourceType,
        id,
        versionId: Number(v.version),
        lastUpdated: new Date(Number(v.last_updated)).toISOString(),
        deleted: Number(v.deleted) === 1,
        resource: body,
        patientId: patientOf(body),
      };
    });
    const out: { versions: HubVersion[]; next?: string; total: number } = { versions, total: row.version };
    const last = versions[versions.length - 1];
    if (rows.length > count && last) out.next = encodeCursor([last.versionId]);
    return out;
  }

  searchParams(): Readonly<Record<string, readonly HubSearchParamInfo[]>> {
    return searchParamInfo();
  }

  async search(viewer: HubViewer, request: HubSearchRequest): Promise<HubSearchPage> {
    this.open();
    const type = request.resourceType;
    if (typeof type !== 'string' || !TYPE.test(type))
      throw new HubSearchError(`unknown resource type ${String(type)}`);
    const count = request.count;
    if (!Number.isInteger(count) || count < 1 || count > 1000) {
      throw new HubSearchError('_count must be a whole number from 1 to 1000', '_count');
    }
    const conditions = request.params.map(([name, value]) => this.condition(viewer, type, name, value));
    const where: string[] = ['r.env = ?', 'r.type = ?', 'r.deleted = 0'];
    const params: SqlValue[] = [viewer.environment, type];
    // The most selective condition leads (an index lookup); the others filter its rows.
    const ordered = [...conditions].sort((a, b) => a.rank - b.rank);
    for (const [k, c] of ordered.entries()) {
      const use = k > 0 && c.filter ? c.filter : c;
      where.push(use.sql);
      params.push(...use.params);
    }
    const consent = this.consentFilter(viewer, 'r');
    where.push(consent.sql);
    params.push(...consent.params);

    if (request.totalOnly) {
      const row = await this.db.get<{ n: number | string }>(
        `SELECT COUNT(*) AS n FROM hub_resource r WHERE ${where.join(' AND ')}`,
        params,
      );
      return { resources: [], total: Number(row?.n ?? 0) };
    }

    const keys: Array<{ column: string; descending: boolean }> = [];
    for (const s of request.sort ?? [])
      keys.push({ column: this.sortColumn(type, s.param), descending: s.descending });
    keys.push({ column: 'r.pk', descending: false });
    if (request.cursor !== undefined) {
      const values = decodeCursor(request.cursor, keys.length);
      const ors: string[] = [];
      for (let i = 0; i < keys.length; i++) {
        const parts: string[] = [];
        for (let j = 0; j < i; j++) {
          parts.push(`${(keys[j] as { column: string }).column} = ?`);
          params.push(values[j] as SqlValue);
        }
        const k = keys[i] as { column: string; descending: boolean };
        parts.push(`${k.column} ${k.descending ? '<' : '>'} ?`);
        params.push(values[i] as SqlValue);
        ors.push(`(${parts.join(' AND ')})`);
      }
      where.push(`(${ors.join(' OR ')})`);
    }
    const order = keys.map((k) => `${k.column}${k.descending ? ' DESC' : ''}`).join(', ');
    const rows = await this.db.all<{
      pk: number | string;
      body: string | FhirResource;
      k0?: unknown;
      k1?: unknown;
      k2?: unknown;
      k3?: unknown;
    }>(
      `SELECT ${keys.map((k, i) => `${k.column} AS k${i}`).join(', ')}, r.body FROM hub_resource r WHERE ${where.join(' AND ')} ORDER BY ${order} LIMIT ?`,
      [...params, count + 1],
    );
    const page: HubSearchPage = { resources: rows.slice(0, count).map((r) => parseBody(r.body)) };
    if (rows.length > count) {
      const last = rows[count - 1] as Record<string, unknown>;
      page.next = encodeCursor(
        keys.map((k, i) => {
          const v = last[`k${i}`];
          return k.column === 'r.sort_name' || k.column === 'r.id' ? String(v) : Number(v);
        }),
      );
    } else if (request.cursor === undefined) {
      page.total = page.resources.length;
    }
    return page;
  }

  private sortColumn(type: string, param: string): string {
    if (param === '_lastUpdated') return 'r.last_updated';
    if ((param === 'date' || param === 'birthdate') && paramOf(type, param)) return 'r.sort_date';
    if (param === 'name' && paramOf(type, 'name')) return 'r.sort_name';
    if (param === '_id') return 'r.id';
    throw new HubSearchError(
      `_sort: ${type} cannot be sorted by ${param} (only _id, _lastUpdated, date, birthdate, name)`,
      '_sort',
    );
  }

  private condition(viewer: HubViewer, type: string, rawName: string, rawValue: string): Condition {
    const [name, modifier, ...more] = rawName.split(':') as [string, string | undefined, ...string[]];
    const def = paramOf(type, name);
    if (!def) throw new HubSearchError(`${type} has no search parameter ${name}`, rawName);
    if (
      more.length ||
      (modifier !== undefined &&
        !(def.type === 'string' && (modifier === 'exact' || modifier === 'contains')))
    ) {
      throw new HubSearchError(`${rawName}: the modifier ${modifier ?? ''} is not supported`, rawName);
    }
    if (typeof rawValue !== 'string' || rawValue === '')
      throw new HubSearchError(`${rawName} has no value`, rawName);
    const values = rawValue.split(',').map((v) => v.trim());
    if (values.some((v) => v === ''))
      throw new HubSearchError(`${rawName} has an empty value in its list`, rawName);

    if (name === '_id') {
      for (const v of values)
        if (!ID.test(v)) throw new HubSearchError(`_id: "${v}" is not a resource id`, '_id');
      return {
        sql: this.db.inList('r.id', values.length),
        params: this.pg ? [values as unknown as SqlValue] : values,
        rank: 0,
      };
    }
    if (name === '_lastUpdated') {
      const parts = values.map((v) => dateCondition(rawName, v, 'r.last_updated', '(r.last_updated + 1)'));
      return {
        sql: `(${parts.map((p) => p.sql).join(' OR ')})`,
        params: parts.flatMap((p) => p.params),
        rank: 6,
      };
    }
    if (name === 'patient') {
      const ids = values.map((v) => {
        const target = v.includes('/') ? referenceTarget(v) : { type: 'Patient', id: v };
        if (!target || target.type !== 'Patient' || !ID.test(target.id)) {
          throw new HubSearchError(
            `${rawName}: "${v}" is not a Patient reference (Patient/id or id)`,
            rawName,
          );
        }
        return target.id;
      });
      return {
        sql: this.db.inList('r.patient_id', ids.length),
        params: this.pg ? [ids as unknown as SqlValue] : ids,
        rank: 1,
      };
    }

    const ors: string[] = [];
    const params: SqlValue[] = [];
    let rank = 5;
    for (const v of values) {
      if (def.type === 'token') {
        const { sys, value } = splitToken(v);
        if (sys === undefined) {
          ors.push('i.value = ?');
          params.push(value);
        } else if (value === '') {
          ors.push('i.sys = ?');
          params.push(sys);
        } else {
          ors.push('(i.value = ? AND i.sys = ?)');
          params.push(value, sys);
        }
        rank = Math.min(rank, name === 'identifier' ? 2 : 5);
      } else if (def.type === 'string') {
        const text = normalise(v);
        if (!text) throw new HubSearchError(`${rawName} has no letters or digits to search for`, rawName);
        if (modifier === 'exact') {
          ors.push('(i.value = ? AND i.raw = ?)');
          params.push(text, v);
          rank = Math.min(rank, 3);
        } else if (modifier === 'contains') {
          ors.push("i.value LIKE ? ESCAPE '\\'");
          params.push(`%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`);
          rank = Math.min(rank, 7);
        } else {
          ors.push('(i.value >= ? AND i.value < ?)');
          params.push(text, nextPrefix(text));
          rank = Math.min(rank, 4);
        }
      } else if (def.type === 'date') {
        const c = dateCondition(rawName, v, 'i.lo', 'i.hi');
        ors.push(c.sql);
        params.push(...c.params);
        // An equality on a day or less is selective; ranges are not.
        const range = dateRange(v.replace(DATE_PREFIX, ''));
        const equality = !DATE_PREFIX.test(v) || v.startsWith('eq');
        rank = Math.min(rank, equality && range && range.hi - range.lo <= 86_400_000 ? 3 : 6);
      } else {
        const target = v.includes('/') ? referenceTarget(v) : undefined;
        if (v.includes('/') && !target)
          throw new HubSearchError(`${rawName}: "${v}" is not a reference (Type/id or id)`, rawName);
        if (target) {
          ors.push('(i.value = ? AND i.sys = ?)');
          params.push(target.id, target.type);
        } else {
          if (!ID.test(v))
            throw new HubSearchError(`${rawName}: "${v}" is not a reference (Type/id or id)`, rawName);
          ors.push('i.value = ?');
          params.push(v);
        }
        rank = Math.min(rank, 1);
      }
    }
    return {
      sql: `r.pk IN (SELECT i.rpk FROM hub_index i WHERE i.env = ? AND i.type = ? AND i.param = ? AND (${ors.join(' OR ')}))`,
      params: [viewer.environment, type, name, ...params],
      rank,
      filter: {
        sql: `EXISTS (SELECT 1 FROM hub_index i WHERE i.rpk = r.pk AND i.param = ? AND (${ors.join(' OR ')}))`,
        params: [name, ...params],
      },
    };
  }

  async everything(viewer: HubViewer, patientId: string): Promise<FhirResource[] | undefined> {
    const patient = await this.visibleRow(viewer, 'Patient', patientId);
    if (!patient || patient.deleted) return undefined;
    const rows = await this.db.all<{ body: string | FhirResource }>(
      `SELECT body FROM hub_resource WHERE env = ? AND patient_id = ? AND deleted = 0 AND type <> 'Patient' ORDER BY type, pk`,
      [viewer.environment, patientId],
    );
    return [patient.body, ...rows.map((r) => parseBody(r.body))];
  }

  async *exportResources(viewer: HubViewer, request: HubExportRequest): AsyncIterable<FhirResource> {
    this.open();
    let types = [...request.types];
    if (types.length === 0) {
      const rows = await this.db.all<{ type: string }>(
        'SELECT DISTINCT type FROM hub_resource WHERE env = ? ORDER BY type',
        [viewer.environment],
      );
      types = rows.map((r) => r.type);
      types.sort((a, b) => (a === 'Patient' ? -1 : b === 'Patient' ? 1 : a.localeCompare(b)));
    }
    const consent = this.consentFilter(viewer, 'r');
    const patientIds = request.patientIds ? [...request.patientIds] : undefined;
    if (patientIds && patientIds.length === 0) return;
    for (const type of types) {
      let after = 0;
      for (;;) {
        const where = ['r.env = ?', 'r.type = ?', 'r.deleted = 0', 'r.pk > ?', consent.sql];
        const params: SqlValue[] = [viewer.environment, type, after, ...consent.params];
        if (request.since) {
          where.push('r.last_updated >= ?');
          params.push(request.since.getTime());
        }
        if (patientIds) {
          where.push(this.db.inList('r.patient_id', patientIds.length));
          params.push(...(this.pg ? [patientIds as unknown as SqlValue] : patientIds));
        }
        const rows = await this.db.all<{ pk: number | string; body: string | FhirResource }>(
          `SELECT r.pk, r.body FROM hub_resource r WHERE ${where.join(' AND ')} ORDER BY r.pk LIMIT ?`,
          [...params, EXPORT_PAGE],
        );
        for (const r of rows) yield parseBody(r.body);
        if (rows.length < EXPORT_PAGE) break;
        after = Number((rows[rows.length - 1] as { pk: number | string }).pk);
      }
    }
  }
}

function paddedLength(n: number): number {
  let size = 1;
  while (size < n) size *= 2;
  return size;
}
