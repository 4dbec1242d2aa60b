import { z } from 'zod';
import type { DestinationDefinition, SourceDefinition } from '@sinew/connectors';
import { messageMapSpec, subMapSpec, vocabularySpec, vocabularySupplementSpec } from '@sinew/mapping';
import { channelSchema, destinationCommon } from '../schema';

/** A JSON Schema node, as far as these functions read and write it. */
export type JsonSchema = { [key: string]: unknown };

/** A value holding a `${…}` reference: checked once it is resolved, so any text goes here. */
const REFERENCE: JsonSchema = {
  type: 'string',
  pattern: '\\$\\{[^}]+\\}',
  description: 'a ${VAR}, ${VAR:-default} or ${file:PATH} reference, checked once resolved',
};
const TO_REFERENCE = { $ref: '#/definitions/reference' };

const SCHEMA_OPTIONS = { target: 'draft-7', io: 'input', unrepresentable: 'any' } as const;

function objectShape(schema: z.ZodType, what: string): z.ZodRawShape {
  if (!(schema instanceof z.ZodObject)) throw new Error(`${what}: the config schema is not an object`);
  return schema.shape;
}

/** The first sentence of a connector's description: what an editor shows beside `type`. */
function summary(text: string): string {
  const end = text.search(/\.(\s|$)/);
  return end < 0 ? text : text.slice(0, end + 1);
}

/**
 * The channel file with each source and destination described by its `type`: one closed
 * branch per connector (its settings, plus the common destination settings), so that an
 * editor completes `base_url` under `type: fhir` and flags it under `type: mllp`.
 */
export function editorChannelSchema(
  sources: Record<string, SourceDefinition>,
  destinations: Record<string, DestinationDefinition>,
): z.ZodType {
  const sourceBranches = Object.values(sources).map((d) =>
    z.strictObject({
      type: z.literal(d.type).describe(summary(d.description)),
      ...objectShape(d.configSchema, `source ${d.type}`),
    }),
  );
  const destinationBranches = Object.values(destinations).map((d) =>
    z.strictObject({
      ...destinationCommon,
      type: z.literal(d.type).describe(summary(d.description)),
      ...objectShape(d.configSchema, `destination ${d.type}`),
    }),
  );
  const [firstSource, ...otherSources] = sourceBranches;
  const [firstDestination, ...otherDestinations] = destinationBranches;
  if (!firstSource || !firstDestination) throw new Error('no connectors');
  return channelSchema.extend({
    source: z
      .union([firstSource, ...otherSources])
      .describe('where messages come from: a source connector (`type`) and its settings'),
    destinations: z
      .array(z.union([firstDestination, ...otherDestinations]))
      .default([])
      .describe('where messages go: each a destination connector (`type`), its settings and the common ones'),
  });
}

/**
 * Lets every value that is checked beyond "some text" (numbers, booleans, choices, patterns,
 * URLs) also be written as a `${…}` reference, as channel files may.
 */
function allowReferences(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(allowReferences);
  if (!node || typeof node !== 'object') return node;
  const out: JsonSchema = {};
  for (const [k, v] of Object.entries(node as JsonSchema)) {
    // zod writes "no bound" on integers as the largest safe integer.
    if ((k === 'maximum' || k === 'minimum') && Math.abs(v as number) === Number.MAX_SAFE_INTEGER) continue;
    out[k] = k === 'enum' || k === 'const' || k === 'default' || k === 'examples' ? v : allowReferences(v);
  }
  if (Array.isArray(out.anyOf)) {
    // A union of which a branch was given a reference: one list, one reference.
    const branches = (out.anyOf as JsonSchema[]).flatMap((b) =>
      Object.keys(b).length === 1 && Array.isArray(b.anyOf) ? (b.anyOf as JsonSchema[]) : [b],
    );
    const refs = branches.filter((b) => b.$ref === TO_REFERENCE.$ref);
    out.anyOf = refs.length
      ? [...branches.filter((b) => b.$ref !== TO_REFERENCE.$ref), TO_REFERENCE]
      : branches;
    return out;
  }
  const type = out.type;
  const checked =
    out.const === undefined &&
    (type === 'integer' ||
      type === 'number' ||
      type === 'boolean' ||
      (type === 'string' &&
        (out.pattern !== undefined || out.format !== undefined || out.enum !== undefined)));
  if (!checked) return out;
  const { description, default: fallback, examples, ...value } = out;
  return {
    ...(description !== undefined ? { description } : {}),
    ...(fallback !== undefined ? { default: fallback } : {}),
    ...(examples !== undefined ? { examples } : {}),
    anyOf: [value, TO_REFERENCE],
  };
}

/** The JSON Schema of channel files (schemas/channel.schema.json). */
export function channelJsonSchema(
  sources: Record<string, SourceDefinition>,
  destinations: Record<string, DestinationDefinition>,
): JsonSchema {
  const schema = z.toJSONSchema(editorChannelSchema(sources, destinations), SCHEMA_OPTIONS);
  const { $schema, definitions, ...rest } = allowReferences(schema) as JsonSchema;
  return {
    $schema,
    title: 'Sinew channel file',
    description:
      'A channel: where messages come from, what happens to them, where they go. See docs/channels.md.',
    ...rest,
    definitions: { ...(definitions as JsonSchema | undefined), reference: REFERENCE },
  };
}

/** The JSON Schema of transformer files (schemas/transformer.schema.json). */
export function transformerJsonSchema(): JsonSchema {
  const schema = z.toJSONSchema(
    z.union([messageMapSpec, subMapSpec, vocabularySpec, vocabularySupplementSpec]),
    SCHEMA_OPTIONS,
  );
  const { $schema, ...rest } = schema as JsonSchema;
  return {
    $schema,
    title: 'Sinew transformer file',
    description:
      'A message map (transformer:), a segment or datatype map (map:), a vocabulary (vocabulary:) or a vocabulary supplement (supplement:). See docs/transformers.md.',
    ...rest,
  };
}

/** The text of a schema file: two-space JSON and a final newline. */
export function schemaText(schema: JsonSchema): string {
  return `${JSON.stringify(schema, null, 2)}\n`;
}
