/**
 * Following references inside the input of a FHIR-sourced map: `subject.resolve()` reads the
 * resource a Reference points to within the input Bundle. What a FhirNode needs for that (and
 * for the map's parameters) is shared by every node of one run: a {@link FhirRun}.
 */

/** A resource of the input, and where it is (`Bundle.entry[2].resource`), for messages. */
export interface FoundResource {
  resource: Record<string, unknown>;
  where: string;
}

/** A reference that pointed to nothing in the input: where it was read (never its value). */
export interface UnresolvedReference {
  where: string;
}

const RESTFUL_TAIL = /(?:^|\/)([A-Z][A-Za-z]+\/[A-Za-z0-9\-.]{1,64})(?:\/_history\/[A-Za-z0-9\-.]{1,64})?$/;
const RELATIVE = /^[A-Z][A-Za-z]+\/[A-Za-z0-9\-.]{1,64}$/;
const HISTORY = /\/_history\/[A-Za-z0-9\-.]{1,64}$/;

const isObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v);

/**
 * The resources of one input by the ways a reference may name them: an entry's `fullUrl`
 * (`urn:uuid:…`, `urn:oid:…`, `http://server/fhir/Patient/1`), and `Type/id` (from the
 * resource's own type and id, and from a RESTful fullUrl). Built on the first `resolve()`.
 */
export class BundleIndex {
  private readonly byUrl = new Map<string, FoundResource>();
  private readonly byTypeId = new Map<string, FoundResource>();

  constructor(input: unknown) {
    if (!isObject(input)) return;
    if (input.resourceType === 'Bundle' && Array.isArray(input.entry)) {
      input.entry.forEach((entry, i) => {
        if (!isObject(entry) || !isObject(entry.resource)) return;
        const found = { resource: entry.resource, where: `Bundle.entry[${i}].resource` };
        const fullUrl = typeof entry.fullUrl === 'string' ? entry.fullUrl.trim() : '';
        if (fullUrl) {
          if (!this.byUrl.has(fullUrl)) this.byUrl.set(fullUrl, found);
          const tail = RESTFUL_TAIL.exec(fullUrl);
          if (tail && !fullUrl.startsWith('urn:')) this.addTypeId(tail[1] as string, found);
        }
        this.addOwn(found);
      });
    } else if (typeof input.resourceType === 'string') {
      this.addOwn({ resource: input, where: input.resourceType });
    }
  }

  private addOwn(found: FoundResource): void {
    const { resourceType, id } = found.resource;
    if (typeof resourceType === 'string' && typeof id === 'string' && id !== '') {
      this.addTypeId(`${resourceType}/${id}`, found);
    }
  }

  private addTypeId(key: string, found: FoundResource): void {
    if (!this.byTypeId.has(key)) this.byTypeId.set(key, found);
  }

  /**
   * The resource `reference` (a Reference's `reference`, or a canonical/uri string) points to:
   * a fullUrl as written; else, for a relative reference (`Patient/1`, `Patient/1/_history/2`),
   * the resource of that type and id. An absolute URL is only ever matched to a fullUrl.
   */
  find(reference: string): FoundResource | undefined {
    const ref = reference.trim();
    if (ref === '' || ref.startsWith('#')) return undefined;
    const bare = ref.replace(HISTORY, '');
    const exact = this.byUrl.get(ref) ?? this.byUrl.get(bare);
    if (exact) return exact;
    // An absolute URL (or urn) names a fullUrl, nothing else.
    if (/^[a-z][a-z0-9+.-]*:/i.test(ref)) return undefined;
    return RELATIVE.test(bare) ? this.byTypeId.get(bare) : undefined;
  }
}

/**
 * The text a value gives `resolve()`: a Reference's `reference`, or the value itself when it is
 * text (a canonical, a uri); undefined for anything else (a logical reference by identifier).
 */
export function referenceText(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (isObject(value) && typeof value.reference === 'string') return value.reference;
  return undefined;
}

/**
 * An expression cut at its top-level `resolve()` steps: `subject.resolve().name.family` is
 * `['subject', 'name.family']`, a reference followed between each part. `null` when `resolve()`
 * stands inside a function's arguments (`where(subject.resolve() is Patient)`), where it
 * cannot be followed.
 */
export function splitAtResolve(expression: string): string[] | null {
  const parts: string[] = [];
  let depth = 0;
  let quote: string | undefined;
  let start = 0;
  for (let i = 0; i < expression.length; i++) {
    const c = expression[i] as string;
    if (quote !== undefined) {
      if (c === '\\') i++;
      else if (c === quote) quote = undefined;
      continue;
    }
    if (c === "'" || c === '`') quote = c;
    else if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (expression.startsWith('resolve()', i) && (i === 0 || expression[i - 1] === '.')) {
      if (depth > 0) return null;
      parts.push(expression.slice(start, Math.max(start, i - 1)));
      i += 'resolve()'.length - 1;
      start = i + 1;
    }
  }
  if (parts.length === 0) return [expression];
  parts.push(expression.slice(start).replace(/^\./, ''));
  return parts;
}

/** Whether an expression calls `resolve()` at all. */
export const callsResolve = (expression: string): boolean => /(^|\.)resolve\(\)/.test(expression);

/**
 * What the FhirNodes of one run share: the map's parameters, the index of the input's
 * resources (built on first use) and the references that pointed to nothing.
 */
export class FhirRun {
  private index: BundleIndex | undefined;
  readonly unresolved: UnresolvedReference[] = [];

  constructor(
    private readonly input: unknown,
    readonly params: Readonly<Record<string, string | number | boolean>> = {},
  ) {}

  /** The resource `reference` points to in the input; undefined (and noted) when none. */
  resolve(value: unknown, where: string): FoundResource | undefined {
    const text = referenceText(value);
    if (text === undefined) return undefined;
    this.index ??= new BundleIndex(this.input);
    const found = this.index.find(text);
    if (!found && !this.unresolved.some((u) => u.where === where)) this.unresolved.push({ where });
    return found;
  }
}
