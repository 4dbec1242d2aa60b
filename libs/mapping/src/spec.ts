import { ruleCondition, type RuleCondition } from '@sinew/validation';
import { z } from 'zod';
import { paramsSpec } from './params';

/**
 * A condition on source values (`when`): the one condition language of filters and validation
 * rules (docs/validation.md, "Conditions"); `path` is read like a rule's `from`.
 */
export type Condition = RuleCondition;
export const condition = ruleCondition;

export const unmappedPolicy = z.enum(['error', 'pass_through', 'default', 'drop']);

/**
 * What a source value is expected to be (`expect`): one path and the values it may hold. A
 * value that is present and not one of them is recorded as a `map.unexpected` warning, and the
 * rule (or resource) is skipped, or with `unexpected: write` applied all the same. An empty
 * value is not checked.
 */
export type Expectation =
  | { path: string; equals: string | number }
  | { path: string; in: Array<string | number> }
  | { path: string; matches: string };
const expectedValue = z.union([z.string(), z.number().finite()]);
export const expectation: z.ZodType<Expectation> = z.union([
  z.strictObject({ path: z.string().min(1), equals: expectedValue }),
  z.strictObject({ path: z.string().min(1), in: z.array(expectedValue).min(1) }),
  z.strictObject({ path: z.string().min(1), matches: z.string() }),
]);

/** A function call: a name, or `{ name, args }`. */
export const fnCall = z.union([
  z.string(),
  z.strictObject({ name: z.string(), args: z.record(z.string(), z.unknown()).optional() }),
]);

export interface RuleSpec {
  from?: string;
  const?: unknown;
  ref?: string;
  to: string;
  map?: string;
  fn?: z.infer<typeof fnCall>;
  vocab?: string;
  unmapped?: z.infer<typeof unmappedPolicy>;
  default?: unknown;
  when?: Condition;
  expect?: Expectation;
  unexpected?: 'skip' | 'write';
  required?: boolean;
  following?: string;
  rules?: RuleSpec[];
}

/**
 * One mapping rule: where the value comes from (`from` path, `const`, or `ref` to another
 * produced resource), where it goes (`to`), and how it is turned: a sub-map, a function, a
 * vocabulary map with its policy for unmapped codes, a condition.
 */
export const rule: z.ZodType<RuleSpec> = z.lazy(() =>
  z
    .strictObject({
      from: z.string().min(1).optional(),
      const: z.unknown().optional(),
      ref: z.string().min(1).optional(),
      to: z.string().min(1),
      map: z.string().optional(),
      fn: fnCall.optional(),
      vocab: z.string().optional(),
      unmapped: unmappedPolicy.optional(),
      default: z.unknown().optional(),
      when: condition.optional(),
      expect: expectation.optional(),
      unexpected: z.enum(['skip', 'write']).optional(),
      required: z.boolean().optional(),
      following: z
        .string()
        .regex(/^[A-Z][A-Z0-9]{2}$/)
        .optional(),
      rules: z.array(rule).optional(),
    })
    .refine(
      (r) =>
        [r.rules === undefined ? r.from : undefined, r.const, r.ref, r.rules].filter((v) => v !== undefined)
          .length === 1,
      { message: 'a rule takes exactly one of from, const, ref or rules (rules may read from a from)' },
    )
    .refine((r) => r.rules === undefined || (r.map ?? r.fn ?? r.vocab) === undefined, {
      message: 'rules build the object themselves: no map, fn or vocab beside them',
    })
    .refine((r) => r.unmapped === undefined || r.vocab !== undefined, { message: 'unmapped needs vocab' })
    .refine((r) => r.unexpected === undefined || r.expect !== undefined, {
      message: 'unexpected needs expect',
    })
    .refine((r) => r.unmapped !== 'default' || r.default !== undefined, {
      message: 'unmapped: default needs a default value',
    }),
);

export const inputKind = z.enum(['hl7v2', 'fhir', 'json', 'csv', 'xml']);
export const outputKind = z.enum(['fhir', 'hl7v2', 'json']);

/** A datatype or segment map: rules applied to one value or one segment. */
export const subMapSpec = z.strictObject({
  /** `CX[Identifier]`, `PID[Patient]`: the IG's naming, source type and target type. */
  map: z.string().regex(/^[A-Za-z0-9_]+\[[A-Za-z0-9_.-]+\]$/),
  kind: z.enum(['datatype', 'segment']),
  input: inputKind.default('hl7v2'),
  output: outputKind.default('fhir'),
  description: z.string().optional(),
  rules: z.array(rule).min(1),
});
export type SubMapSpec = z.output<typeof subMapSpec>;

