import { z } from 'zod';
import { schemaTable, type SchemaNode } from '@sinew/connectors';
import { channelSchema, destinationCommon, filterStep, mapStep, validateStep } from '../schema';

const SCHEMA_OPTIONS = { target: 'draft-7', io: 'input', unrepresentable: 'any' } as const;

function table(schema: z.ZodType): string {
  return schemaTable(z.toJSONSchema(schema, SCHEMA_OPTIONS) as SchemaNode);
}

function description(schema: z.ZodType): string {
  return schema.description ?? '';
}

function capitalise(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** YAML examples of the page, by section: each is a channel's `pipeline:` or `destinations:` part. */
export const PIPELINE_EXAMPLES = {
  filter: `pipeline:
  - filter: { path: MSH-9.1, equals: ORU }
  - filter: { any: [{ path: MSH-9.2, equals: A01 }, { path: MSH-9.2, equals: A04 }] }
  - filter: { not: { path: PID-3.1, present: false } }
  - filter: { path: MSH-4, matches: '^LAB-(NORTH|SOUTH)$' }`,
  validate: `pipeline:
  - validate:
      policy: reject
      structure: true
      rules:
        - { code: lab.mrn, path: PID-3.1, required: true }`,
  map: `pipeline:
  - map: { transformer: oru-to-fhir, policy: dead_letter, validate_output: true }`,
  destination: `destinations:
  - name: ehr
    type: fhir
    base_url: http://127.0.0.1:8090/fhir
    ordering: PID-3.1
    retry: { attempts: 20, initial_delay_ms: 1000, multiplier: 2, max_delay_ms: 120000, jitter: 0.2 }
    concurrency: 4
    filter: { path: OBR-25, equals: F }`,
} as const;

const yaml = (text: string) => ['```yaml', text, '```'].join('\n');

/** The pipeline steps and common destination settings page (docs/reference/pipeline-steps.md). */
export function pipelineStepsReference(): string {
  const shape = channelSchema.shape;
  const channelSettings = z.strictObject({
    id: shape.id,
    description: shape.description,
    enabled: shape.enabled,
    ack: shape.ack.describe('when and how a message is acknowledged to the sender'),
    duplicates: shape.duplicates.describe('duplicate detection'),
    keys: shape.keys,
  });
  return [
    '# Pipeline steps and destination settings',
    '',
    'Generated from the channel schema (`libs/channels/src/schema.ts`) by `npm run docs`; do not edit',
    'by hand. The channel file as a whole is described in [channels.md](../channels.md); the settings',
    "of each source and destination connector in [connectors.md](connectors.md). Each key's type,",
    'default and meaning below are those `sinew lint` and the engine check.',
    '',
    '## Channel settings',
    '',
    table(channelSettings),
    '',
    '## Pipeline steps',
    '',
    'A channel\u2019s `pipeline` is a list of steps run in order on every message that was committed; each',
    'list item has exactly one key: `filter`, `validate` or `map`.',
    '',
    '### `filter`',
    '',
    `${capitalise(description(filterStep.shape.filter))}.`,
    '',
    'A condition is one of:',
    '',
    '| form | holds when |',
    '| --- | --- |',
    '| `{ path: PID-3.1, equals: X }` | the value at the HL7 path is X (numbers compare as numbers: `1.0` equals `1`) |',
    '| `{ path: MSH-9.2, in: [A01, A04] }` | the value is one of the list |',
    '| `{ path: PID-3.1, present: true }` | the element has a value (`present: false`: it has none; `""` counts as none) |',
    '| `{ path: MSH-4, matches: REGEX }` | the value matches the regular expression (JavaScript syntax) |',
    '| `{ all: [ … ] }`, `{ any: [ … ] }`, `{ not: … }` | every / at least one / not the inner condition |',
    '| `{ fhirpath: EXPR }` | the FHIRPath expression gives true (FHIR and JSON messages) |',
    '',
    'Paths are written as the HL7 standard writes them (`PID-3[2].1`, `OBX[3]-5`); see',
    '[hl7v2.md](../hl7v2.md#reading-a-message).',
    '',
    yaml(PIPELINE_EXAMPLES.filter),
    '',
    '### `validate`',
    '',
    'Checks the message; what an error does depends on `policy`. Rules are described in',
    '[validation.md](../validation.md).',
    '',
    table(validateStep.shape.validate),
    '',
    yaml(PIPELINE_EXAMPLES.validate),
    '',
    '### `map`',
    '',
    'Turns the message into another with a transformer (built-in ones: [builtin-maps.md](../builtin-maps.md);',
    'functions a transformer may call: [functions.md](functions.md)).',
    '',
    table(mapStep.shape.map),
    '',
    yaml(PIPELINE_EXAMPLES.map),
    '',
    '## Settings every destination has',
    '',
    'Beside its connector\u2019s own settings ([connectors.md](connectors.md)), each entry of',
    '`destinations` takes these.',
    '',
    table(
      z.strictObject({
        ...destinationCommon,
        // A condition, as the filter step takes it (above).
        filter: z
          .object({})
          .optional()
          .describe(`${description(destinationCommon.filter)}: a condition, as for the filter step`),
      }),
    ),
    '',
    yaml(PIPELINE_EXAMPLES.destination),
    '',
  ].join('\n');
}
