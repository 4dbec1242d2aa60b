import { getAllDataTypes, isPrimitiveType, tryGetDataType, type InternalSchemaElement } from '@medplum/core';
import { loadFhirStructureDefinitions } from './fhir-definitions';
import { canonical, expandValueSet, inExpansion } from './fhir-terminology';
import { ValidationCode, type ValidationIssue } from './issue';

/** Types whose values a required binding constrains and Sinew checks. */
const CODED = new Set(['code', 'string', 'uri', 'Coding', 'CodeableConcept']);

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** What a reference inside a Bundle resolves to: entry resource types by fullUrl. */
export type BundleTargets = ReadonlyMap<string, string>;

/** One element of a resource with its value, for walking. */
interface Visit {
  value: unknown;
  type: string;
  path: string;
  element: InternalSchemaElement;
}

/** The properties of `value` an element definition covers, with their types. */
function visits(value: Json, key: string, element: InternalSchemaElement, path: string): Visit[] {
  const out: Visit[] = [];
  const push = (prop: string, type: string) => {
    const v = value[prop];
    if (v === undefined) return;
    if (Array.isArray(v))
      v.forEach((x, i) => out.push({ value: x, type, path: `${path}.${prop}[${i}]`, element }));
    else out.push({ value: v, type, path: `${path}.${prop}`, element });
  };
  if (key.endsWith('[x]')) {
    const base = key.slice(0, -3);
    for (const t of element.type) push(base + t.code.charAt(0).toUpperCase() + t.code.slice(1), t.code);
  } else {
    push(key, element.type[0]?.code ?? '');
  }
  return out;
}

function bindingIssue(path: string, valueSet: string, what: string): ValidationIssue {
  return {
    severity: 'error',
    code: ValidationCode.FhirBinding,
    location: path,
    message: `${path}: ${what} is not in the value set ${canonical(valueSet)} (required binding)`,
  };
}

function checkBinding(v: Visit, issues: ValidationIssue[]): void {
  const url = v.element.binding?.valueSet as string;
  const expansion = expandValueSet(url);
  if (!expansion) return;
  const { value, type, path } = v;
  if (type === 'code' || type === 'string' || type === 'uri') {
    if (typeof value === 'string' && !inExpansion(expansion, value))
      issues.push(bindingIssue(path, url, 'the code'));
    return;
  }
  if (!isObject(value)) return;
  if (type === 'Coding') {
    if (typeof value.code !== 'string') return;
    const system = typeof value.system === 'string' ? value.system : undefined;
    if (!inExpansion(expansion, value.code, system)) issues.push(bindingIssue(path, url, 'the coding'));
    return;
  }
  // CodeableConcept: codings of the value set's systems must include one of its codes.
  const codings = (Array.isArray(value.coding) ? value.coding : []).filter(isObject);
  const relevant = codings.filter((c) => typeof c.system === 'string' && expansion.codes.has(c.system));
  if (relevant.length === 0) return;
  const ok = codings.some(
    (c) =>
      typeof c.code === 'string' &&
      inExpansion(expansion, c.code, typeof c.system === 'string' ? c.system : undefined),
  );
  if (!ok) issues.push(bindingIssue(path, url, 'no coding'));
}

function checkReference(v: Visit, targets: BundleTargets, issues: ValidationIssue[]): void {
  if (!isObject(v.value) || typeof v.value.reference !== 'string') return;
  const ref = v.value.reference;
  const resolved = targets.get(ref);
  if (resolved === undefined) return;
  const allowed = v.element.type
    .find((t) => t.code === 'Reference')
    ?.targetProfile?.map((p) => p.slice(p.lastIndexOf('/') + 1));
  if (!allowed || allowed.length === 0 || allowed.includes('Resource') || allowed.includes(resolved)) return;
  issues.push({
    severity: 'error',
    code: ValidationCode.FhirReference,
    location: `${v.path}.reference`,
    message: `${v.path}.reference points at an entry of type ${resolved}; allowed: ${allowed.join(', ')}`,
  });
}

function walk(
  value: Json,
  typeName: string,
  path: string,
  targets: BundleTargets,
  issues: ValidationIssue[],
): void {
  const schema = tryGetDataType(typeName);
  if (!schema) return;
  for (const [key, element] of Object.entries(schema.elements)) {
    if (key === 'extension' || key === 'modifierExtension') continue;
    for (const v of visits(value, key, element, path)) {
      const binding = element.binding;
      if (binding?.strength === 'required' && binding.valueSet && CODED.has(v.type)) checkBinding(v, issues);
      if (v.type === 'Reference') checkReference(v, targets, issues);
      if (!isObject(v.value) || isPrimitiveType(v.type)) continue;
      const inner =
        v.type === 'Resource' && typeof v.value.resourceType === 'string' ? v.value.resourceType : v.type;
      walk(v.value, inner, v.path, targets, issues);
    }
  }
}

/**
 * Checks a resource's coded elements against the required bindings of the base R4
 * definitions (code, Coding and CodeableConcept values), and, inside a Bundle, that resolved
 * `urn:uuid:` references point at an allowed resource type. Bindings whose value set cannot
 * be expanded from the definitions package are skipped (see {@link requiredBindingCoverage}).
 */
export function checkRequiredBindings(
  resource: Json,
  path: string,
  targets: BundleTargets = new Map(),
): ValidationIssue[] {
  loadFhirStructureDefinitions();
  const issues: ValidationIssue[] = [];
  if (typeof resource.resourceType === 'string') walk(resource, resource.resourceType, path, targets, issues);
  return issues;
}

/** How many required bindings of the base R4 definitions Sinew can check. */
export interface BindingCoverage {
  /** Elements with a required binding to a value set. */
  elements: number;
  /** Of those, elements whose value set Sinew expands and whose type it checks. */
  checked: number;
  /** Distinct value sets bound (required) in the definitions. */
  valueSets: number;
  /** The value sets that cannot be expanded from the definitions package, sorted. */
  skipped: string[];
}

/** Counts the required bindings of the loaded R4 types and resources and which are checked. */
export function requiredBindingCoverage(): BindingCoverage {
  loadFhirStructureDefinitions();
  let elements = 0;
  let checked = 0;
  const urls = new Set<string>();
  const skipped = new Set<string>();
  const seen = new Set<string>();
  for (const schema of Object.values(getAllDataTypes())) {
    for (const element of Object.values(schema.elements)) {
      const b = element.binding;
      if (b?.strength !== 'required' || !b.valueSet || seen.has(element.path)) continue;
      seen.add(element.path);
      elements++;
      const url = canonical(b.valueSet);
      urls.add(url);
      const expandable = expandValueSet(url) !== undefined;
      if (!expandable) skipped.add(url);
      if (expandable && element.type.some((t) => CODED.has(t.code))) checked++;
    }
  }
  return { elements, checked, valueSets: urls.size, skipped: [...skipped].sort() };
}