export const vocabularySpec = z.strictObject({
  vocabulary: z.string().regex(/^[A-Za-z0-9_[\].-]+$/),
  description: z.string().optional(),
  /** The v2 table (`HL70001`) or other source code system. */
  source_system: z.string().optional(),
  /** The FHIR code system of the target codes. */
  target_system: z.string().optional(),
  /**
   * Codes of the source table that have no target code: a rule with `unmapped: drop` or
   * `default` drops them (or writes its default) without a warning, as it does for a code it
   * does not know with one.
   */
  no_target: z.array(z.string()).optional(),
  /** Source code → target code, or `{ code, display?, system? }`. Keys compare exactly. */
  codes: z.record(
    z.string(),
    z.union([
      z.string(),
      z.strictObject({ code: z.string(), display: z.string().optional(), system: z.string().optional() }),
    ]),
  ),
});
export type VocabularySpec = z.output<typeof vocabularySpec>;

/**
 * A site's additions to a vocabulary (`transformers/vocab-supplements/*.yaml`): codes added to
 * the vocabulary it names, or mapped otherwise than the vocabulary does, and codes with no
 * target; the vocabulary's own file (generated from the IG) is left as it is.
 */
export const vocabularySupplementSpec = z.strictObject({
  /** The vocabulary supplemented (`FillerStatusCodes[Appointment]`). */
  supplement: z.string().regex(/^[A-Za-z0-9_[\].-]+$/),
  description: z.string().optional(),
  /** Codes with no target code (see the vocabulary's `no_target`). */
  no_target: z.array(z.string()).optional(),
  /** Source code → target code, or `{ code, display?, system? }`: added, or replacing the vocabulary's. */
  codes: z
    .record(
      z.string(),
      z.union([
        z.string(),
        z.strictObject({ code: z.string(), display: z.string().optional(), system: z.string().optional() }),
      ]),
    )
    .default({}),
});
export type VocabularySupplementSpec = z.output<typeof vocabularySupplementSpec>;

export const resourceSpec = z.strictObject({
  /** Local name, used by `ref:` and in deterministic ids. */
  name: z.string().regex(/^[a-z][a-z0-9_]*$/),
  /** FHIR resource type (FHIR output) — omitted for JSON and HL7 v2 output. */
  type: z.string().optional(),
  /** One instance from the first segment of this name (or the message when omitted). */
  segment: z
    .string()
    .regex(/^[A-Z][A-Z0-9]{2}$/)
    .optional(),
  /** One instance per segment of this name (or per FHIRPath / JSON path match). */
  each: z.string().optional(),
  /** With `each`: only the segments that follow each instance of this resource (OBX under OBR). */
  within: z.string().optional(),
  /** A segment map applied to the segment, then `rules`. */
  map: z.string().optional(),
  /**
   * Business identifier: a path to a CX-like value (`PID-3`), or `{ path, type }` for an EI
   * (`SCH-2`: authority in components 2-4) or XCN (`AIP-3`: authority in component 9). Gives a
   * conditional entry (`Patient?identifier=system|value`) and the deterministic id; instances
   * of one type with the same identity are written once.
   */
  identity: z
    .union([z.string(), z.strictObject({ path: z.string(), type: z.enum(['CX', 'EI', 'XCN']) })])
    .optional(),
  /** Only produce the resource when this holds. */
  when: condition.optional(),
  /**
   * What a source value of a produced resource is expected to be: when the value is present
   * and not as expected, the resource is not produced and a `map.unexpected` warning says why.
   */
  expect: expectation.optional(),
  rules: z.array(rule).default([]),
});
export type ResourceSpec = z.output<typeof resourceSpec>;

export const messageMapSpec = z.strictObject({
  transformer: z.string().regex(/^[a-z0-9][a-z0-9-]*$/),
  description: z.string().optional(),
  input: inputKind,
  output: outputKind,
  /** Message types this transformer handles (`ADT^A01`) — `sinew convert` picks by MSH-9. */
  messages: z.array(z.string()).default([]),
  /** For HL7 v2 output: MSH-9 of the message built (`ADT^A31^ADT_A05`) and MSH-12. */
  message_type: z.string().optional(),
  version: z.string().optional(),
  /** Parameters the map takes (`%name` in its rules), given by a channel's map step or a test. */
  params: paramsSpec.default({}),
  resources: z.array(resourceSpec).min(1),
});
export type MessageMapSpec = z.output<typeof messageMapSpec>;

export type TransformerFile =
  | { kind: 'message'; spec: MessageMapSpec }
  | { kind: 'sub'; spec: SubMapSpec }
  | { kind: 'vocabulary'; spec: VocabularySpec }
  | { kind: 'supplement'; spec: VocabularySupplementSpec };
