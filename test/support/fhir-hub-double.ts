/**
 * An in-memory clinic data hub for the FHIR API's tests: the `HubStore` interface, with
 * versions, deletion, consent, search (token, string, date and reference parameters, `_sort`,
 * opaque cursors), `$everything` and export. `makeTestHub()` is the one place the tests get
 * their hub from.
 */
import {
  HubSearchError,
  type FhirResource,
  type HubChange,
  type HubEnvironment,
  type HubExportRequest,
  type HubSearchPage,
  type HubSearchParamInfo,
  type HubSearchRequest,
  type HubStore,
  type HubVersion,
  type HubViewer,
  type HubWriteOrigin,
} from '@sinew/hub';
import { randomUUID } from 'node:crypto';

type ParamType = HubSearchParamInfo['type'];
const P = (name: string, type: ParamType, documentation: string): HubSearchParamInfo => ({
  name,
  type,
  documentation,
});
const COMMON = [
  P('_id', 'token', 'The resource id'),
  P('_lastUpdated', 'date', 'When the resource last changed'),
  P('identifier', 'token', 'A business identifier (system|value)'),
];
const PATIENT_REF = [
  P('patient', 'reference', 'The patient the resource is about'),
  P('subject', 'reference', 'The subject of the resource'),
];

/** The search parameters the double serves, per type. */
export const TEST_HUB_PARAMS: Record<string, HubSearchParamInfo[]> = {
  Patient: [
    ...COMMON,
    P('name', 'string', 'Any part of a name (starts with; :exact, :contains)'),
    P('family', 'string', 'The family name'),
    P('given', 'string', 'A given name'),
    P('birthdate', 'date', 'The date of birth'),
    P('gender', 'token', 'male | female | other | unknown'),
  ],
  Observation: [
    ...COMMON,
    ...PATIENT_REF,
    P('code', 'token', 'The observation code'),
    P('category', 'token', 'The observation category'),
    P('date', 'date', 'The clinically relevant time'),
    P('status', 'token', 'The observation status'),
  ],
  Encounter: [
    ...COMMON,
    ...PATIENT_REF,
    P('date', 'date', 'The period start'),
    P('status', 'token', 'The status'),
  ],
  Appointment: [
    ...COMMON,
    P('patient', 'reference', 'A patient participant'),
    P('date', 'date', 'The start'),
    P('status', 'token', 'The status'),
  ],
  DiagnosticReport: [
    ...COMMON,
    ...PATIENT_REF,
    P('code', 'token', 'The report code'),
    P('category', 'token', 'The category'),
    P('date', 'date', 'The clinically relevant time'),
    P('status', 'token', 'The status'),
  ],
  Immunization: [
    ...COMMON,
    P('patient', 'reference', 'The patient'),
    P('date', 'date', 'When'),
    P('status', 'token', 'The status'),
  ],
  Coverage: [...COMMON, P('patient', 'reference', 'The beneficiary')],
  Practitioner: [...COMMON, P('name', 'string', 'Any part of a name')],
  Location: [...COMMON, P('name', 'string', 'The name')],
  Group: [...COMMON],
};

interface Entry {
  seq: number;
  versions: HubVersion[];
}

interface Coding {
  system?: string;
  code?: string;
}

const asArray = (v: unknown): unknown[] => (Array.isArray(v) ? v : v === undefined || v === null ? [] : [v]);
const obj = (v: unknown): Record<string, unknown> =>
  v && typeof v === 'object' ? (v as Record<string, unknown>) : {};
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

function patientOf(r: FhirResource): string | null {
  if (r.resourceType === 'Patient') return r.id ?? null;
  const refs = [r.subject, r.patient, r.beneficiary, ...asArray(r.participant).map((p) => obj(p).actor)];
  for (const ref of refs) {
    const m = /(?:^|\/)Patient\/([^/]+)$/.exec(str(obj(ref).reference) ?? '');
    if (m) return m[1]!;
  }
  return null;
}

function codings(r: FhirResource, param: string): Coding[] {
  switch (param) {
    case '_id':
      return [{ code: r.id }];
    case 'identifier':
      return asArray(r.identifier).map((i) => ({ system: str(obj(i).system), code: str(obj(i).value) }));
    case 'code':
      return asArray(obj(r.code).coding).map((c) => ({ system: str(obj(c).system), code: str(obj(c).code) }));
    case 'category':
      return asArray(r.category).flatMap((cat) =>
        asArray(obj(cat).coding).map((c) => ({ system: str(obj(c).system), code: str(obj(c).code) })),
      );
    case 'status':
      return [{ code: str(r.status) }];
    case 'gender':
      return [{ code: str(r.gender) }];
    default:
      return [];
  }
}

