import { compileField, compileIdentity, type CompiledField, type Normalised } from './normalise';
import type { EntityConfig } from './schema';
import { hash53, SpillSorter, type SpillRow } from './spill';
import type { Difference, FieldDifference, SideRecord } from './types';

export interface CompareOptions {
  /** Where run files go when a side does not fit in memory (default: the system's temporary folder). */
  spillDir?: string;
  /** Rows of one side held in memory before a sorted run is written to disk (default 200,000). */
  maxInMemory?: number;
}

export interface CompareResult {
  /** Keys present on both sides whose (first) records have equal fields. */
  matched: number;
  /** Records read per status (`''` when the entity has no status), duplicates included. */
  sourceCounts: Record<string, number>;
  targetCounts: Record<string, number>;
}

export interface EntityComparison {
  /**
   * The differences, ascending by key; for each key, duplicates first, then the missing record
   * or the field mismatch. Iterate it to the end: the comparison runs as it is read.
   */
  differences: AsyncIterable<Difference>;
  /** Settles once `differences` has been read to the end (rejects if reading stopped early or failed). */
  result: Promise<CompareResult>;
}

const NO_VALUE = '\u0000';
const SEP = '\u0001';

/** The compared fields, compiled once per entity. */
export function compileFields(entity: EntityConfig): CompiledField[] {
  return entity.fields.map(compileField);
}

/** The field differences between two records (empty: equal as the fields compare them). */
export function fieldDifferences(
  fields: readonly CompiledField[],
  source: SideRecord,
  target: SideRecord,
): FieldDifference[] {
  const out: FieldDifference[] = [];
  for (const f of fields) {
    const s = source.fields[f.name];
    const t = target.fields[f.name];
    const sn = f.source(s);
    const tn = f.target(t);
    if (f.equals(sn, tn)) continue;
    const notes = [f.note('source', s), f.note('target', t)].filter((n): n is string => n !== undefined);
    out.push({
      field: f.name,
      source: s ?? null,
      target: t ?? null,
      sourceNormalised: sn,
      targetNormalised: tn,
      ...(notes.length ? { note: notes.join('; ') } : {}),
    });
  }
  return out;
}

interface Group {
  key: string;
  first: SpillRow;
  count: number;
}

/** Rows sorted by key, as groups of equal keys: the first row and how many there are. */
async function* groups(rows: AsyncGenerator<SpillRow>): AsyncGenerator<Group> {
  let current: Group | undefined;
  try {
    for await (const row of rows) {
      if (current && current.key === row.key) current.count++;
      else {
        if (current) yield current;
        current = { key: row.key, first: row, count: 1 };
      }
    }
    if (current) yield current;
  } finally {
    await rows.return(undefined);
  }
}

/**
 * Compares one entity's two sides with bounded memory. Each record is normalised once into a
 * compact row (identity, a hash of its normalised fields, the record as JSON); each side's rows
 * are sorted in runs of at most `maxInMemory` spilled to temporary files, merged, and the two
 * sorted sides are merge-joined. Per key: `duplicate_in_source`/`duplicate_in_target` when a side
 * holds it more than once (the first record read stands for the others), then
 * `missing_in_target`, `missing_in_source`, or `field_mismatch` (only that pair is normalised again
 * to name the fields). The sides are read one after the other, source first. The temporary
 * files are removed when the comparison ends, fails or is stopped.
 */
export function compareEntity(
  source: AsyncIterable<SideRecord>,
  target: AsyncIterable<SideRecord>,
  entity: EntityConfig,
  options: CompareOptions = {},
): EntityComparison {
  let settle!: (r: CompareResult) => void;
  let fail!: (e: unknown) => void;
  const result = new Promise<CompareResult>((res, rej) => {
    settle = res;
    fail = rej;
  });
  // A caller that only reads the differences is not told twice about a failure.
  result.catch(() => undefined);
  const fields = compileFields(entity);
  const identity = compileIdentity(entity.identityNormalise);

  async function read(
    records: AsyncIterable<SideRecord>,
    sorter: SpillSorter,
    counts: Record<string, number>,
    side: 'source' | 'target',
  ): Promise<void> {
    const parts: string[] = new Array<string>(fields.length);
    for await (const rec of records) {
      const status = entity.status ? (rec.status ?? '') : '';
      counts[status] = (counts[status] ?? 0) + 1;
      for (let i = 0; i < fields.length; i++) {
        const f = fields[i] as CompiledField;
        const v: Normalised = side === 'source' ? f.source(rec.fields[f.name]) : f.target(rec.fields[f.name]);
        parts[i] = v === null ? NO_VALUE : v;
      }
      await sorter.add({
        key: identity(String(rec.key ?? '')),
        hash: hash53(parts.join(SEP)),
        raw: JSON.stringify(rec),
      });
    }
  }

  async function* run(): AsyncGenerator<Difference> {
    const sourceSorter = new SpillSorter({
      dir: options.spillDir,
      maxInMemory: options.maxInMemory,
      name: 'source',
    });
    const targetSorter = new SpillSorter({
      dir: options.spillDir,
      maxInMemory: options.maxInMemory,
      name: 'target',
    });
    const sourceCounts: Record<string, number> = {};
    const targetCounts: Record<string, number> = {};
    let matched = 0;
    let finished = false;
    try {
      await read(source, sourceSorter, sourceCounts, 'source');
      await read(target, targetSorter, targetCounts, 'target');
      const sg = groups(sourceSorter.sorted());
      const tg = groups(targetSorter.sorted());
      try {
        let s = await sg.next();
        let t = await tg.next();
        while (!s.done || !t.done) {
          const sv = s.done ? undefined : s.value;
          const tv = t.done ? undefined : t.value;
          const takeSource = sv !== undefined && (tv === undefined || sv.key <= tv.key);
          const takeTarget = tv !== undefined && (sv === undefined || tv.key <= sv.key);
          const key = (takeSource ? sv : tv)!.key;
          const srec = takeSource ? (JSON.parse(sv.first.raw) as SideRecord) : undefined;
          const trec = takeTarget ? (JSON.parse((tv as Group).first.raw) as SideRecord) : undefined;
          if (takeSource && sv.count > 1)
            yield { kind: 'duplicate_in_source', key, source: srec, copies: sv.count };
          if (takeTarget && tv.count > 1)
            yield { kind: 'duplicate_in_target', key, target: trec, copies: tv.count };
          if (srec && !trec) yield { kind: 'missing_in_target', key, source: srec };
          else if (trec && !srec) yield { kind: 'missing_in_source', key, target: trec };
          else if (srec && trec) {
            const differs = sv!.first.hash !== tv!.first.hash ? fieldDifferences(fields, srec, trec) : [];
            if (differs.length)
              yield { kind: 'field_mismatch', key, source: srec, target: trec, fields: differs };
            else matched++;
          }
          if (takeSource) s = await sg.next();
          if (takeTarget) t = await tg.next();
        }
      } finally {
        await Promise.all([sg.return(undefined), tg.return(undefined)]);
      }
      finished = true;
      settle({ matched, sourceCounts, targetCounts });
    } catch (err) {
      fail(err);
      throw err;
    } finally {
      await Promise.all([sourceSorter.cleanup(), targetSorter.cleanup()]);
      if (!finished) fail(new Error('the comparison was stopped before its end'));
    }
  }

  return { differences: run(), result };
}
