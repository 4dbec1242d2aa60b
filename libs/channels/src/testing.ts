/**
 * Channel tests (`X.test.yaml` or `X.<name>.test.yaml` beside the channel `X.yaml`): named
 * cases that feed messages to the compiled channel in this process and check the ACK, the
 * outcome, the issues and what each destination would be sent. Nothing connects anywhere:
 * the pipeline's deliveries are captured, never handed to a connector.
 *
 * Imported as `@sinew/channels/testing` (not from the package index: it runs the engine's
 * pipeline, and the engine itself imports `@sinew/channels`).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { hl7Reply, type Disposition } from '@sinew/connectors';
import { admitHl7, ChannelPipeline } from '@sinew/engine';
import { Hl7Message } from '@sinew/hl7v2';
import {
  BUILT_IN_TRANSFORMERS,
  findTransformerTests,
  hasUserFunctions,
  runFunctionExamples,
  runTransformerTestFile,
  sameValue,
  selectValues,
  TEST_NOW,
  TransformerLibrary,
  type TransformerTestResult,
} from '@sinew/mapping';
import type { ContentType, PipelineResult } from '@sinew/store';
import { isNode, LineCounter, parseDocument, type Document } from 'yaml';
import { z } from 'zod';
import { compileChannel, type ChannelRegistries, type CompiledChannel } from './compile';
import { formatProblem, hasErrors } from './problem';
import { builtInRegistries } from './registries';

const contentType = z.enum(['hl7v2', 'fhir', 'json']);

/** One input message: HL7 v2 text (line breaks become CR), a file, or a JSON document. */
const inputSchema = z.union([
  z.string(),
  z.strictObject({ file: z.string().min(1), content_type: contentType.optional() }),
  z.strictObject({ text: z.string(), content_type: contentType.optional() }),
  z.strictObject({ json: z.unknown(), content_type: contentType.optional() }),
]);
type TestInput = z.output<typeof inputSchema>;

const expectedValues = z.record(z.string(), z.unknown());

/** What one destination would be sent. */
const deliveryExpectation = z
  .strictObject({
    /** Nothing is sent to this destination. */
    none: z.literal(true).optional(),
    /** The payload type: hl7v2, fhir, json (or the raw message's type). */
    type: contentType.optional(),
    /** The ordering key the delivery is queued under. */
    order_key: z.string().optional(),
    /** HL7 path → value (a list when the path selects several values). */
    hl7: expectedValues.optional(),
    /** A JSON value the payload must contain (objects: these keys; arrays: these items, in order). */
    json: z.unknown().optional(),
    /** FHIRPath → value (a list when it selects several values). */
    fhirpath: expectedValues.optional(),
    /** The exact payload text (line breaks and CRs compare equal). */
    bytes: z.string().optional(),
  })
  .refine((d) => !d.none || Object.keys(d).length === 1, {
    message: 'none: true takes no other expectation',
  });
type DeliveryExpectation = z.output<typeof deliveryExpectation>;

const ackExpectation = z.union([
  z.string(),
  z.strictObject({
    /** MSA-1: AA, AE, AR (CA, CE, CR in enhanced mode). */
    code: z.string(),
    /** Text the ACK's error carries (MSA-3 or ERR-8 contains it). */
    err: z.string().optional(),
    /** ERR-3.1, the HL7 error condition (101 required field missing, 207 application error…). */
    condition: z.union([z.string(), z.number()]).optional(),
    /** Any other ACK field, by HL7 path. */
    hl7: expectedValues.optional(),
  }),
]);

const testCase = z
  .strictObject({
    name: z.string().min(1),
    /** One message, or several (every expectation holds for each). */
    input: z.union([inputSchema, z.array(inputSchema).min(1)]),
    /** Values of `${VAR}` references for this case (over the file's `env`). */
    env: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).optional(),
    status: z.enum(['processed', 'filtered', 'rejected', 'errored']).optional(),
    ack: ackExpectation.optional(),
    /** The codes of the issues found, in any order (`[]`: none). */
    issues: z.array(z.string()).optional(),
    /** Per destination name; `none`: nothing is sent anywhere. */
    deliveries: z.union([z.literal('none'), z.record(z.string(), deliveryExpectation)]).optional(),
  })
  .refine(
    (t) =>
      t.status !== undefined || t.ack !== undefined || t.issues !== undefined || t.deliveries !== undefined,
    { message: 'give status, ack, issues or deliveries' },
  );
