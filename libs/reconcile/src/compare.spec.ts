import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { compareEntity, compileFields, fieldDifferences } from './compare';
import { hash53, hash53Joined, orderByKey } from './spill';
import { compileIdentity } from './normalise';
import type { EntityConfig } from './schema';
import type { Difference, SideRecord } from './types';

const entity = (over: Partial<EntityConfig> = {}): EntityConfig => ({
  name: 'patients',
  identity: 'mrn',
  identityNormalise: ['trim', 'upper'],
  status: false,
  fields: [
    {
      name: 'family',
      type: 'string',
      normalise: ['trim', 'upper'],
      sourceFormat: 'auto',
      targetFormat: 'auto',
      timezone: 'UTC',
    },
    {
      name: 'amount',
      type: 'number',
      normalise: ['trim'],
      sourceFormat: 'auto',
      targetFormat: 'auto',
      timezone: 'UTC',
      tolerance: 0.01,
    },
  ],
  source: { system: 'pms', type: 'csv', settings: {} },
  target: { system: 'ehr', type: 'fhir', settings: {} },
  alerts: {},
  critical: [],
  ...over,
});

async function* stream(records: readonly SideRecord[]): AsyncGenerator<SideRecord> {
  for (const r of records) yield r;
}

async function run(source: SideRecord[], target: SideRecord[], e: EntityConfig, opts = {}) {
  const c = compareEntity(stream(source), stream(target), e, opts);
  const out: Difference[] = [];
  for await (const d of c.differences) out.push(d);
  return { differences: out, result: await c.result };
}

/** The same comparison done the obvious way, everything in memory. */
function naive(source: SideRecord[], target: SideRecord[], e: EntityConfig) {
  const id = compileIdentity(e.identityNormalise);
  const fields = compileFields(e);
  const group = (rs: SideRecord[]) => {
    const m = new Map<string, SideRecord[]>();
    for (const r of rs) {
      const k = id(r.key);
      m.set(k, [...(m.get(k) ?? []), r]);
    }
    return m;
  };
  const s = group(source);
  const t = group(target);
  const keys = [...new Set([...s.keys(), ...t.keys()])].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const out: Difference[] = [];
  let matched = 0;
  for (const key of keys) {
    const ss = s.get(key) ?? [];
    const ts = t.get(key) ?? [];
    if (ss.length > 1) out.push({ kind: 'duplicate_in_source', key, source: ss[0], copies: ss.length });
    if (ts.length > 1) out.push({ kind: 'duplicate_in_target', key, target: ts[0], copies: ts.length });
    const [a] = ss;
    const [b] = ts;
    if (a && !b) out.push({ kind: 'missing_in_target', key, source: a });
    else if (b && !a) out.push({ kind: 'missing_in_source', key, target: b });
    else if (a && b) {
      const f = fieldDifferences(fields, a, b);
      if (f.length) out.push({ kind: 'field_mismatch', key, source: a, target: b, fields: f });
      else matched++;
    }
  }
  const counts = (rs: SideRecord[]) => {
    const c: Record<string, number> = {};
    for (const r of rs) {
      const k = e.status ? (r.status ?? '') : '';
      c[k] = (c[k] ?? 0) + 1;
    }
    return c;
  };
  return {
    differences: out,
    result: { matched, sourceCounts: counts(source), targetCounts: counts(target) },
  };
}

const rec = (
  key: string,
  family: string | null,
  amount: number | string | null,
  status?: string,
): SideRecord => ({
  key,
  fields: { family, amount },
  ...(status !== undefined ? { status } : {}),
});

