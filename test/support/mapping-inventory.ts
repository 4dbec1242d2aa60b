import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Hl7Message } from '@sinew/hl7v2';
import type { TransformerLibrary } from '@sinew/mapping';
import { validateFhir } from '@sinew/validation';
import { corpusPath } from './corpus';

/**
 * The V2-to-FHIR IG's mapping-inventory cases as CDC ReportStream ships them: one small HL7 v2
 * message per datatype, segment or structure, with the Bundle ReportStream produces for it.
 * Each Bundle is reduced to facts, `Type.path = value`, and a case agrees to the degree that
 * ReportStream's facts are also facts of Sinew's Bundle.
 */
export const INVENTORY_DIR = 'reportstream-mapping-inventory';

interface ManifestEntry {
  name: string;
  hl7: string;
  fhir: string;
  files_present?: boolean;
  skipHl7ToFhir?: boolean;
}

export interface InventoryCase {
  /** `catchall/<group>/…/<case>` as the manifest names it. */
  name: string;
  /** The folder under catchall/: the datatype, segment or structure the case is about. */
  group: string;
  hl7: string;
  fhir: string;
}

export interface InventoryResult {
  case: InventoryCase;
  messageType: string;
  transformer?: string;
  /** Why the case did not convert (no transformer for its type, or the conversion failed). */
  error?: string;
  /** Strict R4 errors in Sinew's Bundle, as `location: message`. */
  invalid: string[];
  /** ReportStream's facts, and the ones Sinew's Bundle holds too. */
  facts: string[];
  matched: string[];
  missing: string[];
  bundle?: unknown;
}

