import type { FhirResource, HubSearchParamInfo, HubSearchRequest } from '@sinew/hub';
import { FhirError } from './outcome';

/** Page size when `_count` is not given, and the largest one served. */
export const DEFAULT_COUNT = 50;
export const MAX_COUNT = 1000;

/** Result parameters the API reads itself (the rest go to the hub as search parameters). */
export const RESULT_PARAMS = [
  '_count',
  '_sort',
  '_include',
  '_elements',
  '_summary',
  '_total',
  '_format',
  '_pretty',
  '_cursor',
] as const;

/** Result parameters of FHIR search that Sinew does not serve: refused rather than ignored. */
const UNSUPPORTED_RESULT_PARAMS = new Set(['_revinclude', '_contained', '_containedType', '_graph']);

/** `_format` values that mean JSON. */
const JSON_FORMATS = new Set(['json', 'application/json', 'application/fhir+json', 'application/json+fhir']);

export type QueryPairs = Array<[string, string]>;

/** The query string's pairs in order (repeated names kept). */
export function queryPairs(url: string): QueryPairs {
  const q = url.indexOf('?');
  if (q < 0) return [];
  return [...new URLSearchParams(url.slice(q + 1)).entries()];
}

/** A form body (`POST _search`) as pairs: Nest's parser has already turned it into an object. */
export function formPairs(body: unknown): QueryPairs {
  if (!body || typeof body !== 'object') return [];
  const out: QueryPairs = [];
  for (const [name, value] of Object.entries(body as Record<string, unknown>)) {
    const values = Array.isArray(value) ? value : [value];
    for (const v of values) {
      if (typeof v !== 'string') {
        throw new FhirError(400, 'invalid', `the search parameter ${name} has a value that is not text`, {
          expression: name,
          misuse: 'unexpected_payload',
        });
      }
      out.push([name, v]);
    }
  }
  return out;
}

/** Refuses `_format` values other than JSON (406: only `application/fhir+json` is served). */
export function checkFormat(pairs: QueryPairs, accept: string | undefined): void {
  for (const [name, value] of pairs) {
    if (name !== '_format') continue;
    if (!JSON_FORMATS.has(value.trim().toLowerCase().split(';')[0]!.trim())) {
      throw new FhirError(
        406,
        'not-supported',
        `_format ${value} is not served: only application/fhir+json`,
        {
          expression: '_format',
        },
      );
    }
  }
  if (!accept) return;
  const types = accept
    .split(',')
    .map((t) => t.split(';')[0]!.trim().toLowerCase())
    .filter(Boolean);
  if (types.length === 0) return;
  const ok = types.some(
    (t) =>
      t === '*/*' ||
      t === 'application/*' ||
      JSON_FORMATS.has(t) ||
      t.endsWith('+json') ||
      t === 'application/fhir+ndjson',
  );
  if (!ok) {
    throw new FhirError(406, 'not-supported', `Accept ${accept} is not served: only application/fhir+json`);
  }
}

/** How the answer to a search is shaped. */
export interface ResultOptions {
  count: number;
  sort?: Array<{ param: string; descending: boolean }>;
  include: Array<{ source: string; param: string }>;
  elements?: string[];
  summaryCount: boolean;
  total: 'none' | 'estimate' | 'accurate' | undefined;
  cursor?: string;
}

/** The params (`subject`, `patient`) whose Patient `_include` brings, per resource type. */
export function includableParams(params: readonly HubSearchParamInfo[] | undefined): string[] {
  return (params ?? [])
    .filter((p) => p.type === 'reference' && (p.name === 'patient' || p.name === 'subject'))
    .map((p) => p.name);
}

function one(name: string, values: string[]): string {
  if (values.length > 1)
    throw new FhirError(400, 'invalid', `${name} is given more than once`, { expression: name });
  return values[0]!;
}