type TestCase = z.output<typeof testCase>;

export const channelTestFile = z.strictObject({
  /** The channel file, relative to the test file (default: `X.yaml` for `X[.name].test.yaml`). */
  channel: z.string().optional(),
  /** `${VAR}` values for every case. */
  env: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).optional(),
  tests: z.array(testCase).min(1),
});

export type TestKind = 'channel' | 'transformer';

/** One case's outcome (channel and transformer tests alike). */
export interface TestCaseResult extends TransformerTestResult {
  kind: TestKind;
}

/** What a failing expectation prints: `where: expected X, got Y`. */
const show = (v: unknown): string => (v === undefined ? '(nothing)' : JSON.stringify(v));
const mismatch = (where: string, want: unknown, got: unknown) =>
  `${where}: expected ${show(want)}, got ${show(got)}`;

const pointerPart = (k: string | number) => String(k).replace(/~/g, '~0').replace(/\//g, '~1');
const isObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v);

/**
 * Where `got` differs from the subset `want`, by JSON pointer: objects need the keys `want`
 * names, arrays the same number of items (each compared in turn), anything else equality.
 */
export function jsonSubsetDiff(want: unknown, got: unknown, pointer = ''): string[] {
  const at = pointer || '/';
  if (isObject(want)) {
    if (!isObject(got)) return [mismatch(at, want, got)];
    return Object.entries(want).flatMap(([k, w]) =>
      k in got
        ? jsonSubsetDiff(w, got[k], `${pointer}/${pointerPart(k)}`)
        : [mismatch(`${pointer}/${pointerPart(k)}`, w, undefined)],
    );
  }
  if (Array.isArray(want)) {
    if (!Array.isArray(got)) return [mismatch(at, want, got)];
    if (got.length !== want.length)
      return [`${at}: expected ${want.length} items, got ${got.length}: ${show(got)}`];
    return want.flatMap((w, i) => jsonSubsetDiff(w, got[i], `${pointer}/${i}`));
  }
  return sameValue(want, got) ? [] : [mismatch(at, want, got)];
}

/** The first differing line of two texts (CR, CRLF and LF line ends compare equal). */
export function textDiff(want: string, got: string): string | undefined {
  const lines = (t: string) => t.replace(/\r\n?/g, '\n').replace(/\n$/, '').split('\n');
  const w = lines(want);
  const g = lines(got);
  for (let i = 0; i < Math.max(w.length, g.length); i++) {
    if (w[i] !== g[i]) return `line ${i + 1}: expected ${show(w[i])}, got ${show(g[i])}`;
  }
  return undefined;
}

/** Path → expected value checks; `hl7` values compare as text (YAML may read `19800214` as a number). */
function checkValues(
  label: string,
  target: unknown,
  expected: Record<string, unknown>,
  asText: boolean,
): string[] {
  const out: string[] = [];
  for (const [path, want] of Object.entries(expected)) {
    let wanted = want === null ? [] : Array.isArray(want) ? want : [want];
    if (asText) wanted = wanted.map((v) => (v !== null && typeof v === 'object' ? v : String(v)));
    let got: unknown[];
    try {
      got = selectValues(target, path);
    } catch (err) {
      out.push(`${label} ${path}: ${(err as Error).message}`);
      continue;
    }
    if (!sameValue(got, wanted))
      out.push(
        mismatch(
          `${label} ${path}`,
          wanted.length === 1 ? wanted[0] : wanted,
          got.length === 1 ? got[0] : got.length === 0 ? undefined : got,
        ),
      );
  }
  return out;
}

