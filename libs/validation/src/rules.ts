import { parseHl7DateTime, type Hl7Message } from '@sinew/hl7v2';
import { compileCondition, conditionWhere, hl7PathCompiler, type RuleCondition } from './condition';
import { bind, isEmpty, locate, read, rulePath, targets, type RulePath, type Target } from './hl7-places';
import { hl7Table, normalizeTableId } from './hl7-tables';
import { ValidationCode, type ValidationIssue } from './issue';
import { CHECKS, validationRulesSchema, type CheckName, type ValidationRule } from './rules.schema';

/** One problem in a rule list, as `rules[2].pattern: ...`. */
export interface RulesCompileProblem {
  /** `rules[2].pattern`, `rules[0].when.all[1].path`. */
  where: string;
  message: string;
}

/** Thrown by {@link compileRules} for a rule list that cannot be compiled. */
export class RulesCompileError extends Error {
  override readonly name = 'RulesCompileError';
  readonly code = 'validation.rules';
  constructor(readonly problems: RulesCompileProblem[]) {
    super(
      `invalid validation rules: ${problems
        .slice(0, 5)
        .map((p) => `${p.where}: ${p.message}`)
        .join('; ')}${problems.length > 5 ? ` (and ${problems.length - 5} more)` : ''}`,
    );
  }
}

/** A compiled rule list. */
export interface CompiledRules {
  readonly rules: readonly ValidationRule[];
  /** Runs every rule; returns the issues in rule order. Never throws. */
  validate(msg: Hl7Message): ValidationIssue[];
}

type Condition = (msg: Hl7Message, at: Target) => boolean;
type Check = (msg: Hl7Message, at: Target, value: string) => string | undefined;

interface CompiledRule {
  rule: ValidationRule;
  path: RulePath;
  check: CheckName;
  when?: Condition;
  run: Check;
}

const NUMBER = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)$/;
const DAY_MS = 86_400_000;

function compileRegex(source: string, where: string, problems: RulesCompileProblem[]): RegExp | undefined {
  try {
    return new RegExp(source);
  } catch {
    problems.push({ where, message: 'is not a valid regular expression' });
    return undefined;
  }
}

function compilePath(text: string, where: string, problems: RulesCompileProblem[]): RulePath | undefined {
  try {
    return rulePath(text);
  } catch (e) {
    problems.push({ where, message: e instanceof Error ? e.message : 'is not an HL7 path' });
    return undefined;
  }
}

/** A rule's `when`: `*` on the rule's own segment (and field) bound to the place being checked. */
const whenPaths = hl7PathCompiler<{ msg: Hl7Message; at: Target }>(
  (ctx) => ctx.msg,
  (path, ctx) => bind(path, ctx.at),
);

function compileWhen(
  c: RuleCondition,
  where: string,
  problems: RulesCompileProblem[],
): Condition | undefined {
  const compiled = compileCondition(c, whenPaths);
  for (const p of compiled.problems)
    problems.push({ where: conditionWhere(where, p.path), message: p.message });
  const test = compiled.test;
  return test && ((msg, at) => test({ msg, at }));
}

/** The first component of a value read from the message (a TS field's time, without `^D`). */
function firstComponent(msg: Hl7Message, value: string): string {
  const i = value.indexOf(msg.delimiters.component);
  return i < 0 ? value : value.slice(0, i);
}

const OP_WORDS: Record<'datetime' | 'number' | 'text', Record<string, string>> = {
  datetime: {
    '<': 'before',
    '<=': 'on or before',
    '==': 'at the same time as',
    '!=': 'at another time than',
    '>=': 'on or after',
    '>': 'after',
  },
  number: {
    '<': 'less than',
    '<=': 'at most',
    '==': 'equal to',
    '!=': 'different from',
    '>=': 'at least',
    '>': 'greater than',
  },
  text: { '==': 'the same as', '!=': 'different from' },
};

function holds(op: string, a: number, b: number): boolean {
  switch (op) {
    case '<':
      return a < b;
    case '<=':
      return a <= b;
    case '==':
      return a === b;
    case '!=':
      return a !== b;
    case '>=':
      return a >= b;
    default:
      return a > b;
  }
}

