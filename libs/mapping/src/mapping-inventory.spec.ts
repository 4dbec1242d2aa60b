import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { BUILT_IN_TRANSFORMERS, TransformerLibrary } from '@sinew/mapping';
import {
  agreement,
  bundleFacts,
  inventoryCases,
  percent,
  runInventoryCase,
  type InventoryResult,
} from '@sinew/test-support/mapping-inventory';

/**
 * The V2-to-FHIR IG's mapping-inventory cases (CDC ReportStream's): every case converts with
 * the built-in map for its message type, to valid R4, and the values at FHIR paths agree with
 * ReportStream's Bundle at least as well as the floor below. Where the IG and ReportStream
 * differ, the IG wins: those facts are listed in mapping-inventory.known-differences.yaml with
 * the IG row that decides them, and left out of the figure. See docs/fhir-fidelity.md.
 */
const FLOOR_PERCENT = 66;

interface NotConverting {
  case: string;
  reason: string;
}

interface KnownDifference {
  case: string;
  fact: string;
  ig: string;
  reason: string;
}

const LISTS = parse(readFileSync(join(__dirname, 'mapping-inventory.known-differences.yaml'), 'utf8')) as {
  not_converting: NotConverting[] | null;
  differences: KnownDifference[] | null;
};
const KNOWN = LISTS.differences ?? [];
const NOT_CONVERTING = new Map((LISTS.not_converting ?? []).map((n) => [n.case, n.reason]));

const isKnown = (r: InventoryResult, fact: string): boolean =>
  KNOWN.some((k) => k.case === r.case.name && k.fact === fact);

describe('V2-to-FHIR IG mapping inventory (ReportStream cases)', () => {
  const library = TransformerLibrary.load([BUILT_IN_TRANSFORMERS]);
  const results = inventoryCases().map((c) => runInventoryCase(library, c));

  afterAll(() => {
    // SINEW_INVENTORY_REPORT=<file> writes the per-case and per-group figures (docs/fhir-fidelity.md).
    const out = process.env.SINEW_INVENTORY_REPORT;
    if (!out) return;
    const groups = [...new Set(results.map((r) => r.case.group))].sort();
    const line = (name: string, rs: InventoryResult[]): string => {
      const a = agreement(rs, isKnown);
      return `| ${name} | ${a.cases} | ${a.converted} | ${a.valid} | ${a.matched}/${a.facts} | ${percent(a).toFixed(1)} % |`;
    };
    const text = [
      '| group | cases | convert | valid R4 | facts agreeing | agreement |',
      '| --- | --: | --: | --: | --: | --: |',
      ...groups.map((g) =>
        line(
          g,
          results.filter((r) => r.case.group === g),
        ),
      ),
      line('**all**', results),
      '',
      ...results.flatMap((r) => [
        `## ${r.case.name} ${r.error ? `ERROR ${r.error}` : ''} ${r.invalid.join('; ')}`,
        `${r.matched.length}/${r.facts.length}`,
        ...r.missing.map((f) => {
          // What Sinew's Bundle holds at the same path, to tell a different value from a missing one.
          const path = f.split(/ = | -> /)[0] ?? f;
          const ours = r.bundle ? [...bundleFacts(r.bundle)].filter((o) => o.startsWith(`${path} `)) : [];
          return `- ${isKnown(r, f) ? '(known) ' : ''}${f}${ours.length ? `  [Sinew: ${ours.join('; ')}]` : ''}`;
        }),
      ]),
    ].join('\n');
    writeFileSync(out, text);
  });

  it('finds the cases', () => expect(results.length).toBeGreaterThan(100));

  const converting = results.filter((r) => !NOT_CONVERTING.has(r.case.name));
  it.each(converting.map((r) => [r.case.name, r] as const))('%s converts to valid R4', (_name, r) => {
    expect(r.error).toBeUndefined();
    expect(r.invalid).toEqual([]);
  });

  it('lists as not converting only cases that still fail (remove an entry once its case converts)', () => {
    const converting = results
      .filter((r) => NOT_CONVERTING.has(r.case.name))
      .filter((r) => r.error === undefined && r.invalid.length === 0)
      .map((r) => r.case.name);
    expect(converting).toEqual([]);
  });

  it('lists as not converting only cases that exist', () => {
    const names = new Set(results.map((r) => r.case.name));
    expect([...NOT_CONVERTING.keys()].filter((n) => !names.has(n))).toEqual([]);
  });

  it('lists only differences that are still there, each with its IG row', () => {
    const stale = KNOWN.filter((k) => {
      const r = results.find((x) => x.case.name === k.case);
      return !r || !r.missing.includes(k.fact) || !k.ig;
    });
    expect(stale).toEqual([]);
  });

  it(`agrees with ReportStream on at least ${FLOOR_PERCENT} % of the values`, () => {
    expect(percent(agreement(results, isKnown))).toBeGreaterThanOrEqual(FLOOR_PERCENT);
  });
});