/** A one-line account of the first error (or first issue) of a result, to explain a status. */
function because(result: PipelineResult): string {
  const i = result.issues.find((x) => x.severity === 'error') ?? result.issues[0];
  return i ? ` (${i.code}${i.location ? ` at ${i.location}` : ''}: ${i.message})` : '';
}

/** What running one message gives: the pipeline's result and the ACK the sender would read. */
export interface ChannelRun {
  result: PipelineResult;
  ack?: Buffer;
}

/**
 * Runs one message as the engine would: HL7 v2 bytes pass the ingest's header check first
 * (refused: `rejected` with the ingest's ACK); `ack.when: received` channels answer AA once
 * the message is admitted, `processed` channels answer what the pipeline decided.
 */
export function runChannelMessage(pipeline: ChannelPipeline, raw: Buffer, type: ContentType): ChannelRun {
  const { ack: ackSpec } = pipeline.channel.spec;
  if (type !== 'hl7v2') return { result: pipeline.run(raw, type) };
  const admitted = admitHl7(raw);
  if ('disposition' in admitted) {
    const issue = admitted.disposition.issue;
    return {
      result: {
        status: 'rejected',
        issues: [
          {
            severity: 'error',
            code: issue.code,
            message: issue.message,
            step: 'ingest',
            ...(issue.location ? { location: issue.location } : {}),
          },
        ],
        deliveries: [],
      },
      ack: hl7Reply(admitted.disposition, admitted.received, ackSpec.mode),
    };
  }
  const result = pipeline.run(raw, type, admitted.message);
  if (ackSpec.when === 'processed') return { result, ...(result.ack ? { ack: result.ack.bytes } : {}) };
  const accepted: Disposition = { kind: 'accepted' };
  return { result, ack: hl7Reply(accepted, admitted.message, ackSpec.mode) };
}

function checkAck(want: NonNullable<TestCase['ack']>, ack: Buffer | undefined): string[] {
  const w = typeof want === 'string' ? { code: want } : want;
  if (!ack) return [`ack: expected ${w.code}, but no HL7 ACK is sent for this message`];
  const msg = Hl7Message.parse(ack);
  const out: string[] = [];
  const errText = [msg.get('MSA-3'), msg.get('ERR-8')].filter((t) => t !== '');
  if (msg.get('MSA-1') !== w.code) {
    out.push(
      `${mismatch('ack MSA-1', w.code, msg.get('MSA-1'))}${errText.length ? ` (${errText.at(-1)})` : ''}`,
    );
  }
  if (w.err !== undefined && !errText.some((t) => t.includes(w.err as string))) {
    out.push(`ack error text: expected it to contain ${show(w.err)}, got ${show(errText.at(-1) ?? '')}`);
  }
  if (w.condition !== undefined && msg.get('ERR-3.1') !== String(w.condition)) {
    out.push(mismatch('ack ERR-3.1', String(w.condition), msg.get('ERR-3.1')));
  }
  if (w.hl7) out.push(...checkValues('ack', msg, w.hl7, true));
  return out;
}

function checkDelivery(
  name: string,
  want: DeliveryExpectation,
  got: PipelineResult['deliveries'][number] | undefined,
): string[] {
  const label = `deliveries.${name}`;
  if (want.none) return got ? [`${label}: expected nothing sent, got a ${got.payloadType} payload`] : [];
  if (!got) return [`${label}: expected a delivery, but nothing is sent`];
  const out: string[] = [];
  const text = got.payload.toString('utf8');
  if (want.type !== undefined && got.payloadType !== want.type)
    out.push(mismatch(`${label} type`, want.type, got.payloadType));
  if (want.order_key !== undefined && got.orderKey !== want.order_key)
    out.push(mismatch(`${label} order_key`, want.order_key, got.orderKey));
  if (want.bytes !== undefined) {
    const d = textDiff(want.bytes, text);
    if (d) out.push(`${label} bytes ${d}`);
  }
  if (want.hl7) {
    let msg: Hl7Message | undefined;
    try {
      msg = Hl7Message.parse(got.payload);
    } catch (err) {
      out.push(`${label} hl7: the payload is not HL7 v2 (${(err as Error).message})`);
    }
    if (msg) out.push(...checkValues(`${label} hl7`, msg, want.hl7, true));
  }
  if (want.json !== undefined || want.fhirpath) {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      out.push(`${label}: the payload is not JSON (${got.payloadType})`);
      return out;
    }
    if (want.json !== undefined)
      out.push(...jsonSubsetDiff(want.json, value).map((d) => `${label} json ${d}`));
    if (want.fhirpath) {
      if (!isObject(value) || typeof value.resourceType !== 'string') {
        out.push(`${label} fhirpath: the payload is not a FHIR resource`);
      } else out.push(...checkValues(`${label} fhirpath`, value, want.fhirpath, false));
    }
  }
  return out;
}

