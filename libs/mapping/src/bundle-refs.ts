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

/**
 * A `urn:` or `#id` reference that pointed to nothing in the input: where it was read (never
 * its value).
 */
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
 * What `resolve()` gives for a reference that points to no resource of the input: a value of a
 * type no resource has, so `ofType(Patient)`, `is Patient` and element paths read nothing
 * through it. FhirNode drops it from what a path selects.
 */
export const UNRESOLVED: Readonly<Record<string, unknown>> = Object.freeze({
  resourceType: 'Sinew.UnresolvedReference',
});

/** Whether an expression calls `resolve()`. */
export const callsResolve = (expression: string): boolean => /(^|[.(\s|])resolve\(\s*\)/.test(expression);

/** A Reference of the input and where it is (`Appointment.participant[0].actor`). */
interface Ref {
  obj: Record<string, unknown>;
  text: string;
  where: string;
  /** The resources its resource contains, by `#id`. */
  contained: ReadonlyMap<string, Record<string, unknown>> | undefined;
}

/**
 * What the FhirNodes of one run share: the map's parameters, the index of the input's
 * resources and of its References (built on first use), and the references that pointed to
 * nothing.
 *
 * FHIRPath's `resolve()` (as @medplum/core evaluates it) returns a Reference's `resource` when
 * it has one. While an expression that calls it is evaluated, each Reference of the input is
 * given that member, not enumerable (JSON, spreads and `for…in` never see it), pointing to the
 * resource it names in the input or to {@link UNRESOLVED}; it is removed again afterwards, so
 * the input is left as it came.
 */
export class FhirRun {
  private index: BundleIndex | undefined;
  private refs: Ref[] | undefined;
  private depth = 0;
  /** The References given a `resource` member while an expression runs. */
  private readonly attached: Array<Record<string, unknown>> = [];
  readonly unresolved: UnresolvedReference[] = [];

  constructor(
    /** The whole input (`%rootResource`). */
    readonly input: unknown,
    readonly params: Readonly<Record<string, string | number | boolean>> = {},
  ) {}

  /** The resource `reference` (a Reference's `reference` text) points to in the input, if any. */
  find(reference: string): FoundResource | undefined {
    this.index ??= new BundleIndex(this.input);
    return this.index.find(reference);
  }

  /** Runs `evaluate` with the input's References resolvable by `resolve()`. */
  withReferences<T>(evaluate: () => T): T {
    if (this.depth++ === 0) this.attach();
    try {
      return evaluate();
    } finally {
      if (--this.depth === 0) this.detach();
    }
  }

  private attach(): void {
    const refs = (this.refs ??= collectRefs(this.input));
    for (const r of refs) {
      if (Object.prototype.hasOwnProperty.call(r.obj, 'resource') || !Object.isExtensible(r.obj)) continue;
      Object.defineProperty(r.obj, 'resource', {
        configurable: true,
        enumerable: false,
        get: () => this.target(r),
      });
      this.attached.push(r.obj);
    }
  }

  private detach(): void {
    for (const obj of this.attached.splice(0)) delete obj.resource;
  }

  /** The resource `r` names, or {@link UNRESOLVED} (noted for a urn: or #id reference). */
  private target(r: Ref): Record<string, unknown> {
    const found = r.text.startsWith('#') ? r.contained?.get(r.text.slice(1)) : this.find(r.text)?.resource;
    if (found) return found;
    // A urn: or #id reference can only name a resource of the input: one that names none is
    // noted. A RESTful one (Patient/1, http://…) may name a resource on a server.
    const local = r.text.startsWith('urn:') || r.text.startsWith('#');
    if (local && !this.unresolved.some((u) => u.where === r.where)) this.unresolved.push({ where: r.where });
    return UNRESOLVED as Record<string, unknown>;
  }
}

/** Every Reference (an object with a `reference` text) of the input, with where it is. */
function collectRefs(input: unknown): Ref[] {
  const out: Ref[] = [];
  const seen = new Set<object>();
  const visit = (
    v: unknown,
    where: string,
    contained: ReadonlyMap<string, Record<string, unknown>> | undefined,
  ): void => {
    if (v === null || typeof v !== 'object' || seen.has(v)) return;
    seen.add(v);
    if (Array.isArray(v)) {
      v.forEach((x, i) => visit(x, `${where}[${i}]`, contained));
      return;
    }
    const obj = v as Record<string, unknown>;
    let inner = contained;
    let at = where;
    if (typeof obj.resourceType === 'string') {
      // A resource: paths start at its type; its contained resources are found by `#id`.
      at = obj.resourceType;
      if (Array.isArray(obj.contained)) {
        const byId = new Map<string, Record<string, unknown>>();
        for (const c of obj.contained) if (isObject(c) && typeof c.id === 'string') byId.set(c.id, c);
        inner = byId;
      }
    }
    if (typeof obj.reference === 'string')
      out.push({ obj, text: obj.reference, where: at, contained: inner });
    for (const k of Object.keys(obj)) visit(obj[k], `${at}.${k}`, inner);
  };
  visit(input, '', undefined);
  return out;
}