function compileCheck(
  rule: ValidationRule,
  check: CheckName,
  path: RulePath,
  where: string,
  problems: RulesCompileProblem[],
): Check | undefined {
  const loc = (at: Target) => locate(path, at);
  switch (check) {
    case 'required':
      return (m, at, v) =>
        v === '""'
          ? `${loc(at)} is required but holds the HL7 null ""`
          : v === ''
            ? `${loc(at)} is required`
            : undefined;
    case 'pattern': {
      const re = compileRegex(rule.pattern as string, `${where}.pattern`, problems);
      return (
        re && ((_m, at, v) => (re.test(v) ? undefined : `${loc(at)} does not match the pattern ${re.source}`))
      );
    }
    case 'allowed': {
      const list = rule.allowed as string[];
      const set = new Set(list);
      const shown = list.length <= 10 ? ` (${list.join(', ')})` : '';
      return (_m, at, v) => (set.has(v) ? undefined : `${loc(at)} is not one of the allowed values${shown}`);
    }
    case 'table': {
      const id = normalizeTableId(rule.table as string);
      const table = id === undefined ? undefined : hl7Table(id);
      if (!table) {
        problems.push({
          where: `${where}.table`,
          message: `no HL7 table ${JSON.stringify(rule.table)} in the v2 tables`,
        });
        return undefined;
      }
      return (_m, at, v) =>
        table.codes.has(v) ? undefined : `${loc(at)} is not a code of HL7 table ${table.id} (${table.title})`;
    }
    case 'datetime':
      return (m, at, v) =>
        parseHl7DateTime(firstComponent(m, v))
          ? undefined
          : `${loc(at)} is not a valid HL7 date/time (YYYY[MM[DD[HH[MM[SS[.S]]]]]][+/-ZZZZ])`;
    case 'range': {
      const { min, max } = rule.range as { min?: number; max?: number };
      return (_m, at, v) => {
        if (!NUMBER.test(v.trim())) return `${loc(at)} is not a number`;
        const n = Number(v.trim());
        if (min !== undefined && n < min) return `${loc(at)} is below the minimum ${min}`;
        if (max !== undefined && n > max) return `${loc(at)} is above the maximum ${max}`;
        return undefined;
      };
    }
    case 'length': {
      const { min, max } = rule.length as { min?: number; max?: number };
      return (_m, at, v) => {
        const n = [...v].length;
        if (min !== undefined && n < min) return `${loc(at)} is shorter than ${min} characters`;
        if (max !== undefined && n > max) return `${loc(at)} is longer than ${max} characters`;
        return undefined;
      };
    }
    case 'compare': {
      const c = rule.compare as NonNullable<ValidationRule['compare']>;
      const other = compilePath(c.path, `${where}.compare.path`, problems);
      if (!other) return undefined;
      const o = other.parsed;
      const own = o.segment === path.parsed.segment;
      if (
        (o.occurrence === '*' && !own) ||
        (o.repetition === '*' && !(own && o.field === path.parsed.field))
      ) {
        problems.push({
          where: `${where}.compare.path`,
          message: "may use * only for the rule path's own segment (and its own field's repetitions)",
        });
        return undefined;
      }
      if (o.field === undefined) {
        problems.push({ where: `${where}.compare.path`, message: 'must name a field' });
        return undefined;
      }
      const offsetMs = (c.offset_days ?? 0) * DAY_MS;
      const offsetText = c.offset_days
        ? ` ${c.offset_days < 0 ? '-' : '+'} ${Math.abs(c.offset_days)} days`
        : '';
      const words = OP_WORDS[c.as][c.op] as string;
      return (m, at, v) => {
        const b = bind(other, at);
        const otherAt = targets(m, b.parsed)[0];
        if (!otherAt) return undefined;
        const w = read(m, b.parsed, otherAt);
        if (isEmpty(w)) return undefined;
        let ok: boolean;
        if (c.as === 'text') {
          ok = (v === w) === (c.op === '==');
        } else if (c.as === 'number') {
          if (!NUMBER.test(v.trim()) || !NUMBER.test(w.trim())) return undefined;
          ok = holds(c.op, Number(v.trim()), Number(w.trim()));
        } else {
          const x = parseHl7DateTime(firstComponent(m, v));
          const y = parseHl7DateTime(firstComponent(m, w));
          if (!x || !y) return undefined;
          ok = holds(c.op, x.epochMs, y.epochMs + offsetMs);
        }
        return ok ? undefined : `${loc(at)} is not ${words} ${locate(b, otherAt)}${offsetText}`;
      };
    }
  }
}

function zodProblems(error: {
  issues: ReadonlyArray<{ path: PropertyKey[]; message: string }>;
}): RulesCompileProblem[] {
  return error.issues.map((i) => ({
    where: `rules${i.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('')}`,
    message: i.message,
  }));
}

/**
 * Compiles a rule list (as parsed from YAML or JSON; see {@link validationRulesSchema}) once.
 * Throws {@link RulesCompileError} listing every problem: schema errors, bad paths, bad
 * regular expressions, unknown tables.
 */
export function compileRules(spec: unknown): CompiledRules {
  const parsed = validationRulesSchema.safeParse(spec);
  if (!parsed.success) throw new RulesCompileError(zodProblems(parsed.error));
  const problems: RulesCompileProblem[] = [];
  const compiled: CompiledRule[] = [];
  parsed.data.forEach((rule, i) => {
    const where = `rules[${i}]`;
    const path = compilePath(rule.path, `${where}.path`, problems);
    const check = CHECKS.find((c) => rule[c] !== undefined) as CheckName;
    if (!path) return;
    if (path.parsed.field === undefined && (check !== 'required' || path.parsed.occurrence === '*')) {
      problems.push({
        where: `${where}.path`,
        message: 'must name a field (a bare segment takes only required)',
      });
      return;
    }
    const when = rule.when && compileWhen(rule.when, `${where}.when`, problems);
    const run = compileCheck(rule, check, path, where, problems);
    if (!run || (rule.when && !when)) return;
    compiled.push({ rule, path, check, when, run });
  });
  if (problems.length > 0) throw new RulesCompileError(problems);
  const rules = parsed.data;
  return {
    rules,
    validate: (msg) => runRules(compiled, msg),
  };
}

function runRules(compiled: readonly CompiledRule[], msg: Hl7Message): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  for (const c of compiled) {
    try {
      for (const at of targets(msg, c.path.parsed)) {
        if (c.when && !c.when(msg, at)) continue;
        const value = read(msg, c.path.parsed, at);
        if (c.check !== 'required' && isEmpty(value)) continue;
        const failure = c.run(msg, at, value);
        if (failure === undefined) continue;
        const line = msg.segment(at.segment, at.occurrence)?.line;
        issues.push({
          severity: c.rule.severity,
          code: c.rule.code,
          location: locate(c.path, at),
          message: c.rule.message ?? failure,
          ...(line ? { line } : {}),
        });
      }
    } catch {
      issues.push({
        severity: 'error',
        code: ValidationCode.Internal,
        location: c.path.text,
        message: `rule ${c.rule.code} failed on this message`,
      });
    }
  }
  return issues;
}