describe('compareEntity', () => {
  it('finds missing records on each side, field mismatches, duplicates, and counts', async () => {
    const { differences, result } = await run(
      [
        rec('a1', 'Smith', 10),
        rec(' A2 ', 'Jones', 5),
        rec('a3', 'Brown', 7),
        rec('a4', 'Lee', 1),
        rec('a4', 'Lee', 1),
      ],
      [rec('A1', 'SMITH ', '10.01'), rec('a2', 'Jonas', 5), rec('a5', 'Kim', 3)],
      entity(),
    );
    expect(differences.map((d) => [d.kind, d.key, d.copies ?? null])).toEqual([
      ['field_mismatch', 'A2', null],
      ['missing_in_target', 'A3', null],
      ['duplicate_in_source', 'A4', 2],
      ['missing_in_target', 'A4', null],
      ['missing_in_source', 'A5', null],
    ]);
    expect(differences[0]?.fields).toEqual([
      {
        field: 'family',
        source: 'Jones',
        target: 'Jonas',
        sourceNormalised: 'JONES',
        targetNormalised: 'JONAS',
      },
    ]);
    expect(differences[1]?.source).toEqual(rec('a3', 'Brown', 7));
    expect(result).toEqual({ matched: 1, sourceCounts: { '': 5 }, targetCounts: { '': 3 } });
  });

  it('counts per status when the entity has one', async () => {
    const { result } = await run(
      [rec('1', 'a', 1, 'booked'), rec('2', 'b', 1, 'booked'), rec('3', 'c', 1, 'cancelled')],
      [rec('1', 'a', 1, 'booked'), rec('2', 'b', 1, 'cancelled')],
      entity({ status: true }),
    );
    expect(result).toEqual({
      matched: 2,
      sourceCounts: { booked: 2, cancelled: 1 },
      targetCounts: { booked: 1, cancelled: 1 },
    });
  });

  it('spills sorted runs to disk and removes them, also when a side fails', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sinew-compare-spec-'));
    try {
      const many = Array.from({ length: 50 }, (_, i) => rec(`k${(i * 37) % 50}`, `n${i}`, i));
      const seen: string[] = [];
      const c = compareEntity(stream(many), stream(many.slice(5)), entity(), {
        spillDir: dir,
        maxInMemory: 7,
      });
      let first = true;
      for await (const d of c.differences) {
        if (first) seen.push(...readdirSync(dir));
        first = false;
        expect(d.kind).toBe('missing_in_target');
      }
      expect(seen.length).toBe(2);
      expect(readdirSync(dir)).toEqual([]);
      expect((await c.result).matched).toBe(45);

      async function* failing(): AsyncGenerator<SideRecord> {
        yield* many.slice(0, 20);
        throw new Error('the EHR stopped answering');
      }
      const f = compareEntity(stream(many), failing(), entity(), { spillDir: dir, maxInMemory: 7 });
      await expect(
        (async () => {
          for await (const _ of f.differences) void _;
        })(),
      ).rejects.toThrow('the EHR stopped answering');
      await expect(f.result).rejects.toThrow('the EHR stopped answering');
      expect(readdirSync(dir)).toEqual([]);

      const stopped = compareEntity(stream(many), stream([]), entity(), { spillDir: dir, maxInMemory: 7 });
      for await (const _ of stopped.differences) break;
      await expect(stopped.result).rejects.toThrow('stopped before its end');
      expect(readdirSync(dir)).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('keeps keys with tabs, newlines and backslashes intact through the run files', async () => {
    const odd = ['a\tb', 'c\nd', 'e\\f', 'g\\tn', 'ü'].map((k) => rec(k, 'x', 1));
    const { differences } = await run(odd, [], entity({ identityNormalise: [] }), { maxInMemory: 2 });
    expect(differences.map((d) => d.key).sort()).toEqual(['a\tb', 'c\nd', 'e\\f', 'g\\tn', 'ü'].sort());
  });

  it('finds what an in-memory comparison finds, whatever the records and the spill size', async () => {
    const key = fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f', 'g', ' a', 'B', 'h\t', 'é');
    const family = fc.option(fc.constantFrom('Smith', 'SMITH', ' smith', 'Jones', ''), { nil: null });
    const amount = fc.option(fc.oneof(fc.constantFrom(10, 10.005, 10.02, '10', ' 10.01', 'ten')), {
      nil: null,
    });
    const record = fc
      .record({ key, family, amount, status: fc.constantFrom('x', 'y') })
      .map((r) => rec(r.key, r.family, r.amount, r.status));
    await fc.assert(
      fc.asyncProperty(
        fc.array(record, { maxLength: 30 }),
        fc.array(record, { maxLength: 30 }),
        fc.integer({ min: 1, max: 8 }),
        fc.boolean(),
        async (source, target, maxInMemory, status) => {
          const e = entity({ status });
          const got = await run(source, target, e, { maxInMemory });
          const want = naive(source, target, e);
          expect(got.differences).toEqual(want.differences);
          expect(got.result).toEqual(want.result);
        },
      ),
      { numRuns: 120 },
    );
  }, 60_000);
});

describe('hash53Joined', () => {
  it('hashes as hash53 of the joined texts, without joining them', () => {
    fc.assert(
      fc.property(fc.array(fc.string()), fc.string({ minLength: 1, maxLength: 2 }), (texts, sep) => {
        expect(hash53Joined(texts, sep)).toBe(hash53(texts.join(sep)));
      }),
    );
  });
});

describe('orderByKey', () => {
  const byComparison = (keys: string[]) =>
    keys
      .map((_k, i) => i)
      .sort((a, b) => {
        const x = keys[a] as string;
        const y = keys[b] as string;
        return x < y ? -1 : x > y ? 1 : a - b;
      });

  it('orders as comparing the keys does, equal keys in the order they came', () => {
    const narrow = fc.string({ unit: fc.constantFrom('a', 'b', 'B', '0', ' ', 'é', '\t'), maxLength: 6 });
    const wide = fc.string({ unit: 'binary', maxLength: 4 });
    fc.assert(
      fc.property(fc.array(fc.oneof(narrow, narrow, wide), { maxLength: 400 }), (keys) => {
        expect([...orderByKey(keys)]).toEqual(byComparison(keys));
      }),
      { numRuns: 300 },
    );
    const mrns = Array.from({ length: 5000 }, (_, i) => `MRN${String((i * 7919) % 3000).padStart(8, '0')}`);
    expect([...orderByKey(mrns)]).toEqual(byComparison(mrns));
  });
});
