import { z } from 'zod';
import { ruleCondition } from './condition';

/** The condition schema and its type live in condition.ts (shared with filters and transformers). */
export { ruleCondition, type RuleCondition } from './condition';

/** A code or value as YAML may give it: `'0001'`, `F`, or a bare number. */
const scalar = z.union([z.string(), z.number()]).transform((v) => String(v));

const bounds = (what: string) =>
  z
    .strictObject({ min: z.number().optional(), max: z.number().optional() })
    .refine((b) => b.min !== undefined || b.max !== undefined, { message: `${what} needs min, max or both` })
    .refine((b) => b.min === undefined || b.max === undefined || b.min <= b.max, {
      message: `${what}: min is above max`,
    });

/** How a cross-field comparison reads the two values. */
export const compareAs = z.enum(['datetime', 'number', 'text']);
export const compareOp = z.enum(['<', '<=', '==', '!=', '>=', '>']);

export const compareCheck = z
  .strictObject({
    /** The other element. A `*` in it is bound to the occurrence the rule is checking. */
    path: z.string().min(1),
    /** This value `op` the other value (plus `offset_days`). */
    op: compareOp,
    as: compareAs.default('datetime'),
    /** Datetime only: days added to the other value before comparing (may be negative). */
    offset_days: z.number().optional(),
  })
  .refine((c) => c.offset_days === undefined || c.as === 'datetime', {
    message: 'offset_days applies to datetime comparisons only',
  })
  .refine((c) => c.as !== 'text' || c.op === '==' || c.op === '!=', {
    message: 'text comparisons take == or != only',
  });

/** The checks a rule may hold: exactly one per rule. */
export const CHECKS = [
  'required',
  'pattern',
  'allowed',
  'table',
  'datetime',
  'range',
  'length',
  'compare',
] as const;
export type CheckName = (typeof CHECKS)[number];

/**
 * One declarative rule on an HL7 v2 message: the element it reads (`path`, in the standard's
 * notation, `*` for every occurrence or repetition), the one check it makes, and the issue it
 * raises when the check fails (`code`, `severity`, `message`). `when` makes it conditional.
 */
export const validationRuleSchema = z
  .strictObject({
    code: z
      .string()
      .regex(/^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$/, 'a code is dotted lower-case words, e.g. lab.result_date')
      .describe('Stable dotted code of the issue this rule raises, e.g. lab.result_date.'),
    severity: z
      .enum(['error', 'warning'])
      .default('error')
      .describe('Severity of the issue (default error).'),
    path: z
      .string()
      .min(1)
      .describe('HL7 path of the element checked: PID-7, OBX[*]-5, PID-3[*].1 (* checks every occurrence).'),
    message: z
      .string()
      .min(1)
      .optional()
      .describe('Text of the issue; the default names the location and the check.'),
    when: ruleCondition.optional().describe('Check only when this condition on other elements holds.'),
    required: z
      .literal(true)
      .optional()
      .describe('The element must hold a value (HL7 null "" does not count).'),
    pattern: z
      .string()
      .optional()
      .describe('Regular expression the value must match (anchor it with ^ and $).'),
    allowed: z.array(scalar).min(1).optional().describe('The values allowed.'),
    table: scalar.optional().describe('HL7 table whose codes are allowed: 0001, HL70001.'),
    datetime: z
      .literal(true)
      .optional()
      .describe('The value must be a valid HL7 date/time: YYYY[MM[DD[HH[MM[SS[.S{1,4}]]]]]][+/-ZZZZ].'),
    range: bounds('range').optional().describe('The value must be a number within min and max (inclusive).'),
    length: bounds('length').optional().describe('The number of characters must lie within min and max.'),
    compare: compareCheck
      .optional()
      .describe('Compare the value with another element: value op other (+ offset_days).'),
  })
  .refine((r) => CHECKS.filter((c) => r[c] !== undefined).length === 1, {
    message: `a rule holds exactly one check: ${CHECKS.join(', ')}`,
  });

/** A list of rules, as a channel or transformer file holds them. */
export const validationRulesSchema = z.array(validationRuleSchema);

export type ValidationRule = z.output<typeof validationRuleSchema>;
export type ValidationRuleInput = z.input<typeof validationRuleSchema>;