/** The checks of one case against one message's run. */
function checkCase(t: TestCase, channel: CompiledChannel, run: ChannelRun): string[] {
  const { result } = run;
  const out: string[] = [];
  if (t.status !== undefined && result.status !== t.status) {
    out.push(`${mismatch('status', t.status, result.status)}${because(result)}`);
  }
  if (t.ack !== undefined) out.push(...checkAck(t.ack, run.ack));
  if (t.issues !== undefined) {
    const got = result.issues.map((i) => i.code);
    if (!sameValue([...got].sort(), [...t.issues].sort())) {
      const extra = result.issues.filter((i) => !t.issues?.includes(i.code));
      out.push(
        `${mismatch('issues', t.issues, got)}${extra.length ? `; not expected: ${extra.map((i) => `${i.code} (${i.message})`).join(', ')}` : ''}`,
      );
    }
  }
  if (t.deliveries === 'none') {
    if (result.deliveries.length > 0)
      out.push(
        `deliveries: expected none, got ${result.deliveries.map((d) => d.destination).join(', ')}${because(result)}`,
      );
  } else if (t.deliveries) {
    const names = channel.destinations.map((d) => d.name);
    for (const [name, want] of Object.entries(t.deliveries)) {
      if (!names.includes(name)) {
        out.push(`deliveries.${name}: the channel has no destination ${name} (it has ${names.join(', ')})`);
        continue;
      }
      const got = result.deliveries.find((d) => d.destination === name);
      const found = checkDelivery(name, want, got);
      if (found.length && !got && result.status !== 'processed') found[0] += ` (status ${result.status})`;
      out.push(...found);
    }
  }
  return out;
}

function readInput(
  input: TestInput,
  testFile: string,
  produces: readonly string[],
): { raw: Buffer; type: ContentType; label: string } {
  const guess = (raw: Buffer, given?: ContentType): ContentType => {
    if (given) return given;
    if (produces.length === 1) return produces[0] as ContentType;
    const head = raw.subarray(0, 3).toString('latin1');
    if (head === 'MSH') return 'hl7v2';
    try {
      const v = JSON.parse(raw.toString('utf8')) as unknown;
      return isObject(v) && typeof v.resourceType === 'string' ? 'fhir' : 'json';
    } catch {
      return 'hl7v2';
    }
  };
  const hl7Text = (t: string) => Buffer.from(t.replace(/\r?\n$/, '').replace(/\r?\n/g, '\r'), 'utf8');
  if (typeof input === 'string') {
    const raw = hl7Text(input);
    return { raw, type: guess(raw), label: 'input' };
  }
  if ('file' in input) {
    const raw = readFileSync(resolve(dirname(testFile), input.file));
    return { raw, type: guess(raw, input.content_type), label: input.file };
  }
  if ('text' in input) {
    const raw = hl7Text(input.text);
    return { raw, type: guess(raw, input.content_type), label: 'input' };
  }
  const raw = Buffer.from(JSON.stringify(input.json), 'utf8');
  const type = input.content_type ?? (isObject(input.json) && 'resourceType' in input.json ? 'fhir' : 'json');
  return { raw, type, label: 'input' };
}

