import { z } from 'zod';
import type { Hl7Message } from '@sinew/hl7v2';
import { isEmpty, rulePath, someValueAt, type RulePath } from './hl7-places';

/**
 * The value a condition compares with: text compares as text; a number (YAML `equals: 1`)
 * compares numerically with a value that is a number (`1`, `1.0`, `01`).
 */
export type ConditionValue = string | number;

/**
 * A condition on elements of the input, shared by channel filters, validation rules' `when` and
 * transformer rules' `when` (docs/validation.md, "Conditions").
 */
export type RuleCondition =
  | { path: string; present: boolean }
  | { path: string; equals: ConditionValue }
  | { path: string; in: ConditionValue[] }
  | { path: string; matches: string }
  | { all: RuleCondition[] }
  | { any: RuleCondition[] }
  | { not: RuleCondition };

const conditionValue = z.union([z.string(), z.number().finite()]);
const conditionPath = z.string().min(1);

export const ruleCondition: z.ZodType<RuleCondition> = z.lazy(() =>
  z.union([
    z.strictObject({ path: conditionPath, present: z.boolean() }),
    z.strictObject({ path: conditionPath, equals: conditionValue }),
    z.strictObject({ path: conditionPath, in: z.array(conditionValue).min(1) }),
    z.strictObject({ path: conditionPath, matches: z.string() }),
    z.strictObject({ all: z.array(ruleCondition).min(1) }),
    z.strictObject({ any: z.array(ruleCondition).min(1) }),
    z.strictObject({ not: ruleCondition }),
  ]),
);

/** Codes of the problems a condition can have when it is compiled. */
export const ConditionCode = {
  /** A `path` the input cannot be read by (not an HL7 path, not a component path, …). */
  Path: 'condition.path',
  /** `matches` is not a valid regular expression. */
  Regex: 'condition.regex',
  /** A check that the path cannot make: `equals`, `in` or `matches` on a bare segment. */
  Check: 'condition.check',
} as const;
export type ConditionCode = (typeof ConditionCode)[keyof typeof ConditionCode];

/** One problem of a condition, with where it is inside it (`['all', 1, 'matches']`). */
export interface ConditionProblem {
  path: Array<string | number>;
  code: string;
  message: string;
}

/**
 * What one element read gives a condition: its text, or `null` for an element that holds a
 * value that is not text (a FHIR or JSON object): such a value is present but equals nothing.
 */
export type ReadValue = string | null;

/**
 * A path compiled for one kind of input: calls `test` on each value the path names in `ctx`
 * (every occurrence and repetition it names) and returns true as soon as one call does.
 */
export type ValueReader<C> = (ctx: C, test: (value: ReadValue) => boolean) => boolean;

/**
 * Compiles a condition path for one kind of input, once: the reader, or why the path cannot be
 * read there. `presenceOnly` marks a path that names whole segments: only `present` applies.
 */
export type PathCompiler<C> = (
  path: string,
) => { read: ValueReader<C>; presenceOnly?: boolean } | { problem: string };

export interface CompiledCondition<C> {
  /** Set only when `problems` is empty. */
  test?: (ctx: C) => boolean;
  problems: ConditionProblem[];
}

/** HL7 NM: `12`, `-0.5`, `+3.`, `.5`, `01`. */
const NUMBER = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)$/;

/** The value a condition compares: without surrounding blanks; undefined when it holds none. */
function held(value: ReadValue): string | null | undefined {
  if (value === null) return null;
  const t = value.trim();
  return isEmpty(t) ? undefined : t;
}

/** One value of `equals` / `in` as a test on a held text value. */
function sameAs(want: ConditionValue): (v: string) => boolean {
  if (typeof want === 'string') {
    const text = want.trim();
    return (v) => v === text;
  }
  return (v) => NUMBER.test(v) && Number(v) === want;
}

function oneOf(list: readonly ConditionValue[]): (v: string) => boolean {
  const texts = new Set(list.filter((x): x is string => typeof x === 'string').map((x) => x.trim()));
  const numbers = list.filter((x): x is number => typeof x === 'number');
  if (numbers.length === 0) return (v) => texts.has(v);
  return (v) => texts.has(v) || (NUMBER.test(v) && numbers.includes(Number(v)));
}

/**
 * Compiles a condition once for one kind of input. Paths are compiled by `compilePath` and
 * regular expressions here; every problem is returned with its place inside the condition.
 * Semantics (docs/validation.md, "Conditions"): `''`, blanks and HL7's null `""` hold no value;
 * a path naming several elements (`OBX[*]-8`, `PID-3[*]`) holds when any of them does; `not`
 * negates the whole (no element holds).
 */
