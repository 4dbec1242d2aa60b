import { stringify } from 'yaml';
import { z } from 'zod';
import type { DestinationDefinition, SourceDefinition } from './connector';
import { DESTINATIONS, SOURCES } from './registry';

/** A JSON Schema node, as far as the reference page reads it. */
export interface SchemaNode {
  type?: string | string[];
  description?: string;
  default?: unknown;
  enum?: unknown[];
  const?: unknown;
  format?: string;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  pattern?: string;
  properties?: Record<string, SchemaNode>;
  required?: string[];
  additionalProperties?: SchemaNode | boolean;
  oneOf?: SchemaNode[];
  anyOf?: SchemaNode[];
}

/** The JSON Schema of a connector's config, as written in a channel file (defaults optional). */
export function configJsonSchema(
  definition: SourceDefinition | DestinationDefinition,
): Record<string, unknown> {
  return z.toJSONSchema(definition.configSchema, { io: 'input', unrepresentable: 'any' }) as Record<
    string,
    unknown
  >;
}

const code = (value: unknown) => `\`${typeof value === 'string' ? value : JSON.stringify(value)}\``;

/** Table cells must not break the row. */
const cell = (text: string) => text.replace(/\|/g, '\\|').replace(/\n/g, ' ');

function typeOf(node: SchemaNode): string {
  if (node.const !== undefined) return code(node.const);
  if (node.enum) return `one of ${node.enum.map(code).join(', ')}`;
  if (node.anyOf) return node.anyOf.map(typeOf).join(' or ');
  if (node.oneOf) return 'object (one of the forms below)';
  const type = Array.isArray(node.type) ? node.type.join(' or ') : (node.type ?? 'any');
  if (type === 'string' && node.format === 'uri') return 'URL';
  if (type === 'integer' || type === 'number') {
    const min = node.minimum ?? (node.exclusiveMinimum !== undefined ? node.exclusiveMinimum + 1 : undefined);
    const max =
      node.maximum !== undefined && node.maximum < Number.MAX_SAFE_INTEGER ? node.maximum : undefined;
    if (min !== undefined && max !== undefined) return `${type} (${min}–${max})`;
    if (min !== undefined) return `${type} (≥ ${min})`;
    return type;
  }
  if (type === 'object' && typeof node.additionalProperties === 'object') {
    return `map of ${typeOf(node.additionalProperties)}`;
  }
  return type;
}

interface Row {
  name: string;
  type: string;
  required: boolean;
  default?: unknown;
  description: string;
}

function rows(node: SchemaNode, prefix: string, condition = ''): Row[] {
  const out: Row[] = [];
  const required = new Set(node.required ?? []);
  for (const [key, child] of Object.entries(node.properties ?? {})) {
    const name = prefix ? `${prefix}.${key}` : key;
    out.push({
      name,
      type: typeOf(child),
      required: required.has(key),
      ...(child.default !== undefined ? { default: child.default } : {}),
      description: condition + (child.description ?? ''),
    });
    if (child.properties) out.push(...rows(child, name));
    for (const form of child.oneOf ?? []) {
      const tag = Object.entries(form.properties ?? {}).find(([, p]) => p.const !== undefined);
      const when = tag ? `With \`${tag[0]}: ${String(tag[1].const)}\`: ` : '';
      out.push(...rows(form, name, when));
    }
  }
  return out;
}

/** A table of the settings a JSON Schema object declares: field, type, default, description. */
export function schemaTable(schema: SchemaNode): string {
  const lines = ['| field | type | default | description |', '| --- | --- | --- | --- |'];
  for (const row of rows(schema, '')) {
    const type = row.required ? `${row.type}, **required**` : row.type;
    const fallback = row.default !== undefined ? code(row.default) : '';
    lines.push(`| \`${row.name}\` | ${cell(type)} | ${cell(fallback)} | ${cell(row.description)} |`);
  }
  return lines.join('\n');
}