/** Every case of the manifest that has both files and an HL7-to-FHIR direction, sorted by name. */
export function inventoryCases(): InventoryCase[] {
  const dir = corpusPath(INVENTORY_DIR);
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as ManifestEntry[];
  return manifest
    .filter((m) => m.files_present !== false && m.skipHl7ToFhir !== true)
    .map((m) => ({
      name: m.name,
      group: m.name.split('/')[1] ?? m.name,
      hl7: join(dir, m.hl7),
      fhir: join(dir, m.fhir),
    }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

const isObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Elements that say how a Bundle was built, not what the message said. */
const SKIPPED_KEYS = new Set(['id', 'meta', 'extension', 'modifierExtension', 'contained']);

/** Resource types that describe the conversion itself (ReportStream's audit trail). */
const SKIPPED_TYPES = new Set(['Provenance']);

const DATETIME_WITH_OFFSET = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2})(:\d{2})?(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

/**
 * A dateTime with an offset compares as the instant it names and its precision (minutes,
 * seconds, or fractions with their digits): the offset a converter chooses to express the
 * instant in is not a difference; a lost second or an added fraction is.
 */
export function normalizeDate(value: string): string {
  const m = DATETIME_WITH_OFFSET.exec(value);
  if (!m) return value;
  const instant = new Date(`${m[1]}T${m[2]}${m[3] ?? ':00'}${m[4] ?? ''}${m[5]}`);
  if (Number.isNaN(instant.getTime())) return value;
  const iso = instant.toISOString();
  const precision = m[4] ? `${iso.slice(0, 20)}${m[4].slice(1)}` : m[3] ? iso.slice(0, 19) : iso.slice(0, 16);
  return `${precision}Z`;
}

interface Indexed {
  resource: JsonObject;
  type: string;
}

function resourcesOf(bundle: unknown): { list: Indexed[]; byRef: Map<string, Indexed> } {
  const list: Indexed[] = [];
  const byRef = new Map<string, Indexed>();
  const entries = isObject(bundle) && Array.isArray(bundle.entry) ? bundle.entry : [];
  for (const entry of entries) {
    if (!isObject(entry) || !isObject(entry.resource)) continue;
    const resource = entry.resource;
    const type = typeof resource.resourceType === 'string' ? resource.resourceType : '?';
    const item = { resource, type };
    list.push(item);
    if (typeof entry.fullUrl === 'string') byRef.set(entry.fullUrl, item);
    if (typeof resource.id === 'string') byRef.set(`${type}/${resource.id}`, item);
  }
  return { list, byRef };
}

/** How a referenced resource is named in a fact: its type and its first identifier's value. */
function referenceKey(target: Indexed | undefined, reference: string): string {
  if (!target) return reference.startsWith('#') ? 'contained' : (reference.split('/')[0] ?? '?');
  const ids = target.resource.identifier;
  const first = Array.isArray(ids) ? ids.find(isObject) : undefined;
  return first && typeof first.value === 'string' ? `${target.type}(${first.value})` : target.type;
}

/**
 * The facts of a Bundle: every primitive value at its FHIR path (`Patient.name.family = Doe`),
 * with the `system` folded into the value it qualifies (`Patient.identifier.value =
 * urn:oid:1.2|123`, `Observation.code.coding.code = http://loinc.org|1234-5`, a Quantity's code
 * `http://unitsofmeasure.org|mg/dL`), references resolved to the type and identifier of the
 * resource they point at, dates normalized by {@link normalizeDate}. Ids, meta, extensions,
 * Provenance and the resources only Provenance's agents refer to (the converter's own
 * organization) are left out.
 */
export function bundleFacts(bundle: unknown): Set<string> {
  const { list, byRef } = resourcesOf(bundle);
  const referencedOutsideProvenance = new Set<JsonObject>();
  const referencedByProvenance = new Set<JsonObject>();
  const collectRefs = (node: Json, into: Set<JsonObject>): void => {
    if (Array.isArray(node)) node.forEach((n) => collectRefs(n, into));
    else if (isObject(node)) {
      if (typeof node.reference === 'string') {
        const target = byRef.get(node.reference);
        if (target) into.add(target.resource);
      }
      for (const [k, v] of Object.entries(node))
        if (k !== 'extension' && !(into === referencedByProvenance && k === 'target')) collectRefs(v, into);
    }
  };
  for (const item of list) {
    collectRefs(
      item.resource,
      SKIPPED_TYPES.has(item.type) ? referencedByProvenance : referencedOutsideProvenance,
    );
  }

  const facts = new Set<string>();
  const walk = (node: Json, path: string): void => {
    if (Array.isArray(node)) {
      node.forEach((n) => walk(n, path));
      return;
    }
    if (isObject(node)) {
      if (typeof node.reference === 'string') {
        facts.add(`${path} -> ${referenceKey(byRef.get(node.reference), node.reference)}`);
        return;
      }
      const system = typeof node.system === 'string' ? node.system : undefined;
      for (const [key, value] of Object.entries(node)) {
        if (SKIPPED_KEYS.has(key) || key.startsWith('_')) continue;
        if (key === 'system' && system !== undefined && ('value' in node || 'code' in node)) continue;
        if (system !== undefined && (key === 'value' || key === 'code') && !isObject(value)) {
          facts.add(`${path}.${key} = ${system}|${String(value)}`);
          continue;
        }
        walk(value, `${path}.${key}`);
      }
      return;
    }
    if (node === null) return;
    const text = typeof node === 'string' ? normalizeDate(node.trim()) : String(node);
    if (text !== '') facts.add(`${path} = ${text}`);
  };
  for (const item of list) {
    if (SKIPPED_TYPES.has(item.type)) continue;
    if (referencedByProvenance.has(item.resource) && !referencedOutsideProvenance.has(item.resource))
      continue;
    const { resourceType: _type, text: _narrative, ...rest } = item.resource;
    walk(rest, item.type);
  }
  return facts;
}

/** Converts one case with the transformer for its MSH-9, validates it and compares its facts. */
export function runInventoryCase(library: TransformerLibrary, c: InventoryCase): InventoryResult {
  const msg = Hl7Message.parse(readFileSync(c.hl7));
  const theirs = bundleFacts(JSON.parse(readFileSync(c.fhir, 'utf8')));
  const facts = [...theirs].sort();
  const result: InventoryResult = {
    case: c,
    messageType: msg.messageType,
    invalid: [],
    facts,
    matched: [],
    missing: facts,
  };
  try {
    result.transformer = library.forMessageType(msg.messageType, 'fhir').name;
  } catch (err) {
    return { ...result, error: err instanceof Error ? err.message : String(err) };
  }
  let bundle: unknown;
  try {
    bundle = library.get(result.transformer).run(msg);
  } catch (err) {
    // A MappingError's toString names the rule (`OBR-4 → code: map.required: …`), never the value.
    return { ...result, error: String(err) };
  }
  const ours = bundleFacts(bundle);
  return {
    ...result,
    bundle,
    invalid: validateFhir(bundle)
      .filter((i) => i.severity === 'error')
      .map((i) => `${i.location}: ${i.message}`),
    matched: facts.filter((f) => ours.has(f)),
    missing: facts.filter((f) => !ours.has(f)),
  };
}

export interface Agreement {
  cases: number;
  converted: number;
  valid: number;
  facts: number;
  matched: number;
}

/** Sums results, overall or per group; `known` facts (differences the IG decides) are left out. */
export function agreement(
  results: InventoryResult[],
  known: (r: InventoryResult, fact: string) => boolean = () => false,
): Agreement {
  const out: Agreement = { cases: 0, converted: 0, valid: 0, facts: 0, matched: 0 };
  for (const r of results) {
    out.cases++;
    if (!r.error) out.converted++;
    if (!r.error && r.invalid.length === 0) out.valid++;
    const facts = r.facts.filter((f) => !known(r, f));
    out.facts += facts.length;
    out.matched += r.matched.filter((f) => !known(r, f)).length;
  }
  return out;
}

export const percent = (a: Agreement): number => (a.facts === 0 ? 100 : (100 * a.matched) / a.facts);