export function compileCondition<C>(c: RuleCondition, compilePath: PathCompiler<C>): CompiledCondition<C> {
  const problems: ConditionProblem[] = [];
  const test = build(c, compilePath, [], problems);
  return problems.length === 0 && test ? { test, problems } : { problems };
}

function build<C>(
  c: RuleCondition,
  compilePath: PathCompiler<C>,
  at: Array<string | number>,
  problems: ConditionProblem[],
): ((ctx: C) => boolean) | undefined {
  if ('all' in c || 'any' in c) {
    const key = 'all' in c ? 'all' : 'any';
    const list = 'all' in c ? c.all : c.any;
    const parts = list.map((x, i) => build(x, compilePath, [...at, key, i], problems));
    if (parts.some((p) => p === undefined)) return undefined;
    const fns = parts as Array<(ctx: C) => boolean>;
    if (fns.length === 1) return fns[0];
    return key === 'all'
      ? (ctx) => {
          for (const f of fns) if (!f(ctx)) return false;
          return true;
        }
      : (ctx) => {
          for (const f of fns) if (f(ctx)) return true;
          return false;
        };
  }
  if ('not' in c) {
    const inner = build(c.not, compilePath, [...at, 'not'], problems);
    return inner && ((ctx) => !inner(ctx));
  }
  const compiled = compilePath(c.path);
  if ('problem' in compiled) {
    problems.push({ path: [...at, 'path'], code: ConditionCode.Path, message: compiled.problem });
    return undefined;
  }
  const read = compiled.read;
  if ('present' in c) {
    const has = (v: ReadValue) => held(v) !== undefined;
    return c.present ? (ctx) => read(ctx, has) : (ctx) => !read(ctx, has);
  }
  const check = 'equals' in c ? 'equals' : 'in' in c ? 'in' : 'matches';
  if (compiled.presenceOnly) {
    problems.push({
      path: [...at, check],
      code: ConditionCode.Check,
      message: `${JSON.stringify(c.path)} names a segment: only present applies to it`,
    });
    return undefined;
  }
  const wanted = 'equals' in c ? [c.equals] : 'in' in c ? c.in : [];
  if (wanted.some((w) => typeof w === 'string' && held(w) === undefined)) {
    problems.push({
      path: [...at, check],
      code: ConditionCode.Check,
      message: `an empty value never ${check === 'in' ? 'is in the list' : 'equals'}: an element without a value holds none (write present: false)`,
    });
    return undefined;
  }
  let textTest: (v: string) => boolean;
  if ('equals' in c) textTest = sameAs(c.equals);
  else if ('in' in c) textTest = oneOf(c.in);
  else {
    let re: RegExp;
    try {
      re = new RegExp(c.matches);
    } catch (err) {
      const why = err instanceof Error ? err.message.replace(/^.*: /, '') : String(err);
      problems.push({
        path: [...at, 'matches'],
        code: ConditionCode.Regex,
        message: `${JSON.stringify(c.matches)} is not a valid regular expression: ${why}`,
      });
      return undefined;
    }
    textTest = (v) => re.test(v);
  }
  const valueTest = (v: ReadValue): boolean => {
    const t = held(v);
    return typeof t === 'string' && textTest(t);
  };
  return (ctx) => read(ctx, valueTest);
}

/** `rules[0].when.all[1].matches` style text for a place inside a condition. */
export function conditionWhere(prefix: string, path: ReadonlyArray<string | number>): string {
  let s = prefix;
  for (const p of path) s += typeof p === 'number' ? `[${p}]` : `.${p}`;
  return s;
}

/**
 * Compiles a condition path as an HL7 path read from a whole message, with `bindTo` turning the
 * parsed path into the one read in a context (validation binds `*` to the place being checked).
 */
export function hl7PathCompiler<C>(
  messageOf: (ctx: C) => Hl7Message,
  bindTo?: (path: RulePath, ctx: C) => RulePath,
): PathCompiler<C> {
  return (text) => {
    let path: RulePath;
    try {
      path = rulePath(text);
    } catch (err) {
      return { problem: err instanceof Error ? err.message : `${JSON.stringify(text)} is not an HL7 path` };
    }
    const read: ValueReader<C> = bindTo
      ? (ctx, test) => someValueAt(messageOf(ctx), bindTo(path, ctx), test)
      : (ctx, test) => someValueAt(messageOf(ctx), path, test);
    return { read, presenceOnly: path.parsed.field === undefined };
  };
}

const messagePaths = hl7PathCompiler<Hl7Message>((msg) => msg);

/**
 * Compiles a condition on an HL7 v2 message (a channel filter): paths are read from the whole
 * message, values decoded. `test` is set only when `problems` is empty.
 */
export function compileMessageCondition(c: RuleCondition): {
  test?: (msg: Hl7Message) => boolean;
  problems: ConditionProblem[];
} {
  return compileCondition(c, messagePaths);
}