function strings(r: FhirResource, param: string): string[] {
  const names = asArray(r.name);
  if (r.resourceType === 'Location') return [str(r.name) ?? ''];
  const family = names.map((n) => str(obj(n).family) ?? '');
  const given = names.flatMap((n) => asArray(obj(n).given).map((g) => str(g) ?? ''));
  const text = names.map((n) => str(obj(n).text) ?? '');
  if (param === 'family') return family;
  if (param === 'given') return given;
  return [...family, ...given, ...text];
}

function dateOf(r: FhirResource, param: string): string | undefined {
  if (param === '_lastUpdated') return str(r.meta?.lastUpdated);
  if (param === 'birthdate') return str(r.birthDate);
  return (
    str(r.effectiveDateTime) ??
    str(obj(r.effectivePeriod).start) ??
    str(r.issued) ??
    str(obj(r.period).start) ??
    str(r.start) ??
    str(r.occurrenceDateTime)
  );
}

/** A FHIR date or dateTime as the instant range it covers. */
function range(value: string): [number, number] | undefined {
  const m =
    /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$/.exec(
      value,
    );
  if (!m) return undefined;
  const [, y, mo, d, h] = m;
  if (h !== undefined) {
    const t = Date.parse(
      value.length === 16 ? `${value}:00Z` : /Z|[+-]\d{2}:\d{2}$/.test(value) ? value : `${value}Z`,
    );
    return Number.isNaN(t) ? undefined : [t, t + 1000];
  }
  const lo = Date.UTC(Number(y), mo ? Number(mo) - 1 : 0, d ? Number(d) : 1);
  const hi = d ? lo + 86_400_000 : mo ? Date.UTC(Number(y), Number(mo), 1) : Date.UTC(Number(y) + 1, 0, 1);
  return Number.isNaN(lo) ? undefined : [lo, hi];
}

function matches(
  r: FhirResource,
  info: HubSearchParamInfo,
  modifier: string | undefined,
  value: string,
): boolean {
  const name = info.name;
  const alternatives = value.split(',');
  return alternatives.some((alt) => {
    switch (info.type) {
      case 'token': {
        const bar = alt.indexOf('|');
        const system = bar >= 0 ? alt.slice(0, bar) : undefined;
        const code = bar >= 0 ? alt.slice(bar + 1) : alt;
        return codings(r, name).some(
          (c) =>
            (system === undefined || (system === '' ? c.system === undefined : c.system === system)) &&
            (code === '' || c.code === code),
        );
      }
      case 'string': {
        const want = alt.toLowerCase();
        return strings(r, name).some((s) => {
          if (modifier === 'exact') return s === alt;
          if (modifier === 'contains') return s.toLowerCase().includes(want);
          return s.toLowerCase().startsWith(want);
        });
      }
      case 'date': {
        const m = /^(eq|ne|lt|gt|le|ge|sa|eb)?(.+)$/.exec(alt)!;
        const prefix = m[1] ?? 'eq';
        const p = range(m[2]!)!;
        const v = dateOf(r, name);
        const c = v ? range(v) : undefined;
        if (!c) return false;
        const at = c[0];
        switch (prefix) {
          case 'eq':
            return at >= p[0] && at < p[1];
          case 'ne':
            return !(at >= p[0] && at < p[1]);
          case 'lt':
          case 'eb':
            return at < p[0];
          case 'le':
            return at < p[1];
          case 'gt':
          case 'sa':
            return at >= p[1];
          default:
            return at >= p[0];
        }
      }
      case 'reference': {
        const want = alt.split('/').slice(-2);
        if (name === 'patient')
          return want.length === 1 || want[0] === 'Patient' ? patientOf(r) === want.at(-1) : false;
        const have = (str(obj(r.subject).reference) ?? '').split('/').slice(-2);
        return want.length === 1 ? have[1] === want[0] : have[0] === want[0] && have[1] === want[1];
      }
      default:
        return false;
    }
  });
}