/** `X.yaml` (or `.yml`) beside `X.test.yaml` or `X.<name>.test.yaml`. */
function defaultChannelFile(testFile: string): string {
  const stem = basename(testFile)
    .replace(/\.test\.ya?ml$/, '')
    .split('.')[0] as string;
  const yml = join(dirname(testFile), `${stem}.yml`);
  const yaml = join(dirname(testFile), `${stem}.yaml`);
  return !existsSync(yaml) && existsSync(yml) ? yml : yaml;
}

function locator(doc: Document, lc: LineCounter) {
  return (path: Array<string | number>): number => {
    for (let p = path; ; p = p.slice(0, -1)) {
      const node = p.length ? doc.getIn(p, true) : doc.contents;
      if (isNode(node) && node.range) return lc.linePos(node.range[0]).line;
      if (p.length === 0) return 1;
    }
  };
}

/**
 * Runs one channel test file. Never throws for a failing case or a broken file: those come
 * back as failed results with the test file's line.
 */
export function runChannelTestFile(file: string, registries: ChannelRegistries): TestCaseResult[] {
  const shown = relative(process.cwd(), file) || file;
  const fail = (line: number, name: string, failures: string[]): TestCaseResult => ({
    kind: 'channel',
    file: shown,
    line,
    name,
    passed: false,
    failures,
  });
  const text = readFileSync(file, 'utf8');
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc });
  const lineOf = locator(doc, lc);
  const parsed = channelTestFile.safeParse(doc.toJS());
  if (doc.errors.length > 0 || !parsed.success) {
    const issue = parsed.success ? undefined : parsed.error.issues[0];
    const path = (issue?.path ?? []).filter((p): p is string | number => typeof p !== 'symbol');
    // An unknown key: point at the key itself.
    if (issue?.code === 'unrecognized_keys' && issue.keys[0] !== undefined) path.push(issue.keys[0]);
    const line = doc.errors[0]?.linePos?.[0].line ?? lineOf(path);
    return [
      fail(line, '(test file)', [
        doc.errors[0]?.message ?? `${path.join('.') || '(file)'}: ${issue?.message ?? 'invalid'}`,
      ]),
    ];
  }
  const spec = parsed.data;
  const channelFile =
    spec.channel !== undefined ? resolve(dirname(file), spec.channel) : defaultChannelFile(file);
  let channelText: string;
  try {
    channelText = readFileSync(channelFile, 'utf8');
  } catch {
    return [
      fail(lineOf(['channel']), '(test file)', [
        `cannot read the channel ${relative(process.cwd(), channelFile) || channelFile}`,
      ]),
    ];
  }
  const shownChannel = relative(process.cwd(), channelFile) || channelFile;
  const pipelines = new Map<string, ChannelPipeline | string[]>();
  const pipelineFor = (env: Record<string, string>): ChannelPipeline | string[] => {
    const key = JSON.stringify(Object.entries(env).sort());
    let p = pipelines.get(key);
    if (!p) {
      const r = compileChannel(channelText, shownChannel, registries, {
        env: { values: env, strict: true, baseDir: dirname(channelFile) },
        checkFiles: false,
      });
      p =
        r.channel && !hasErrors(r.problems)
          ? new ChannelPipeline(r.channel, { now: () => TEST_NOW })
          : r.problems.filter((x) => x.severity === 'error').map(formatProblem);
      pipelines.set(key, p);
    }
    return p;
  };
  const stringValues = (v: Record<string, string | number | boolean> | undefined) =>
    Object.fromEntries(Object.entries(v ?? {}).map(([k, x]) => [k, String(x)]));

  return spec.tests.map((t, i) => {
    const line = lineOf(['tests', i]);
    const pipeline = pipelineFor({ ...stringValues(spec.env), ...stringValues(t.env) });
    if (Array.isArray(pipeline)) return fail(line, t.name, [`the channel does not compile:`, ...pipeline]);
    const inputs = Array.isArray(t.input) ? t.input : [t.input];
    const failures: string[] = [];
    inputs.forEach((input, n) => {
      let read: ReturnType<typeof readInput>;
      try {
        read = readInput(input, file, pipeline.channel.source.produces);
      } catch (err) {
        failures.push(`input${inputs.length > 1 ? ` ${n + 1}` : ''}: ${(err as Error).message}`);
        return;
      }
      const prefix = inputs.length > 1 ? `[${n + 1}: ${read.label}] ` : '';
      let found: string[];
      try {
        found = checkCase(t, pipeline.channel, runChannelMessage(pipeline, read.raw, read.type));
      } catch (err) {
        found = [`the pipeline failed: ${(err as Error)?.stack ?? String(err)}`];
      }
      failures.push(...found.map((f) => prefix + f));
    });
    return { kind: 'channel', file: shown, line, name: t.name, passed: failures.length === 0, failures };
  });
}

