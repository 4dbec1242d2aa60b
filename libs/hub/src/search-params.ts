import type { FhirResource, HubSearchParamInfo } from './types';

/**
 * The search parameters of the hub, per resource type, and how each one's values are taken
 * out of a resource into the search index.
 *
 * Index rows: a token is (system, code); a string is its normalised text (lower case, accents
 * removed) and the text as written; a date is a half-open range of ms since the epoch
 * [lo, hi) covering its precision; a reference is (type, id).
 */
export interface IndexEntry {
  param: string;
  sys: string | null;
  value: string | null;
  raw: string | null;
  lo: number | null;
  hi: number | null;
}

type Json = unknown;

interface ParamDef extends HubSearchParamInfo {
  /** Index entries of this parameter; absent for parameters answered from the resource row (`_id`, `_lastUpdated`, `patient`). */
  extract?: (resource: FhirResource) => IndexEntry[];
}

/** The earliest and latest instants a date range may have (years 0001 and 9999). */
export const MIN_TIME = -62_135_596_800_000;
export const MAX_TIME = 253_402_300_800_000;

/** Lower case, accents removed, spaces collapsed: how names are compared. */
export function normalise(text: string): string {
  return text
    .normalize('NFD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/\s+/g, ' ')
    .trim();
}

const DATE =
  /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$/;

/**
 * The range a FHIR date, dateTime or instant covers: `2024` is the whole year, `2024-03-05`
 * the day, `2024-03-05T10:00:00Z` the second. A time without a zone is read as UTC. Undefined
 * for text that is no such date.
 */
export function dateRange(text: string): { lo: number; hi: number } | undefined {
  const m = DATE.exec(text.trim());
  if (!m) return undefined;
  const year = Number(m[1]);
  const month = m[2] === undefined ? undefined : Number(m[2]);
  const day = m[3] === undefined ? undefined : Number(m[3]);
  if (month !== undefined && (month < 1 || month > 12)) return undefined;
  if (day !== undefined && (day < 1 || day > 31)) return undefined;
  if (month === undefined) return { lo: utc(year, 0, 1), hi: utc(year + 1, 0, 1) };
  if (day === undefined) return { lo: utc(year, month - 1, 1), hi: utc(year, month, 1) };
  if (m[4] === undefined) {
    const lo = utc(year, month - 1, day);
    if (new Date(lo).getUTCDate() !== day) return undefined;
    return { lo, hi: lo + 86_400_000 };
  }
  const hour = Number(m[4]);
  const minute = Number(m[5]);
  if (hour > 23 || minute > 59) return undefined;
  const second = m[6] === undefined ? undefined : Number(m[6]);
  if (second !== undefined && second > 59) return undefined;
  const fraction = m[7];
  const zone = m[8];
  let offset = 0;
  if (zone && zone !== 'Z') {
    const sign = zone.startsWith('-') ? -1 : 1;
    offset = sign * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6))) * 60_000;
  }
  const ms = fraction === undefined ? 0 : Math.floor(Number(`0.${fraction}`) * 1000);
  const lo = utc(year, month - 1, day, hour, minute, second ?? 0, ms) - offset;
  const width = second === undefined ? 60_000 : fraction === undefined ? 1000 : 1;
  return { lo, hi: lo + width };
}

function utc(y: number, mo: number, d: number, h = 0, mi = 0, s = 0, ms = 0): number {
  const date = new Date(Date.UTC(2000, mo, d, h, mi, s, ms));
  date.setUTCFullYear(y);
  return date.getTime();
}

function isObject(value: Json): value is Record<string, Json> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function list(value: Json): Json[] {
  if (value === undefined || value === null) return [];
  return Array.isArray(value) ? value : [value];
}

function field(resource: Json, path: string): Json[] {
  let current: Json[] = [resource];
  for (const part of path.split('.')) {
    const next: Json[] = [];
    for (const item of current) if (isObject(item)) next.push(...list(item[part]));
    current = next;
  }
  return current;
}

