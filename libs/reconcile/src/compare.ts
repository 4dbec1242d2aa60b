import { compileField, compileIdentity, type CompiledField, type Normalised } from './normalise';
import type { EntityConfig } from './schema';
import { hash53Joined, RowCursor, SpillSorter, type SpillRow } from './spill';
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

/** The next group of equal keys from sorted rows: its first row and how many there are. */
async function nextGroup(c: RowCursor): Promise<Group | undefined> {
  if (c.empty && !(await c.fill())) return undefined;
  const first = c.row;
  let count = 1;
  c.advance();
  for (;;) {
    if (c.empty && !(await c.fill())) break;
    if (c.row.key !== first.key) break;
    count++;
    c.advance();
  }
  return { key: first.key, first, count };
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
  // Fields with a tolerance stay out of the hash: values within it must still compare equal.
  const tolerant = fields.filter((_f, i) => (entity.fields[i]?.tolerance ?? 0) > 0);
  const nearEqual = (a: string, b: string): boolean => {
    if (a === b) return true;
    const xs = a.split(SEP);
    const ys = b.split(SEP);
    return tolerant.every((f, i) => {
      const x = xs[i] as string;
      const y = ys[i] as string;
      return f.equals(x === NO_VALUE ? null : x, y === NO_VALUE ? null : y);
    });
  };

  async function read(
    records: AsyncIterable<SideRecord>,
    sorter: SpillSorter,
    counts: Record<string, number>,
    side: 'source' | 'target',
  ): Promise<void> {
    const exact = fields.filter((f) => !tolerant.includes(f));
    const parts: string[] = new Array<string>(exact.length);
    const near: string[] = new Array<string>(tolerant.length);
    const value = (f: CompiledField, rec: SideRecord): Normalised =>
      side === 'source' ? f.source(rec.fields[f.name]) : f.target(rec.fields[f.name]);
    for await (const rec of records) {
      const status = entity.status ? (rec.status ?? '') : '';
      counts[status] = (counts[status] ?? 0) + 1;
      for (let i = 0; i < exact.length; i++) {
        const v = value(exact[i] as CompiledField, rec);
        parts[i] = v === null ? NO_VALUE : v;
      }
      for (let i = 0; i < tolerant.length; i++) {
        const v = value(tolerant[i] as CompiledField, rec);
        near[i] = v === null ? NO_VALUE : v;
      }
      const spilling = sorter.add(
        identity(String(rec.key ?? '')),
        hash53Joined(parts, SEP),
        tolerant.length ? near.join(SEP) : '',
        JSON.stringify(rec),
      );
      if (spilling) await spilling;
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
      const sc = new RowCursor(sourceSorter.sorted());
      const tc = new RowCursor(targetSorter.sorted());
      try {
        let sv = await nextGroup(sc);
        let tv = await nextGroup(tc);
        while (sv || tv) {
          const sg1 = sv && (!tv || sv.key <= tv.key) ? sv : undefined;
          const tg1 = tv && (!sv || tv.key <= sv.key) ? tv : undefined;
          const key = (sg1 ?? (tg1 as Group)).key;
          // Records are parsed back only to be reported or compared field by field.
          const sp = sg1?.first;
          const tp = tg1?.first;
          const same =
            sp !== undefined &&
            tp !== undefined &&
            sp.hash === tp.hash &&
            nearEqual(sp.tolerant, tp.tolerant);
          const needed = (g: Group | undefined): g is Group => g !== undefined && (g.count > 1 || !same);
          const srec = needed(sg1)
            ? (JSON.parse(sourceSorter.record(sp as SpillRow)) as SideRecord)
            : undefined;
          const trec = needed(tg1)
            ? (JSON.parse(targetSorter.record(tp as SpillRow)) as SideRecord)
            : undefined;
          if (sg1 && sg1.count > 1)
            yield { kind: 'duplicate_in_source', key, source: srec, copies: sg1.count };
          if (tg1 && tg1.count > 1)
            yield { kind: 'duplicate_in_target', key, target: trec, copies: tg1.count };
          if (!tg1) yield { kind: 'missing_in_target', key, source: srec };
          else if (!sg1) yield { kind: 'missing_in_source', key, target: trec };
          else if (same) matched++;
          else {
            const differs = fieldDifferences(fields, srec as SideRecord, trec as SideRecord);
            if (differs.length)
              yield { kind: 'field_mismatch', key, source: srec, target: trec, fields: differs };
            else matched++;
          }
          if (sg1) sv = await nextGroup(sc);
          if (tg1) tv = await nextGroup(tc);
        }
      } finally {
        await Promise.all([sc.close(), tc.close()]);
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
