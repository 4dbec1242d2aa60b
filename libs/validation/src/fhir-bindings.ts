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

/**
 * Where a value is: built only when an issue needs the text (most values need none).
 * `index` is the position in an array, or -1.
 */
class Where {
  private text: string | undefined;
  constructor(
    private readonly parent: Where | string,
    private readonly prop: string,
    private readonly index: number,
  ) {}

  toString(): string {
    if (this.text === undefined) {
      const up = typeof this.parent === 'string' ? this.parent : this.parent.toString();
      this.text = this.index < 0 ? `${up}.${this.prop}` : `${up}.${this.prop}[${this.index}]`;
    }
    return this.text;
  }
}

/** One property an element definition covers (`valueQuantity` for `value[x]`), with its type. */
interface Prop {
  prop: string;
  type: string;
  element: InternalSchemaElement;
  /** A code, Coding or CodeableConcept under a required binding to a value set. */
  bound: boolean;
  isReference: boolean;
  isPrimitive: boolean;
}

/**
 * The properties a type's elements cover, in the order of its elements (then of their types),
 * without `extension` and `modifierExtension`; worked out once per type.
 */
const plans = new WeakMap<object, Prop[]>();

function planOf(schema: { elements: Record<string, InternalSchemaElement> }): Prop[] {
  let plan = plans.get(schema);
  if (plan) return plan;
  plan = [];
  for (const [key, element] of Object.entries(schema.elements)) {
    if (key === 'extension' || key === 'modifierExtension') continue;
    const binding = element.binding;
    const add = (prop: string, type: string) =>
      (plan as Prop[]).push({
        prop,
        type,
        element,
        bound: binding?.strength === 'required' && !!binding.valueSet && CODED.has(type),
        isReference: type === 'Reference',
        isPrimitive: isPrimitiveType(type),
      });
    if (key.endsWith('[x]')) {
      const base = key.slice(0, -3);
      for (const t of element.type) add(base + t.code.charAt(0).toUpperCase() + t.code.slice(1), t.code);
    } else add(key, element.type[0]?.code ?? '');
  }
  plans.set(schema, plan);
  return plan;
}

function bindingIssue(path: string, valueSet: string, what: string): ValidationIssue {
  return {
    severity: 'error',
    code: ValidationCode.FhirBinding,
    location: path,
    message: `${path}: ${what} is not in the value set ${canonical(valueSet)} (required binding)`,
  };
}

/** What of `value` (of `type`) is outside the bound value set, or undefined when all is well. */
function bindingProblem(value: unknown, type: string, url: string): string | undefined {
  const expansion = expandValueSet(url);
  if (!expansion) return undefined;
  if (type === 'code' || type === 'string' || type === 'uri') {
    return typeof value === 'string' && !inExpansion(expansion, value) ? 'the code' : undefined;
  }
  if (!isObject(value)) return undefined;
  if (type === 'Coding') {
    if (typeof value.code !== 'string') return undefined;
    const system = typeof value.system === 'string' ? value.system : undefined;
    return inExpansion(expansion, value.code, system) ? undefined : 'the coding';
  }
  // CodeableConcept: codings of the value set's systems must include one of its codes.
  const codings = (Array.isArray(value.coding) ? value.coding : []).filter(isObject);
  const relevant = codings.filter((c) => typeof c.system === 'string' && expansion.codes.has(c.system));
  if (relevant.length === 0) return undefined;
  const ok = codings.some(
    (c) =>
      typeof c.code === 'string' &&
      inExpansion(expansion, c.code, typeof c.system === 'string' ? c.system : undefined),
  );
  return ok ? undefined : 'no coding';
}

function checkReference(
  value: unknown,
  element: InternalSchemaElement,
  where: Where,
  targets: BundleTargets,
  issues: ValidationIssue[],
): void {
  if (!isObject(value) || typeof value.reference !== 'string') return;
  const resolved = targets.get(value.reference);
  if (resolved === undefined) return;
  const allowed = element.type
    .find((t) => t.code === 'Reference')
    ?.targetProfile?.map((p) => p.slice(p.lastIndexOf('/') + 1));
  if (!allowed || allowed.length === 0 || allowed.includes('Resource') || allowed.includes(resolved)) return;
  const path = where.toString();
  issues.push({
    severity: 'error',
    code: ValidationCode.FhirReference,
    location: `${path}.reference`,
    message: `${path}.reference points at an entry of type ${resolved}; allowed: ${allowed.join(', ')}`,
  });
}

function visit(
  value: unknown,
  p: Prop,
  where: Where,
  targets: BundleTargets,
  issues: ValidationIssue[],
): void {
  if (p.bound) {
    const url = p.element.binding?.valueSet as string;
    const what = bindingProblem(value, p.type, url);
    if (what !== undefined) issues.push(bindingIssue(where.toString(), url, what));
  }
  if (p.isReference) checkReference(value, p.element, where, targets, issues);
  if (!isObject(value) || p.isPrimitive) return;
  const inner = p.type === 'Resource' && typeof value.resourceType === 'string' ? value.resourceType : p.type;
  walk(value, inner, where, targets, issues);
}

function walk(
  value: Json,
  typeName: string,
  path: Where | string,
  targets: BundleTargets,
  issues: ValidationIssue[],
): void {
  const schema = tryGetDataType(typeName);
  if (!schema) return;
  for (const p of planOf(schema)) {
    const v = value[p.prop];
    if (v === undefined) continue;
    // Nothing to check in a primitive value without a binding or reference check.
    if (!p.bound && !p.isReference && p.isPrimitive) continue;
    if (!Array.isArray(v)) visit(v, p, new Where(path, p.prop, -1), targets, issues);
    else {
      for (let i = 0; i < v.length; i++) {
        if (i in v) visit(v[i], p, new Where(path, p.prop, i), targets, issues);
      }
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