/** Splits a search's pairs into what the hub runs and how the answer is shaped. */
export function parseSearch(
  resourceType: string,
  pairs: QueryPairs,
  params: readonly HubSearchParamInfo[] | undefined,
): { request: HubSearchRequest; options: ResultOptions } {
  const search: Array<readonly [string, string]> = [];
  const result = new Map<string, string[]>();
  for (const [name, value] of pairs) {
    if (UNSUPPORTED_RESULT_PARAMS.has(name)) {
      throw new FhirError(400, 'not-supported', `${name} is not supported`, { expression: name });
    }
    if ((RESULT_PARAMS as readonly string[]).includes(name)) {
      result.set(name, [...(result.get(name) ?? []), value]);
    } else search.push([name, value] as const);
  }
  const options: ResultOptions = { count: DEFAULT_COUNT, include: [], summaryCount: false, total: undefined };
  const countText = result.get('_count');
  if (countText) {
    const text = one('_count', countText);
    if (!/^\d{1,7}$/.test(text)) {
      throw new FhirError(400, 'invalid', `_count must be a whole number from 0 to ${MAX_COUNT}`, {
        expression: '_count',
      });
    }
    const n = Number(text);
    if (n > MAX_COUNT) {
      throw new FhirError(400, 'invalid', `_count is at most ${MAX_COUNT}`, { expression: '_count' });
    }
    if (n === 0) options.summaryCount = true;
    else options.count = n;
  }
  const sortText = result.get('_sort');
  if (sortText) {
    options.sort = one('_sort', sortText)
      .split(',')
      .map((s) => s.trim())
      .map((s) => {
        const descending = s.startsWith('-');
        const param = descending ? s.slice(1) : s;
        if (!/^[A-Za-z_][A-Za-z0-9_-]{0,63}$/.test(param)) {
          throw new FhirError(400, 'invalid', `_sort has an invalid parameter name`, { expression: '_sort' });
        }
        return { param, descending };
      });
  }
  const allowedIncludes = includableParams(params);
  for (const value of result.get('_include') ?? []) {
    const [source, param, target, ...rest] = value.split(':');
    if (
      source !== resourceType ||
      !param ||
      !allowedIncludes.includes(param) ||
      (target !== undefined && target !== 'Patient') ||
      rest.length > 0
    ) {
      throw new FhirError(
        400,
        'not-supported',
        `_include=${value} is not supported for ${resourceType}` +
          (allowedIncludes.length
            ? ` (supported: ${allowedIncludes.map((p) => `${resourceType}:${p}`).join(', ')})`
            : ' (it has no includable reference)'),
        { expression: '_include' },
      );
    }
    if (!options.include.some((i) => i.param === param)) options.include.push({ source, param });
  }
  const elementsText = result.get('_elements');
  if (elementsText) {
    const names = elementsText
      .flatMap((e) => e.split(','))
      .map((e) => e.trim())
      .filter(Boolean);
    for (const n of names) {
      if (!/^[a-z][A-Za-z0-9]{0,63}(\[x\])?$/.test(n)) {
        throw new FhirError(400, 'invalid', `_elements names an invalid element`, {
          expression: '_elements',
        });
      }
    }
    options.elements = names;
  }
  const summary = result.get('_summary');
  if (summary) {
    const s = one('_summary', summary);
    if (s === 'count') options.summaryCount = true;
    else if (s !== 'false') {
      throw new FhirError(400, 'not-supported', `_summary=${s} is not supported (only count and false)`, {
        expression: '_summary',
      });
    }
  }
  const total = result.get('_total');
  if (total) {
    const t = one('_total', total);
    if (t !== 'none' && t !== 'estimate' && t !== 'accurate') {
      throw new FhirError(400, 'invalid', '_total must be none, estimate or accurate', {
        expression: '_total',
      });
    }
    options.total = t;
  }
  const cursor = result.get('_cursor');
  if (cursor) options.cursor = one('_cursor', cursor);
  const request: HubSearchRequest = {
    resourceType,
    params: search,
    count: options.count,
    ...(options.sort ? { sort: options.sort } : {}),
    ...(options.cursor ? { cursor: options.cursor } : {}),
    ...(options.summaryCount ? { totalOnly: true } : {}),
  };
  return { request, options };
}

const SUBSETTED = {
  system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue',
  code: 'SUBSETTED',
  display: 'subsetted',
};

/** The resource with only `id`, `meta`, `resourceType` and the listed elements, tagged SUBSETTED. */
export function subset(resource: FhirResource, elements: readonly string[]): FhirResource {
  const out: FhirResource = { resourceType: resource.resourceType };
  if (resource.id !== undefined) out.id = resource.id;
  for (const name of elements) {
    if (name.endsWith('[x]')) {
      const stem = name.slice(0, -3);
      for (const [k, v] of Object.entries(resource))
        if (k.startsWith(stem) && /^[A-Z]/.test(k.slice(stem.length))) out[k] = v;
    } else if (name in resource && name !== 'meta') out[name] = resource[name];
  }
  const meta = resource.meta ?? {};
  const tags = Array.isArray(meta.tag) ? (meta.tag as unknown[]) : [];
  out.meta = { ...meta, tag: [...tags, SUBSETTED] };
  return out;
}

function referenceOf(value: unknown): string | undefined {
  if (!value || typeof value !== 'object') return undefined;
  const ref = (value as { reference?: unknown }).reference;
  return typeof ref === 'string' ? ref : undefined;
}

/** The Patient ids a resource's `subject` (or, for `patient`, its patient reference) points to. */
export function includedPatientIds(resource: FhirResource, param: string): string[] {
  const refs: string[] = [];
  const add = (v: unknown) => {
    const r = referenceOf(v);
    if (r) refs.push(r);
  };
  add(resource.subject);
  if (param === 'patient') {
    add(resource.patient);
    add(resource.beneficiary);
    if (Array.isArray(resource.participant))
      for (const p of resource.participant) add((p as { actor?: unknown }).actor);
  }
  const ids: string[] = [];
  for (const r of refs) {
    const m = /(?:^|\/)Patient\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[^/]+)?$/.exec(r);
    if (m && !ids.includes(m[1]!)) ids.push(m[1]!);
  }
  return ids;
}

/** A link URL under the FHIR base with these pairs as its query. */
export function linkUrl(fhirBase: string, path: string, pairs: QueryPairs): string {
  const query = new URLSearchParams(pairs).toString();
  return `${fhirBase}/${path}${query ? `?${query}` : ''}`;
}