function section(definition: SourceDefinition | DestinationDefinition): string {
  const example = stringify({ type: definition.type, ...definition.example }, { lineWidth: 0 }).trimEnd();
  return [
    `### \`${definition.type}\` ${definition.kind}`,
    '',
    definition.description,
    '',
    `**Guarantee.** ${definition.guarantee}`,
    '',
    schemaTable(configJsonSchema(definition) as SchemaNode),
    '',
    'Example:',
    '',
    '```yaml',
    example,
    '```',
  ].join('\n');
}

const INTRO = `# Connectors

Generated from the connector declarations in \`libs/connectors/src\` by \`connectorDocs()\`; do not
edit by hand. After changing a declaration, regenerate it with \`npm run docs\`.

A channel has one **source**, which receives messages, and any number of **destinations**, which
deliver them. Each connector's settings are checked against the schema below when the channel is
loaded: unknown fields, wrong types and out-of-range values are errors, never silently ignored.
Values may be written as \`\${ENV_VAR}\` to keep secrets and per-environment values out of the
file.

## How a source replies

A source hands each message to the channel, which stores it before anything is acknowledged. The
channel's answer becomes the protocol's reply:

| outcome | meaning | MLLP | HTTP | file, sftp |
| --- | --- | --- | --- | --- |
| accepted | stored | the channel's ACK (AA/CA) | HL7 v2: 200 with the ACK; FHIR/JSON: 202 with a JSON body | moved to \`done_directory\` |
| duplicate | seen before | the original ACK again | as accepted (200) | moved to \`done_directory\` |
| rejected | bad input, or refused by the pipeline | AE/AR with an ERR segment | 4xx (400 by default) with the NACK or an OperationOutcome | moved to \`error_directory\` |
| unavailable | could not be stored | AR: the sender keeps the message and sends it again | 503 with \`Retry-After\` | left in place, tried again on the next scan |
| failure inside Sinew | the channel failed | AR (ERR 207) | 500 (AR for HL7 v2, else an OperationOutcome) | left in place |

The HTTP source also answers by itself: 401 without the configured bearer token, 404 on another
path, 405 for methods other than POST (GET answers a short JSON status), 413 for a body over
\`max_body_bytes\`, 415 for an unsupported Content-Type (or \`text/plain\` that is not HL7 v2), and 400
for an empty body or malformed JSON (the diagnostics give the line and column). Every refusal
carries a FHIR OperationOutcome.

The \`fhir\` source answers through the FHIR API's write routes: accepted is 202 with a status
link, rejected by the pipeline 422, unavailable 503, each with an OperationOutcome (see
docs/open-api/writes.md).

## How a destination classifies a delivery

Each attempt ends in one of three states; the destination's retry policy does the rest.

| state | what happens next | MLLP | HTTP | FHIR | file, sftp |
| --- | --- | --- | --- | --- | --- |
| sent | done | AA/CA | 2xx | 2xx without error issues, and no failing transaction/batch entry | written (uploaded) and renamed into place |
| retry | tried again with backoff (\`Retry-After\` honoured), dead-lettered after the last attempt | AE/CE (with \`on_application_error: retry\`), no ACK in time, connection refused or dropped, a reply that is not an ACK | 408, 429, 5xx, network errors, timeouts | as HTTP, and a failing entry with such a status | any I/O error (disk full, permissions, missing mount); sftp: the server down or the connection dropped |
| failed | dead-lettered at once, replayable | AR/CR (and AE/CE with \`on_application_error: fail\`), a payload that is not HL7 v2 | other 4xx, 3xx | other 4xx (the OperationOutcome's diagnostics are kept), a 2xx OperationOutcome with errors, a missing id or identifier for \`update\`/\`conditional\` | a template that leaves the folder; with \`batch\`, a payload that is not HL7 v2; sftp: a refused login or host key |

The peer's answer (ACK, response body) is kept with the delivery, and a short code
(\`AA\`, \`HTTP 503\`, \`ECONNREFUSED\`, \`TIMEOUT\`) summarises it.`;

/** The connector reference (docs/reference/connectors.md), rendered from the declarations. */
export function connectorDocs(): string {
  return [
    INTRO,
    '',
    '## Sources',
    '',
    Object.values(SOURCES).map(section).join('\n\n'),
    '',
    '## Destinations',
    '',
    Object.values(DESTINATIONS).map(section).join('\n\n'),
    '',
  ].join('\n');
}