function encodeCursor(offset: number, key: string): string {
  return Buffer.from(JSON.stringify({ o: offset, k: key })).toString('base64url');
}

function decodeCursor(cursor: string, key: string): number {
  try {
    const c = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { o?: unknown; k?: unknown };
    if (typeof c.o === 'number' && Number.isInteger(c.o) && c.o >= 0 && c.k === key) return c.o;
  } catch {
    // falls through to the refusal below
  }
  throw new HubSearchError('the paging cursor is not valid for this search', '_cursor');
}

export interface TestHub extends HubStore {
  /** Stores resources directly (a test's data), returning them with their ids. */
  seed(environment: HubEnvironment, ...resources: FhirResource[]): Promise<FhirResource[]>;
  /** Deletes the current version (a new version with `deleted: true`). */
  remove(environment: HubEnvironment, resourceType: string, id: string): void;
  /** How many times `exportResources` yielded (to check exports do the work). */
  exported: number;
}

class InMemoryHub implements TestHub {
  private readonly data = new Map<string, Map<string, Entry>>();
  private readonly excludedList: Array<{
    environment: HubEnvironment;
    patientId: string;
    appId?: string;
    at: string;
  }> = [];
  private readonly changes: HubChange[] = [];
  private readonly listeners = new Set<(changes: readonly HubChange[]) => void>();
  private seq = 0;
  private clock = Date.parse('2024-01-01T00:00:00Z');
  exported = 0;

  private table(environment: HubEnvironment, type: string): Map<string, Entry> {
    const key = `${environment}|${type}`;
    let t = this.data.get(key);
    if (!t) this.data.set(key, (t = new Map()));
    return t;
  }

  private now(): string {
    this.clock += 1000;
    return new Date(this.clock).toISOString();
  }

  private put(
    environment: HubEnvironment,
    input: FhirResource,
    origin: HubWriteOrigin | undefined,
    deleted = false,
  ): HubChange {
    const type = input.resourceType;
    const table = this.table(environment, type);
    let id = input.id;
    if (!id) {
      const ids = asArray(input.identifier).map((i) => `${str(obj(i).system)}|${str(obj(i).value)}`);
      for (const [existingId, e] of table) {
        const cur = e.versions[0]!.resource;
        if (asArray(cur.identifier).some((i) => ids.includes(`${str(obj(i).system)}|${str(obj(i).value)}`))) {
          id = existingId;
          break;
        }
      }
    }
    id ??= randomUUID();
    const entry = table.get(id) ?? { seq: ++this.seq, versions: [] };
    table.set(id, entry);
    const versionId = (entry.versions[0]?.versionId ?? 0) + 1;
    const lastUpdated = this.now();
    const resource: FhirResource = {
      ...input,
      id,
      meta: { ...(input.meta ?? {}), versionId: String(versionId), lastUpdated },
    };
    const previous = entry.versions[0]?.resource;
    const version: HubVersion = {
      resourceType: type,
      id,
      versionId,
      lastUpdated,
      deleted,
      resource,
      patientId: patientOf(resource),
    };
    entry.versions.unshift(version);
    const change: HubChange = {
      seq: this.changes.length + 1,
      environment,
      action: deleted ? 'deleted' : versionId === 1 ? 'created' : 'updated',
      resourceType: type,
      id,
      versionId,
      patientId: version.patientId,
      at: lastUpdated,
      resource,
      ...(previous ? { previous } : {}),
      channelId: origin?.channelId ?? 'test',
      messageId: origin?.messageId ?? 'test',
    };
    this.changes.push(change);
    return change;
  }

  write(input: FhirResource, origin: HubWriteOrigin): Promise<HubChange[]> {
    const resources =
      input.resourceType === 'Bundle'
        ? asArray(input.entry)
            .map((e) => obj(e))
            .filter((e) => e.resource)
            .map((e) => ({ fullUrl: str(e.fullUrl), resource: e.resource as FhirResource }))
        : [{ fullUrl: undefined, resource: input }];
    const ids = new Map<string, string>();
    for (const r of resources) {
      if (r.fullUrl && !r.resource.id) {
        r.resource = { ...r.resource, id: randomUUID() };
        ids.set(r.fullUrl, `${r.resource.resourceType}/${r.resource.id}`);
      }
    }
    const changes = resources.map((r) => {
      let text = JSON.stringify(r.resource);
      for (const [from, to] of ids) text = text.split(JSON.stringify(from)).join(JSON.stringify(to));
      return this.put(origin.environment, JSON.parse(text) as FhirResource, origin);
    });
    for (const l of this.listeners) l(changes);
    return Promise.resolve(changes);
  }

