import { compileField, compileIdentity, type CompiledField } from './normalise';
import type { EntityConfig } from './schema';
import { hash53Joined, RowCursor, SpillSorter } from './spill';
import type { Difference, FieldDifference, SideRecord, SideRecords } from './types';

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

/** A group of rows with equal keys: its first row and how many there are. */
interface Group {
  key: string;
  hash: number;
  tolerant: string;
  offset: number;
  length: number;
  count: number;
}

const noGroup = (): Group => ({ key: '', hash: 0, tolerant: '', offset: 0, length: 0, count: 0 });

/**
 * Reads the next group of equal keys from sorted rows into `g`; false at the end. Answers at once
 * (no promise) unless the group reaches the end of the cursor's block, so that a million groups
 * do not cost a million awaits.
 */
function nextGroup(c: RowCursor, g: Group): boolean | Promise<boolean> {
  if (c.empty) return fillThenGroup(c, g);
  g.key = c.key;
  g.hash = c.hash;
  g.tolerant = c.tolerant;
  g.offset = c.offset;
  g.length = c.length;
  g.count = 1;
  c.advance();
  while (!c.empty) {
    if (c.key !== g.key) return true;
    g.count++;
    c.advance();
  }
  return finishGroup(c, g);
}

async function fillThenGroup(c: RowCursor, g: Group): Promise<boolean> {
  if (!(await c.fill())) return false;
  return nextGroup(c, g);
}

async function finishGroup(c: RowCursor, g: Group): Promise<boolean> {
  for (;;) {
    if (c.empty && !(await c.fill())) return true;
    if (c.key !== g.key) return true;
    g.count++;
    c.advance();
  }
}

const isPage = (item: SideRecord | readonly SideRecord[]): item is readonly SideRecord[] =>
  Array.isArray(item);

/**
 * Compares one entity's two sides with bounded memory. Each side's records come one by one or a
 * page (an array) at a time. Each record is normalised once into a compact row (identity, a hash
 * of its normalised fields, where the record as JSON sits in the side's record file); each side's
 * rows are sorted in runs of at most `maxInMemory` spilled to temporary files, merged, and the two
 * sorted sides are merge-joined. Per key: `duplicate_in_source`/`duplicate_in_target` when a side
 * holds it more than once (the first record read stands for the others), then
 * `missing_in_target`, `missing_in_source`, or `field_mismatch` (only that pair is normalised again
 * to name the fields). The sides are read one after the other, source first. The temporary
 * files are removed when the comparison ends, fails or is stopped.
 */
export function compareEntity(
  source: SideRecords,
  target: SideRecords,
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
    records: SideRecords,
    sorter: SpillSorter,
    counts: Record<string, number>,
    side: 'source' | 'target',
  ): Promise<void> {
    const exact = fields.filter((f) => !tolerant.includes(f));
    const exactNames = exact.map((f) => f.name);
    const exactValue = exact.map((f) => (side === 'source' ? f.source : f.target));
    const nearNames = tolerant.map((f) => f.name);
    const nearValue = tolerant.map((f) => (side === 'source' ? f.source : f.target));
    const parts: string[] = new Array<string>(exact.length);
    const near: string[] = new Array<string>(tolerant.length);
    const withStatus = entity.status;
    const add = (rec: SideRecord): Promise<void> | undefined => {
      const status = withStatus ? (rec.status ?? '') : '';
      counts[status] = (counts[status] ?? 0) + 1;
      const values = rec.fields;
      for (let i = 0; i < exactValue.length; i++) {
        const v = (exactValue[i] as CompiledField['source'])(values[exactNames[i] as string]);
        parts[i] = v === null ? NO_VALUE : v;
      }
      for (let i = 0; i < nearValue.length; i++) {
        const v = (nearValue[i] as CompiledField['source'])(values[nearNames[i] as string]);
        near[i] = v === null ? NO_VALUE : v;
      }
      return sorter.add(
        identity(String(rec.key ?? '')),
        hash53Joined(parts, SEP),
        near.length === 0 ? '' : near.length === 1 ? (near[0] as string) : near.join(SEP),
        JSON.stringify(rec),
      );
    };
    for await (const item of records) {
      if (isPage(item))
        for (const rec of item) {
          const spilling = add(rec);
          if (spilling) await spilling;
        }
      else {
        const spilling = add(item);
        if (spilling) await spilling;
      }
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
        // One group per side, read again in place as the join moves on.
        const sg = noGroup();
        const tg = noGroup();
        let next = nextGroup(sc, sg);
        let sHas = typeof next === 'boolean' ? next : await next;
        next = nextGroup(tc, tg);
        let tHas = typeof next === 'boolean' ? next : await next;
        while (sHas || tHas) {
          const inSource = sHas && (!tHas || sg.key <= tg.key);
          const inTarget = tHas && (!sHas || tg.key <= sg.key);
          const key = inSource ? sg.key : tg.key;
          const same = inSource && inTarget && sg.hash === tg.hash && nearEqual(sg.tolerant, tg.tolerant);
          // Records are parsed back only to be reported or compared field by field.
          const srec =
            inSource && (sg.count > 1 || !same)
              ? (JSON.parse(sourceSorter.record(sg)) as SideRecord)
              : undefined;
          const trec =
            inTarget && (tg.count > 1 || !same)
              ? (JSON.parse(targetSorter.record(tg)) as SideRecord)
              : undefined;
          if (inSource && sg.count > 1)
            yield { kind: 'duplicate_in_source', key, source: srec, copies: sg.count };
          if (inTarget && tg.count > 1)
            yield { kind: 'duplicate_in_target', key, target: trec, copies: tg.count };
          if (!inTarget) yield { kind: 'missing_in_target', key, source: srec };
          else if (!inSource) yield { kind: 'missing_in_source', key, target: trec };
          else if (same) matched++;
          else {
            const differs = fieldDifferences(fields, srec as SideRecord, trec as SideRecord);
            if (differs.length)
              yield { kind: 'field_mismatch', key, source: srec, target: trec, fields: differs };
            else matched++;
          }
          if (inSource) {
            next = nextGroup(sc, sg);
            sHas = typeof next === 'boolean' ? next : await next;
          }
          if (inTarget) {
            next = nextGroup(tc, tg);
            tHas = typeof next === 'boolean' ? next : await next;
          }
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