function tokenEntries(param: string, values: Json[]): IndexEntry[] {
  const out: IndexEntry[] = [];
  const add = (sys: Json, code: Json) => {
    if (typeof code === 'string' && code !== '')
      out.push({
        param,
        sys: typeof sys === 'string' ? sys : '',
        value: code,
        raw: null,
        lo: null,
        hi: null,
      });
    else if (typeof code === 'boolean')
      out.push({ param, sys: '', value: String(code), raw: null, lo: null, hi: null });
  };
  for (const value of values) {
    if (typeof value === 'string' || typeof value === 'boolean') add('', value);
    else if (isObject(value)) {
      if (Array.isArray(value.coding)) for (const c of value.coding) if (isObject(c)) add(c.system, c.code);
      if ('code' in value) add(value.system, value.code);
      if ('value' in value && !('code' in value)) add(value.system, value.value);
    }
  }
  return out;
}

function stringEntries(param: string, values: Json[]): IndexEntry[] {
  const out: IndexEntry[] = [];
  const add = (text: Json) => {
    if (typeof text !== 'string') return;
    const value = normalise(text);
    if (value) out.push({ param, sys: null, value, raw: text, lo: null, hi: null });
  };
  for (const value of values) {
    if (typeof value === 'string') add(value);
    else if (isObject(value)) {
      // HumanName: family, each given, the text
      add(value.family);
      for (const g of list(value.given)) add(g);
      add(value.text);
    }
  }
  return out;
}

function dateEntries(param: string, values: Json[]): IndexEntry[] {
  const out: IndexEntry[] = [];
  for (const value of values) {
    if (typeof value === 'string') {
      const range = dateRange(value);
      if (range) out.push({ param, sys: null, value: null, raw: null, ...range });
    } else if (isObject(value) && ('start' in value || 'end' in value)) {
      const start = typeof value.start === 'string' ? dateRange(value.start) : undefined;
      const end = typeof value.end === 'string' ? dateRange(value.end) : undefined;
      if (start || end) {
        out.push({
          param,
          sys: null,
          value: null,
          raw: null,
          lo: start?.lo ?? MIN_TIME,
          hi: end?.hi ?? MAX_TIME,
        });
      }
    }
  }
  return out;
}