  async seed(environment: HubEnvironment, ...resources: FhirResource[]): Promise<FhirResource[]> {
    const changes = await this.write(
      resources.length === 1
        ? resources[0]!
        : { resourceType: 'Bundle', type: 'collection', entry: resources.map((resource) => ({ resource })) },
      { environment, channelId: 'test', messageId: randomUUID() },
    );
    return changes.map((c) => c.resource);
  }

  remove(environment: HubEnvironment, resourceType: string, id: string): void {
    const cur = this.table(environment, resourceType).get(id)?.versions[0];
    if (!cur) throw new Error(`no ${resourceType}/${id}`);
    this.put(environment, cur.resource, undefined, true);
  }

  private visibleSync(viewer: HubViewer, patientId: string | null): boolean {
    if (patientId === null) return true;
    return !this.excludedList.some(
      (e) =>
        e.environment === viewer.environment &&
        e.patientId === patientId &&
        (e.appId === undefined || (viewer.appId !== undefined && e.appId === viewer.appId)),
    );
  }

  read(viewer: HubViewer, resourceType: string, id: string): Promise<HubVersion | undefined> {
    const v = this.table(viewer.environment, resourceType).get(id)?.versions[0];
    return Promise.resolve(v && this.visibleSync(viewer, v.patientId) ? v : undefined);
  }

  vread(
    viewer: HubViewer,
    resourceType: string,
    id: string,
    versionId: number,
  ): Promise<HubVersion | undefined> {
    const e = this.table(viewer.environment, resourceType).get(id);
    if (!e || !this.visibleSync(viewer, e.versions[0]!.patientId)) return Promise.resolve(undefined);
    return Promise.resolve(e.versions.find((v) => v.versionId === versionId));
  }

  history(
    viewer: HubViewer,
    resourceType: string,
    id: string,
    page: { count: number; cursor?: string },
  ): Promise<{ versions: HubVersion[]; next?: string; total: number }> {
    const e = this.table(viewer.environment, resourceType).get(id);
    if (!e || !this.visibleSync(viewer, e.versions[0]!.patientId))
      return Promise.resolve({ versions: [], total: 0 });
    const key = `history|${resourceType}|${id}`;
    const offset = page.cursor ? decodeCursor(page.cursor, key) : 0;
    const versions = e.versions.slice(offset, offset + page.count);
    const more = offset + page.count < e.versions.length;
    return Promise.resolve({
      versions,
      total: e.versions.length,
      ...(more ? { next: encodeCursor(offset + page.count, key) } : {}),
    });
  }

  private current(viewer: HubViewer, type: string): FhirResource[] {
    return [...this.table(viewer.environment, type).values()]
      .sort((a, b) => a.seq - b.seq)
      .map((e) => e.versions[0]!)
      .filter((v) => !v.deleted && this.visibleSync(viewer, v.patientId))
      .map((v) => v.resource);
  }

