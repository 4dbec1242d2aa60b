import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { evalFhirPath } from '@medplum/core';
import { Hl7Message, Hl7ParseError } from '@sinew/hl7v2';
import { isNode, LineCounter, parseDocument } from 'yaml';
import { z } from 'zod';
import { MappingError } from './errors';
import type { TransformerLibrary } from './library';
import { JsonNode } from './source';

/**
 * A transformer test file (`*.test.yaml`, beside the transformer): inputs, and the values the
 * output must hold, addressed by FHIRPath (FHIR output), JSON path (JSON output) or HL7 path
 * (HL7 v2 output); or the error the input must give.
 */
export const transformerTestFile = z.strictObject({
  transformer: z.string(),
  tests: z
    .array(
      z
        .strictObject({
          name: z.string(),
          /** HL7 v2 text (line breaks become CR) or a JSON/FHIR document. */
          input: z.union([z.string(), z.record(z.string(), z.unknown())]).optional(),
          /** A file, relative to the test file. */
          input_file: z.string().optional(),
          /** Path → expected value; a list when the path selects several values. */
          expect: z.record(z.string(), z.unknown()).optional(),
          /** Paths that must select nothing. */
          expect_absent: z.array(z.string()).optional(),
          /** Expected error: its code, and optionally source/target locations. */
          expect_error: z
            .strictObject({ code: z.string(), source: z.string().optional(), target: z.string().optional() })
            .optional(),
        })
        .refine((t) => (t.input === undefined) !== (t.input_file === undefined), {
          message: 'give exactly one of input or input_file',
        })
        .refine(
          (t) => t.expect !== undefined || t.expect_error !== undefined || t.expect_absent !== undefined,
          {
            message: 'give expect, expect_absent or expect_error',
          },
        ),
    )
    .min(1),
});

export interface TransformerTestResult {
  file: string;
  line: number;
  name: string;
  passed: boolean;
  /** Why it failed: each mismatch on its own line. */
  failures: string[];
}

/**
 * The clock of every test run (transformer and channel tests): outputs that carry a time
 * (MSH-7 of built HL7 messages) are the same on every run.
 */
export const TEST_NOW = new Date(Date.UTC(2026, 0, 1));

/** The values `path` selects: an HL7 path (HL7 output), FHIRPath (a FHIR resource), or a JSON path. */
export function selectValues(output: unknown, path: string): unknown[] {
  if (output instanceof Hl7Message) {
    if (path.includes('*')) return output.getAll(path).filter((v) => v !== '');
    const v = output.get(path);
    return v === '' ? [] : [v];
  }
  if (output && typeof output === 'object' && 'resourceType' in output) return evalFhirPath(path, output);
  return new JsonNode(output, '$').select(path).map((n) => n.value());
}

/** The value with object keys in order: an expected object matches whatever order keys were written in. */
const canonical = (v: unknown): unknown =>
  Array.isArray(v)
    ? v.map(canonical)
    : v !== null && typeof v === 'object'
      ? Object.fromEntries(
          Object.keys(v)
            .sort()
            .map((k) => [k, canonical((v as Record<string, unknown>)[k])]),
        )
      : v;

/** Equal as JSON values, whatever the order of object keys. */
export const sameValue = (a: unknown, b: unknown): boolean =>
  JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));
const same = sameValue;

/** Runs one test file against a compiled library. Never throws for a failing test. */
export function runTransformerTestFile(file: string, library: TransformerLibrary): TransformerTestResult[] {
  const text = readFileSync(file, 'utf8');
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc });
  const shown = relative(process.cwd(), file) || file;
  const lineOf = (path: Array<string | number>) => {
    const node = doc.getIn(path, true);
    return isNode(node) && node.range ? lc.linePos(node.range[0]).line : 1;
  };
  const parsed = transformerTestFile.safeParse(doc.toJS());
  if (doc.errors.length > 0 || !parsed.success) {
    const issue = parsed.success ? undefined : parsed.error.issues[0];
    const path = (issue?.path ?? []).filter((p): p is string | number => typeof p !== 'symbol');
    return [
      {
        file: shown,
        line: lineOf(path),
        name: '(test file)',
        passed: false,
        failures: [doc.errors[0]?.message ?? `${path.join('.')}: ${issue?.message ?? 'invalid'}`],
      },
    ];
  }
  const spec = parsed.data;
  let transformer: ReturnType<TransformerLibrary['get']>;
  try {
    transformer = library.get(spec.transformer);
  } catch (err) {
    return [
      {
        file: shown,
        line: lineOf(['transformer']),
        name: '(test file)',
        passed: false,
        failures: [String(err)],
      },
    ];
  }

  return spec.tests.map((t, i) => {
    const failures: string[] = [];
    const line = lineOf(['tests', i]);
    let input: unknown;
    try {
      const raw = t.input_file !== undefined ? readFileSync(resolve(dirname(file), t.input_file)) : t.input;
      if (transformer.spec.input === 'hl7v2') {
        const textInput = Buffer.isBuffer(raw) ? raw : String(raw).replace(/\r?\n/g, '\r');
        input = Hl7Message.parse(textInput);
      } else input = Buffer.isBuffer(raw) ? JSON.parse(raw.toString('utf8')) : raw;
    } catch (err) {
      return { file: shown, line, name: t.name, passed: false, failures: [`input: ${String(err)}`] };
    }

    let output: unknown;
    try {
      output = transformer.run(input, { now: TEST_NOW });
    } catch (err) {
      if (!(err instanceof MappingError || err instanceof Hl7ParseError)) throw err;
      if (!t.expect_error)
        return {
          file: shown,
          line,
          name: t.name,
          passed: false,
          failures: [`unexpected error: ${err.toString()}`],
        };
      if (err.code !== t.expect_error.code)
        failures.push(`error code ${err.code}, expected ${t.expect_error.code}`);
      const loc = err instanceof MappingError ? err.location : {};
      if (t.expect_error.source && loc.source !== t.expect_error.source) {
        failures.push(`error source ${loc.source ?? '(none)'}, expected ${t.expect_error.source}`);
      }
      if (t.expect_error.target && loc.target !== t.expect_error.target) {
        failures.push(`error target ${loc.target ?? '(none)'}, expected ${t.expect_error.target}`);
      }
      return { file: shown, line, name: t.name, passed: failures.length === 0, failures };
    }
    if (t.expect_error) failures.push(`expected error ${t.expect_error.code}, but the transformer succeeded`);
    for (const [path, want] of Object.entries(t.expect ?? {})) {
      let got: unknown[];
      try {
        got = selectValues(output, path);
      } catch (err) {
        failures.push(`${path}: ${String(err)}`);
        continue;
      }
      const wanted = Array.isArray(want) ? want : [want];
      if (!same(got, wanted))
        failures.push(`${path}: got ${JSON.stringify(got)}, expected ${JSON.stringify(wanted)}`);
    }
    for (const path of t.expect_absent ?? []) {
      const got = selectValues(output, path);
      if (got.length > 0) failures.push(`${path}: expected nothing, got ${JSON.stringify(got)}`);
    }
    return { file: shown, line, name: t.name, passed: failures.length === 0, failures };
  });
}

/** Every `*.test.yaml` under `dir`. */
export function findTransformerTests(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...findTransformerTests(p));
    else if (/\.test\.ya?ml$/.test(name)) out.push(p);
  }
  return out;
}