/** `Type/id` of a relative reference (or of an absolute URL ending in one). */
export function referenceTarget(reference: string): { type: string; id: string } | undefined {
  const m = /(?:^|\/)([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[^/]+)?$/.exec(reference);
  return m ? { type: m[1] as string, id: m[2] as string } : undefined;
}

function referenceEntries(param: string, values: Json[], onlyType?: string): IndexEntry[] {
  const out: IndexEntry[] = [];
  for (const value of values) {
    if (!isObject(value) || typeof value.reference !== 'string') continue;
    const target = referenceTarget(value.reference);
    if (!target || (onlyType && target.type !== onlyType)) continue;
    out.push({ param, sys: target.type, value: target.id, raw: null, lo: null, hi: null });
  }
  return out;
}

const token =
  (param: string, ...paths: string[]) =>
  (r: FhirResource) =>
    tokenEntries(
      param,
      paths.flatMap((p) => field(r, p)),
    );
const string =
  (param: string, ...paths: string[]) =>
  (r: FhirResource) =>
    stringEntries(
      param,
      paths.flatMap((p) => field(r, p)),
    );
const date =
  (param: string, ...paths: string[]) =>
  (r: FhirResource) =>
    dateEntries(
      param,
      paths.flatMap((p) => field(r, p)),
    );
const reference =
  (param: string, ...paths: string[]) =>
  (r: FhirResource) =>
    referenceEntries(
      param,
      paths.flatMap((p) => field(r, p)),
    );

const COMMON: ParamDef[] = [
  {
    name: '_id',
    type: 'token',
    documentation: 'The resource id, without a system (`system|id` is refused).',
  },
  {
    name: '_lastUpdated',
    type: 'date',
    documentation: 'When the hub last changed the resource (prefixes eq, ne, lt, gt, le, ge, sa, eb).',
  },
];

function identifier(): ParamDef {
  return {
    name: 'identifier',
    type: 'token',
    documentation: 'A business identifier: `system|value`, `value`, or `system|` (any value in that system).',
    extract: token('identifier', 'identifier'),
  };
}

function patient(paths: string): ParamDef {
  return {
    name: 'patient',
    type: 'reference',
    documentation: `The Patient the resource belongs to (${paths}): \`Patient/id\` or \`id\`.`,
  };
}

function subject(path = 'subject'): ParamDef {
  return {
    name: 'subject',
    type: 'reference',
    documentation: `Who or what the resource is about (${path}): \`Type/id\` or \`id\`.`,
    extract: reference('subject', path),
  };
}

function tokenParam(name: string, paths: string[], documentation: string): ParamDef {
  return { name, type: 'token', documentation, extract: token(name, ...paths) };
}

function dateParam(name: string, paths: string[], documentation: string): ParamDef {
  return { name, type: 'date', documentation, extract: date(name, ...paths) };
}

function status(): ParamDef {
  return tokenParam('status', ['status'], 'The status code (`status`).');
}

function nameParams(): ParamDef[] {
  return [
    {
      name: 'name',
      type: 'string',
      documentation:
        'Any part of a name (family, given, text): starts with the value, ignoring case and accents; `name:exact` matches a whole part exactly; `name:contains` anywhere.',
      extract: string('name', 'name'),
    },
    {
      name: 'family',
      type: 'string',
      documentation: 'The family name, matched like `name` (`:exact`, `:contains`).',
      extract: string('family', 'name.family'),
    },
    {
      name: 'given',
      type: 'string',
      documentation: 'A given name, matched like `name` (`:exact`, `:contains`).',
      extract: string('given', 'name.given'),
    },
  ];
}

/** Per type: its parameters and which of its dates `_sort=date` (or `birthdate`) orders by. */
const TYPES: Record<string, { params: ParamDef[] }> = {
  Patient: {
    params: [
      identifier(),
      ...nameParams(),
      dateParam(
        'birthdate',
        ['birthDate'],
        'The date of birth (`birthDate`), with prefixes and precision ranges.',
      ),
      tokenParam('gender', ['gender'], 'The administrative gender (`male`, `female`, `other`, `unknown`).'),
    ],
  },
  Observation: {
    params: [
      identifier(),
      patient('subject'),
      subject(),
      tokenParam('code', ['code'], 'The observation code: `system|code` or `code`.'),
      tokenParam('category', ['category'], 'The category: `system|code` or `code`.'),
      dateParam(
        'date',
        ['effectiveDateTime', 'effectivePeriod', 'effectiveInstant'],
        'When it was observed (`effective[x]`), with prefixes and precision ranges.',
      ),
      status(),
    ],
  },
  Encounter: {
    params: [
      identifier(),
      patient('subject'),
      subject(),
      dateParam('date', ['period'], 'The period of the encounter.'),
      status(),
      tokenParam('class', ['class'], 'The class of the encounter (inpatient, ambulatory …).'),
      tokenParam('type', ['type'], 'The type of the encounter.'),
    ],
  },
  Appointment: {
    params: [
      identifier(),
      patient('participant.actor'),
      dateParam('date', ['start'], 'The start of the appointment.'),
      status(),
      tokenParam('service-type', ['serviceType'], 'The service to be performed.'),
      tokenParam('appointment-type', ['appointmentType'], 'The kind of appointment.'),
    ],
  },
  DiagnosticReport: {
    params: [
      identifier(),
      patient('subject'),
      subject(),
      tokenParam('code', ['code'], 'The report code: `system|code` or `code`.'),
      tokenParam('category', ['category'], 'The category (e.g. the lab section).'),
      dateParam(
        'date',
        ['effectiveDateTime', 'effectivePeriod'],
        'The clinically relevant time (`effective[x]`).',
      ),
      status(),
    ],
  },
  ChargeItem: {
    params: [
      identifier(),
      patient('subject'),
      subject(),
      tokenParam('code', ['code'], 'The charge code.'),
      dateParam(
        'date',
        ['occurrenceDateTime', 'occurrencePeriod', 'enteredDate'],
        'When the charged service occurred (`occurrence[x]`, else `enteredDate`).',
      ),
      status(),
    ],
  },
  Invoice: {
    params: [
      identifier(),
      patient('subject'),
      subject(),
      dateParam('date', ['date'], 'The invoice date.'),
      status(),
      tokenParam('type', ['type'], 'The type of invoice.'),
    ],
  },
  Account: {
    params: [
      identifier(),
      patient('subject'),
      subject(),
      dateParam('date', ['servicePeriod'], 'The service period of the account.'),
      status(),
      tokenParam('type', ['type'], 'The type of account.'),
    ],
  },
  Coverage: {
    params: [
      identifier(),
      patient('beneficiary'),
      {
        name: 'beneficiary',
        type: 'reference',
        documentation: 'The covered person (`beneficiary`).',
        extract: reference('beneficiary', 'beneficiary'),
      },
      dateParam('date', ['period'], 'The period of coverage.'),
      status(),
      tokenParam('type', ['type'], 'The type of coverage.'),
    ],
  },
  DocumentReference: {
    params: [
      identifier(),
      patient('subject'),
      subject(),
      dateParam('date', ['date'], 'When the document reference was created.'),
      status(),
      tokenParam('type', ['type'], 'The kind of document.'),
      tokenParam('category', ['category'], 'The category of document.'),
    ],
  },
  Immunization: {
    params: [
      identifier(),
      patient('patient'),
      dateParam('date', ['occurrenceDateTime'], 'When the vaccine was given.'),
      status(),
      tokenParam('vaccine-code', ['vaccineCode'], 'The vaccine given.'),
    ],
  },
  Practitioner: {
    params: [
      identifier(),
      ...nameParams(),
      tokenParam('active', ['active'], 'Whether the record is active (`true`, `false`).'),
    ],
  },
  Location: {
    params: [
      identifier(),
      {
        name: 'name',
        type: 'string',
        documentation: 'The name or an alias, matched like Patient `name` (`:exact`, `:contains`).',
        extract: string('name', 'name', 'alias'),
      },
      tokenParam('status', ['status'], 'The status (`active`, `suspended`, `inactive`).'),
    ],
  },
};

/** Every other type the hub keeps: `_id`, `_lastUpdated`, `identifier` and `patient`. */
const OTHER: ParamDef[] = [identifier(), patient('subject, patient, beneficiary or a participant')];

export function paramsOf(type: string): ParamDef[] {
  return [...COMMON, ...(TYPES[type]?.params ?? OTHER)];
}

export function paramOf(type: string, name: string): ParamDef | undefined {
  return paramsOf(type).find((p) => p.name === name);
}

/** Every search parameter, without the extractors, per type. */
export function searchParamInfo(): Record<string, HubSearchParamInfo[]> {
  const out: Record<string, HubSearchParamInfo[]> = {};
  for (const type of Object.keys(TYPES)) {
    out[type] = paramsOf(type).map(({ name, type: t, documentation }) => ({ name, type: t, documentation }));
  }
  return out;
}

/** The index entries of a resource. */
export function indexEntries(resource: FhirResource): IndexEntry[] {
  const out: IndexEntry[] = [];
  for (const p of paramsOf(resource.resourceType)) if (p.extract) out.push(...p.extract(resource));
  return out;
}

/** The date `_sort=date` / `_sort=birthdate` orders by: the earliest of the type's `date`/`birthdate` values. */
export function sortDate(entries: readonly IndexEntry[]): number | undefined {
  let best: number | undefined;
  for (const e of entries) {
    if ((e.param === 'date' || e.param === 'birthdate') && e.lo !== null && e.lo !== MIN_TIME) {
      if (best === undefined || e.lo < best) best = e.lo;
    }
  }
  return best;
}

/** The text `_sort=name` orders by: the first name's family then given names, normalised. */
export function sortName(resource: FhirResource): string | undefined {
  const first = list(resource.name)[0];
  if (typeof first === 'string') return normalise(first);
  if (!isObject(first)) return undefined;
  const parts = [first.family, ...list(first.given)].filter((p): p is string => typeof p === 'string');
  const text = parts.length ? parts.join(' ') : typeof first.text === 'string' ? first.text : '';
  return text ? normalise(text) : undefined;
}

/** The Patient a resource belongs to: a Patient itself, else its subject, patient, beneficiary or a participant's actor that is a Patient. */
export function patientOf(resource: FhirResource): string | null {
  if (resource.resourceType === 'Patient') return resource.id ?? null;
  for (const path of ['subject', 'patient', 'beneficiary', 'participant.actor', 'participant.individual']) {
    for (const ref of field(resource, path)) {
      if (isObject(ref) && typeof ref.reference === 'string') {
        const target = referenceTarget(ref.reference);
        if (target?.type === 'Patient') return target.id;
      }
    }
  }
  return null;
}
