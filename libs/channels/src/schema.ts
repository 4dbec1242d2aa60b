import { z } from 'zod';
import { ruleCondition, validationRulesSchema } from '@sinew/validation';

/**
 * The channel file, declared once: the compiler checks files against it, and the JSON Schema
 * for editors and the reference pages are generated from it. Every duration is a whole number
 * of milliseconds in a key ending in `_ms` (the conventions test checks this).
 */

const millis = (defaultMs: number, description: string) =>
  z.number().int().min(0).default(defaultMs).describe(`${description} (milliseconds)`);

/** Channel, destination and key names: they become parts of queue names and job ids. */
export const NAME = /^[A-Za-z0-9_-]{1,64}$/;
const name = z.string().regex(NAME, 'letters, digits, `_` and `-` only (at most 64)');

/** A condition on the message: HL7 paths (`{ path: MSH-9.2, equals: R01 }`) or FHIRPath. */
export const filterCondition = z.union([
  ruleCondition,
  z.strictObject({ fhirpath: z.string().min(1).describe('a FHIRPath expression; true keeps the message') }),
]);
export type FilterCondition = z.output<typeof filterCondition>;

export const STEP_POLICIES = ['reject', 'dead_letter', 'continue'] as const;
const stepPolicy = z.enum(STEP_POLICIES);
export type StepPolicy = (typeof STEP_POLICIES)[number];

export const filterStep = z.strictObject({
  filter: filterCondition.describe(
    'keeps the messages for which the condition holds; the others are recorded as filtered',
  ),
});
export const validateStep = z.strictObject({
  validate: z.strictObject({
    rules: validationRulesSchema.default([]).describe('declarative rules (docs/validation.md)'),
    structure: z
      .boolean()
      .default(false)
      .describe('also check the HL7 message structure of its type and version'),
    policy: stepPolicy
      .default('reject')
      .describe(
        'what an error does: reject (negative ACK when ack.when is processed), dead_letter, continue',
      ),
  }),
});
/** Values of a transformer's parameters, by name. */
const transformerParams = z.record(z.string(), z.union([z.string(), z.number(), z.boolean()]));

export const mapStep = z.strictObject({
  map: z.strictObject({
    transformer: z.string().min(1).describe('a transformer name (built-in or under --transformers)'),
    params: transformerParams
      .optional()
      .describe("values of the transformer's parameters (its params:), e.g. { event: A28 }"),
    validate_output: z
      .boolean()
      .default(false)
      .describe('validate the output (FHIR R4 validity, or HL7 structure)'),
    strict: z
      .boolean()
      .default(false)
      .describe(
        'a required element the message leaves empty is a mapping error, not its default with a warning',
      ),
    policy: stepPolicy.default('dead_letter').describe('what a mapping error does'),
  }),
});

/** The pipeline's steps, by their one key. */
export const STEP_SCHEMAS = { filter: filterStep, validate: validateStep, map: mapStep } as const;
export const pipelineStepSchema = z.union([filterStep, validateStep, mapStep]);
export type PipelineStep = z.output<typeof pipelineStepSchema>;

export const retrySchema = z.strictObject({
  attempts: z
    .number()
    .int()
    .min(1)
    .max(1000)
    .default(10)
    .describe('attempts in all, first included; then the delivery is dead-lettered'),
  initial_delay_ms: millis(1_000, 'delay before the first retry'),
  multiplier: z.number().min(1).max(10).default(2).describe('each retry waits this many times longer'),
  max_delay_ms: millis(300_000, 'upper bound of one delay'),
  jitter: z.number().min(0).max(1).default(0.2).describe('random spread, as a fraction of the delay'),
});
export type RetryPolicy = z.output<typeof retrySchema>;

/** The settings every destination has; the rest of its entry is its connector's settings. */
export const destinationCommon = {
  name: name.describe('the destination name, unique in the channel'),
  type: z.string().min(1).describe('the destination connector'),
  ordering: z
    .string()
    .min(1)
    .default('none')
    .describe(
      'none (parallel), channel (strict FIFO), or an HL7 path / FHIRPath giving the key (FIFO per key): PID-3.1',
    ),
  retry: retrySchema
    .prefault({})
    .describe('attempts and backoff; after the last attempt the delivery is dead-lettered'),
  transformer: z
    .string()
    .min(1)
    .optional()
    .describe("this destination's own transformer (else the pipeline's output, else the raw message)"),
  transformer_params: transformerParams
    .optional()
    .describe("values of the destination transformer's parameters (its params:), e.g. { event: A28 }"),
  payload: z
    .enum(['output', 'raw'])
    .default('output')
    .describe(
      'output: what the pipeline (or this destination\u2019s transformer) produced; raw: the message as received',
    ),
  filter: filterCondition.optional().describe('sends only the messages for which the condition holds'),
  after: name
    .optional()
    .describe(
      'the name of another destination of the channel: this one sends a message only once that one has sent it, and may use its response (${response.<name>.code}, .json.<path>, .hl7.<field>)',
    ),
  concurrency: z
    .number()
    .int()
    .min(1)
    .max(256)
    .default(4)
    .describe('deliveries of this destination at once per worker process'),
};
export const DESTINATION_COMMON_KEYS: ReadonlySet<string> = new Set(Object.keys(destinationCommon));

export const ackSchema = z.strictObject({
  when: z
    .enum(['received', 'processed'])
    .default('received')
    .describe('received: ACK once committed; processed: after the pipeline'),
  mode: z
    .enum(['original', 'enhanced'])
    .default('original')
    .describe('original: AA/AE/AR; enhanced: CA/CE/CR commit ACKs'),
  timeout_ms: millis(10_000, 'with when: processed, how long the ACK may wait for the pipeline'),
});

export const channelSchema = z.strictObject({
  id: name.describe('unique channel id'),
  description: z.string().optional().describe('what the channel is for'),
  enabled: z.boolean().default(true).describe('false: the channel is checked but not deployed'),
  source: z
    .looseObject({ type: z.string().min(1).describe('the source connector') })
    .describe('the source connector and its settings'),
  ack: ackSchema.prefault({}),
  duplicates: z
    .strictObject({
      window_ms: millis(
        86_400_000,
        'same sender + MSH-10 within this window gets the original ACK; 0 turns detection off',
      ),
    })
    .prefault({}),
  keys: z
    .record(name, z.string().min(1))
    .default({})
    .describe('business keys to index: name → HL7 path (mrn: PID-3.1), or FHIRPath for FHIR/JSON input'),
  pipeline: z.array(pipelineStepSchema).default([]).describe('filter, validate and map steps, in order'),
  destinations: z.array(z.looseObject(destinationCommon)).default([]),
});

export type ChannelSpec = z.output<typeof channelSchema>;