  search(viewer: HubViewer, request: HubSearchRequest): Promise<HubSearchPage> {
    const infos = TEST_HUB_PARAMS[request.resourceType];
    if (!infos) return Promise.reject(new HubSearchError(`${request.resourceType} is not searchable`));
    const filters: Array<(r: FhirResource) => boolean> = [];
    for (const [full, value] of request.params) {
      const [name, modifier, ...rest] = full.split(':');
      const info = infos.find((i) => i.name === name);
      if (!info)
        return Promise.reject(
          new HubSearchError(`unknown search parameter ${full} for ${request.resourceType}`, full),
        );
      const modifiers =
        info.type === 'string' ? ['exact', 'contains'] : info.type === 'reference' ? ['Patient'] : [];
      if (rest.length > 0 || (modifier !== undefined && !modifiers.includes(modifier))) {
        return Promise.reject(
          new HubSearchError(`the modifier :${modifier} is not supported on ${name}`, full),
        );
      }
      if (value === '') return Promise.reject(new HubSearchError(`${full} has no value`, full));
      if (info.type === 'date') {
        for (const alt of value.split(',')) {
          const m = /^(eq|ne|lt|gt|le|ge|sa|eb)?(.+)$/.exec(alt);
          if (!m || !range(m[2]!))
            return Promise.reject(new HubSearchError(`${full}: ${alt} is not a FHIR date`, full));
        }
      }
      filters.push((r) => matches(r, info, modifier, value));
    }
    let rows = this.current(viewer, request.resourceType).filter((r) => filters.every((f) => f(r)));
    for (const s of [...(request.sort ?? [])].reverse()) {
      const info = infos.find((i) => i.name === s.param);
      if (!info || (info.type !== 'date' && info.type !== 'string' && s.param !== '_id')) {
        return Promise.reject(new HubSearchError(`cannot sort by ${s.param}`, '_sort'));
      }
      const key = (r: FhirResource): string =>
        s.param === '_id'
          ? (r.id ?? '')
          : info.type === 'date'
            ? (dateOf(r, s.param) ?? '')
            : (strings(r, s.param)[0] ?? '');
      rows = [...rows].sort(
        (a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0) * (s.descending ? -1 : 1),
      );
    }
    if (request.totalOnly) return Promise.resolve({ resources: [], total: rows.length });
    const key = JSON.stringify([request.resourceType, request.params, request.sort ?? [], viewer]);
    const offset = request.cursor ? decodeCursor(request.cursor, key) : 0;
    const page = rows.slice(offset, offset + request.count);
    const more = offset + request.count < rows.length;
    return Promise.resolve({
      resources: page,
      total: rows.length,
      ...(more ? { next: encodeCursor(offset + request.count, key) } : {}),
    });
  }

  searchParams(): Readonly<Record<string, readonly HubSearchParamInfo[]>> {
    return TEST_HUB_PARAMS;
  }

  everything(viewer: HubViewer, patientId: string): Promise<FhirResource[] | undefined> {
    const p = this.table(viewer.environment, 'Patient').get(patientId)?.versions[0];
    if (!p || p.deleted || !this.visibleSync(viewer, patientId)) return Promise.resolve(undefined);
    const out: FhirResource[] = [p.resource];
    for (const type of Object.keys(TEST_HUB_PARAMS)) {
      if (type === 'Patient') continue;
      for (const r of this.current(viewer, type)) if (patientOf(r) === patientId) out.push(r);
    }
    return Promise.resolve(out);
  }

  async *exportResources(viewer: HubViewer, request: HubExportRequest): AsyncIterable<FhirResource> {
    const types = request.types.length ? request.types : Object.keys(TEST_HUB_PARAMS);
    for (const type of types) {
      for (const r of this.current(viewer, type)) {
        if (request.since && Date.parse(r.meta?.lastUpdated ?? '') < request.since.getTime()) continue;
        if (request.patientIds && !request.patientIds.includes(patientOf(r) ?? '')) continue;
        this.exported++;
        yield r;
      }
      await Promise.resolve();
    }
  }

  changesSince(afterSeq: number, limit: number): Promise<HubChange[]> {
    return Promise.resolve(this.changes.filter((c) => c.seq > afterSeq).slice(0, limit));
  }

  onChange(listener: (changes: readonly HubChange[]) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  setExcluded(
    environment: HubEnvironment,
    patientId: string,
    appId: string | undefined,
    excluded: boolean,
  ): Promise<void> {
    const i = this.excludedList.findIndex(
      (e) => e.environment === environment && e.patientId === patientId && e.appId === appId,
    );
    if (excluded && i < 0)
      this.excludedList.push({
        environment,
        patientId,
        ...(appId ? { appId } : {}),
        at: new Date().toISOString(),
      });
    if (!excluded && i >= 0) this.excludedList.splice(i, 1);
    return Promise.resolve();
  }

  isVisible(viewer: HubViewer, patientId: string): Promise<boolean> {
    return Promise.resolve(this.visibleSync(viewer, patientId));
  }

  exclusions(environment: HubEnvironment): Promise<Array<{ patientId: string; appId?: string; at: string }>> {
    return Promise.resolve(
      this.excludedList
        .filter((e) => e.environment === environment)
        .map(({ patientId, appId, at }) => ({ patientId, ...(appId ? { appId } : {}), at })),
    );
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** The hub the FHIR API's tests run against (an in-memory double until the real hub is merged). */
export function makeTestHub(): Promise<TestHub> {
  return Promise.resolve(new InMemoryHub());
}
