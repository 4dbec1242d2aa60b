import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { evalFhirPath } from '@medplum/core';
import { Hl7Message, Hl7ParseError, type Hl7Segment } from '@sinew/hl7v2';
import { isNode, LineCounter, parseDocument } from 'yaml';
import { z } from 'zod';
import { RunIssues, type MappingWarning, type RunEnv } from './compile';
import { MappingError, MappingErrorCode } from './errors';
import type { TransformerLibrary } from './library';
import { readCsvPayload } from './csv';
import { FhirNode, Hl7MessageNode, JsonNode } from './source';
import { readXmlPayload, XmlNode } from './xml';
import { CompositeTarget, ObjectTarget, SegmentTarget } from './target';

/**
 * A transformer test file (`*.test.yaml`, beside the transformer): inputs, and the values the
 * output must hold, addressed by FHIRPath (FHIR output), JSON path (JSON output) or HL7 path
 * (HL7 v2 output); or the error the input must give. It tests a message map (`transformer:`)
 * or one segment or datatype map (`map:`), applied to what each test's `from` selects.
 */
export const transformerTestFile = z
  .strictObject({
    transformer: z.string().optional(),
    /** A segment or datatype map (`PID[Patient]`, `CX[Identifier]`) tested on its own. */
    map: z.string().optional(),
    tests: z
      .array(
        z
          .strictObject({
            name: z.string(),
            /** HL7 v2 text (line breaks become CR) or a JSON/FHIR document. */
            input: z.union([z.string(), z.record(z.string(), z.unknown())]).optional(),
            /** A file, relative to the test file. */
            input_file: z.string().optional(),
            /**
             * Map tests: the path (read from the whole input) of what the map is applied to; a
             * segment map's default is its segment (`PID` for `PID[Patient]`).
             */
            from: z.string().optional(),
            /** Path → expected value; a list when the path selects several values. */
            expect: z.record(z.string(), z.unknown()).optional(),
            /** Paths that must select nothing. */
            expect_absent: z.array(z.string()).optional(),
            /** Expected error: its code, and optionally source/target locations. */
            expect_error: z
              .strictObject({
                code: z.string(),
                source: z.string().optional(),
                target: z.string().optional(),
              })
              .optional(),
            /**
             * The warnings the run must record, in order (code, and optionally source/target).
             * A test without it fails on any warning.
             */
            expect_warnings: z
              .array(
                z.strictObject({
                  code: z.string(),
                  source: z.string().optional(),
                  target: z.string().optional(),
                }),
              )
              .optional(),
            /** Run as a strict channel does: a required element left empty fails despite its default. */
            strict: z.boolean().optional(),
            /** Values of the map's parameters (`params:` of a message map); the rest take their defaults. */
            params: z.record(z.string(), z.unknown()).optional(),
          })
          .refine((t) => (t.input === undefined) !== (t.input_file === undefined), {
            message: 'give exactly one of input or input_file',
          })
          .refine(
            (t) =>
              t.expect !== undefined ||
              t.expect_error !== undefined ||
              t.expect_absent !== undefined ||
              t.expect_warnings !== undefined,
            {
              message: 'give expect, expect_absent, expect_warnings or expect_error',
            },
          ),
      )
      .min(1),
  })
  .refine((f) => (f.transformer === undefined) !== (f.map === undefined), {
    message: 'give exactly one of transformer (a message map) or map (a segment or datatype map)',
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
  let subject: Subject;
  try {
    subject =
      spec.map !== undefined
        ? mapSubject(library, spec.map)
        : transformerSubject(library, spec.transformer ?? '');
  } catch (err) {
    return [
      {
        file: shown,
        line: lineOf([spec.map !== undefined ? 'map' : 'transformer']),
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
      if (subject.input === 'hl7v2') {
        const textInput = Buffer.isBuffer(raw) ? raw : String(raw).replace(/\r?\n/g, '\r');
        input = Hl7Message.parse(textInput);
      } else if (subject.input === 'csv') input = readCsvPayload(Buffer.isBuffer(raw) ? raw : String(raw));
      else if (subject.input === 'xml') input = readXmlPayload(Buffer.isBuffer(raw) ? raw : String(raw));
      else input = Buffer.isBuffer(raw) ? JSON.parse(raw.toString('utf8')) : raw;
    } catch (err) {
      return { file: shown, line, name: t.name, passed: false, failures: [`input: ${String(err)}`] };
    }

    let output: unknown;
    const warnings: MappingWarning[] = [];
    try {
      output = subject.run(input, t.from, { warnings, strict: t.strict === true, params: t.params });
    } catch (err) {
      if (err instanceof TestSetupError) {
        return { file: shown, line, name: t.name, passed: false, failures: [err.message] };
      }
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
    failures.push(...warningFailures(warnings, t.expect_warnings ?? []));
    for (const [path, want] of Object.entries(t.expect ?? {})) {
      let got: unknown[];
      try {
        got = subject.select(output, path);
      } catch (err) {
        failures.push(`${path}: ${String(err)}`);
        continue;
      }
      const wanted = Array.isArray(want) ? want : [want];
      if (!same(got, wanted))
        failures.push(`${path}: got ${JSON.stringify(got)}, expected ${JSON.stringify(wanted)}`);
    }
    for (const path of t.expect_absent ?? []) {
      const got = subject.select(output, path);
      if (got.length > 0) failures.push(`${path}: expected nothing, got ${JSON.stringify(got)}`);
    }
    return { file: shown, line, name: t.name, passed: failures.length === 0, failures };
  });
}

/** `code at source → target`, as a test failure shows a warning. */
const shownWarning = (w: { code: string; source?: string; target?: string }): string =>
  `${w.code}${w.source || w.target ? ` at ${[w.source, w.target].filter(Boolean).join(' → ')}` : ''}`;

/** How the warnings of a run differ from those a test expects (each expected one in order). */
function warningFailures(
  got: readonly MappingWarning[],
  want: ReadonlyArray<{ code: string; source?: string; target?: string }>,
): string[] {
  const fits = (w: MappingWarning, e: (typeof want)[number]) =>
    w.code === e.code &&
    (e.source === undefined || w.source === e.source) &&
    (e.target === undefined || w.target === e.target);
  const same = got.length === want.length && want.every((e, i) => fits(got[i] as MappingWarning, e));
  if (same) return [];
  return [
    `warnings: got ${got.length ? got.map(shownWarning).join('; ') : 'none'}, expected ${
      want.length ? want.map(shownWarning).join('; ') : 'none'
    }`,
  ];
}

/** A test file's `from` that cannot be used: the test fails with this message. */
class TestSetupError extends Error {}

/** What a test file tests: a message map, or one segment or datatype map. */
interface Subject {
  input: 'hl7v2' | 'fhir' | 'json' | 'csv' | 'xml';
  /** Runs on one input (`from`: what a map is applied to); warnings go to `options.warnings`. */
  run(
    input: unknown,
    from: string | undefined,
    options: { warnings: MappingWarning[]; strict: boolean; params?: Record<string, unknown> },
  ): unknown;
  /** The values `path` selects in the output. */
  select(output: unknown, path: string): unknown[];
}

function transformerSubject(library: TransformerLibrary, name: string): Subject {
  const transformer = library.get(name);
  return {
    input: transformer.spec.input,
    run: (input, from, options) => {
      if (from !== undefined) throw new TestSetupError('from: only a map test (map:) takes from');
      return transformer.run(input, { now: TEST_NOW, ...options });
    },
    select: selectValues,
  };
}

/**
 * A segment or datatype map applied on its own to the first node `from` selects in the input
 * (a segment map's default: its segment). `ref` rules find no resources and write nothing. The
 * output is what the map builds: FHIR (FHIRPath inside the object built: `value`,
 * `type.coding.code`), a JSON object (JSON path), an HL7 v2 segment (HL7 path) or an HL7 value
 * (JSON path `hl7`: its encoded text).
 */
function mapSubject(library: TransformerLibrary, name: string): Subject {
  const found = library.registry.subMaps.get(name);
  if (!found) throw new MappingError(MappingErrorCode.Unknown, `no map named ${name}`);
  const sub = found;
  const { scope, spec } = sub;
  const fhirType = scope.target.kind === 'object' ? scope.target.fhir : undefined;
  return {
    input: spec.input,
    run: (input, from, options) => {
      if (options.params !== undefined) {
        throw new TestSetupError('params: segment and datatype maps take no parameters');
      }
      const issues = new RunIssues(options.strict, fhirType ?? '');
      const env: RunEnv = { refs: () => [], issues };
      try {
        return applyMap(input, from, env);
      } finally {
        options.warnings.push(...issues.warnings);
      }
    },
    select: (output, path) => {
      if (output instanceof Hl7Message) return selectValues(output, path);
      if (output === undefined) return [];
      if (fhirType !== undefined) return evalFhirPath(path, { type: fhirType, value: output });
      return new JsonNode(output, '$').select(path).map((n) => n.value());
    },
  };

  function applyMap(input: unknown, from: string | undefined, env: RunEnv): unknown {
    const path = from ?? (scope.source === 'segment' ? scope.segment : undefined);
    if (path === undefined) {
      throw new TestSetupError(`from: give the path of the value ${name} is applied to (e.g. PID-3)`);
    }
    const root =
      input instanceof Hl7Message
        ? new Hl7MessageNode(input)
        : spec.input === 'fhir'
          ? new FhirNode(input, String((input as { resourceType?: unknown }).resourceType ?? '$'))
          : spec.input === 'xml'
            ? new XmlNode(input, '$')
            : new JsonNode(input, '$');
    const node = root.select(path)[0];
    if (node === undefined) throw new TestSetupError(`from: ${path} selects nothing in the input`);
    const t = scope.target;
    const msg = Hl7Message.create({ type: 'ADT^A01', controlId: 'TEST', dateTime: '20260101' });
    if (t.kind === 'segment') {
      const seg = t.segment === 'MSH' ? (msg.segments[0] as Hl7Segment) : msg.addSegment(t.segment);
      sub.apply(node, new SegmentTarget(msg, seg, 1), env);
      return msg;
    }
    const target = t.kind === 'composite' ? new CompositeTarget(msg) : new ObjectTarget();
    return sub.apply(node, target, env);
  }
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