/**
 * A test file's kind: transformer tests name their `transformer:` (a message map) or `map:` (a
 * segment or datatype map) at the top level, channel tests neither.
 */
export function testFileKind(file: string): TestKind {
  try {
    return /^(transformer|map)[ \t]*:/m.test(readFileSync(file, 'utf8')) ? 'transformer' : 'channel';
  } catch {
    return 'channel';
  }
}

/** Every `*.test.yaml` under `path` (or `path` itself when it is one), sorted. */
export function findTestFiles(path: string): string[] {
  if (!statSync(path).isDirectory()) return /\.test\.ya?ml$/.test(path) ? [path] : [];
  return findTransformerTests(path);
}

const inside = (child: string, parent: string) => child === parent || child.startsWith(parent + sep);

export interface TestRunOptions {
  /** Extra transformer folders (as `sinew start --transformers`). */
  transformers?: readonly string[];
  /** Called after each test file, with its results (progress, timing). */
  onFile?: (file: string, results: TestCaseResult[], ms: number) => void;
}

export interface TestRun {
  results: TestCaseResult[];
  /** Test files found, by kind. */
  files: { channel: number; transformer: number };
}

/**
 * Runs the channel and transformer tests under `paths` (folders or test files). The
 * transformers are the built-in ones, each given folder that holds transformer tests (unless it
 * is, or holds, one already loaded) and `options.transformers`. Throws only when the
 * transformers cannot be loaded.
 */
export function runTests(paths: readonly string[], options: TestRunOptions = {}): TestRun {
  const files = [...new Set(paths.flatMap((p) => findTestFiles(resolve(p))))];
  const kinds = new Map(files.map((f) => [f, testFileKind(f)] as const));
  const dirs = [BUILT_IN_TRANSFORMERS, ...(options.transformers ?? []).map((d) => resolve(d))];
  for (const p of paths.map((x) => resolve(x))) {
    if (!statSync(p).isDirectory()) continue;
    const holdsTransformerTests = files.some((f) => kinds.get(f) === 'transformer' && inside(f, p));
    const holds = holdsTransformerTests || hasUserFunctions(p);
    if (holds && !dirs.some((d) => inside(p, d) || inside(d, p))) dirs.push(p);
  }
  const library = TransformerLibrary.load([...new Set(dirs)]);
  const registries = builtInRegistries(library);
  const results: TestCaseResult[] = [];
  for (const f of files) {
    const started = performance.now();
    const kind = kinds.get(f) as TestKind;
    const found: TestCaseResult[] =
      kind === 'transformer'
        ? runTransformerTestFile(f, library).map((r) => ({ ...r, kind }))
        : runChannelTestFile(f, registries);
    results.push(...found);
    options.onFile?.(f, found, performance.now() - started);
  }
  // The examples of the project's functions found under the paths given.
  const roots = paths.map((x) => resolve(x));
  for (const u of library.userFunctions) {
    if (!roots.some((p) => inside(resolve(u.file), p))) continue;
    const started = performance.now();
    const found = runFunctionExamples(u).map((r) => ({ ...r, kind: 'transformer' as const }));
    results.push(...found);
    options.onFile?.(u.file, found, performance.now() - started);
  }
  return {
    results,
    files: {
      channel: files.filter((f) => kinds.get(f) === 'channel').length,
      transformer: files.filter((f) => kinds.get(f) === 'transformer').length,
    },
  };
}
