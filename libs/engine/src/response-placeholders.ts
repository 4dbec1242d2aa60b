import { DEFAULT_DELIMITERS, encodeValue, Hl7Message, readDelimiters, type Delimiters } from '@sinew/hl7v2';
import type { ContentType } from '@sinew/store';

/**
 * `${response.<destination>.<part>}` in a payload: a value of the response that the awaited
 * destination (`after:`) received when it sent the same message. Parts:
 * - `code`: the attempt's outcome code (`AA`, `HTTP 201`);
 * - `body`: the whole response, as text;
 * - `json.<path>`: a value of a JSON response (`id`, `entry.0.response.location`; `entry[0]` too);
 * - `hl7.<path>`: a field of an HL7 v2 response (`MSA-2`, `MSH-10`), decoded.
 */
export const RESPONSE_PLACEHOLDER = /\$\{response\.([^}]*)\}/g;
const PARTS = /^([A-Za-z0-9_-]{1,64})\.(code|body|json|hl7)(?:\.(.+))?$/;

/** What a destination's accepted attempt returned. */
export interface AwaitedResponse {
  destination: string;
  code?: string;
  response?: Buffer;
}

export class PlaceholderError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PlaceholderError';
  }
}

/** Whether a payload holds any response placeholder (a cheap byte search first). */
export function hasResponsePlaceholder(body: Buffer): boolean {
  return (
    body.includes('${response.') && new RegExp(RESPONSE_PLACEHOLDER.source).test(body.toString('latin1'))
  );
}

/**
 * The payload with its response placeholders replaced by values of `awaited`, each escaped for
 * the payload's kind (JSON string escapes in JSON and FHIR, HL7 escapes in HL7 v2, XML entities
 * in XML) and written as UTF-8. Throws PlaceholderError, naming the first placeholder that
 * cannot be resolved and why: a payload is sent whole or not at all.
 */
export function resolveResponsePlaceholders(
  body: Buffer,
  contentType: ContentType,
  awaited: AwaitedResponse,
): Buffer {
  // Placeholders are ASCII: their offsets in the latin1 reading are byte offsets.
  const text = body.toString('latin1');
  const parts: Buffer[] = [];
  let last = 0;
  for (const m of text.matchAll(RESPONSE_PLACEHOLDER)) {
    const value = readPart(m[1] ?? '', m[0], awaited);
    parts.push(body.subarray(last, m.index), Buffer.from(escapeFor(contentType, value, text), 'utf8'));
    last = m.index + m[0].length;
  }
  if (parts.length === 0) return body;
  parts.push(body.subarray(last));
  return Buffer.concat(parts);
}

function readPart(inner: string, whole: string, awaited: AwaitedResponse): string {
  const m = PARTS.exec(inner);
  if (!m)
    throw new PlaceholderError(
      `placeholder ${whole}: write \${response.<destination>.code}, .body, .json.<path> or .hl7.<path>`,
    );
  const [, name, part, path] = m as unknown as [string, string, string, string | undefined];
  if (name !== awaited.destination)
    throw new PlaceholderError(
      `placeholder ${whole}: this destination waits for ${awaited.destination}, not ${name} (after: names the destination whose response it reads)`,
    );
  if (part === 'code' || part === 'body') {
    if (path !== undefined) throw new PlaceholderError(`placeholder ${whole}: .${part} takes no path`);
    const value = part === 'code' ? awaited.code : awaited.response?.toString('utf8');
    if (value === undefined || value === '')
      throw new PlaceholderError(`placeholder ${whole}: destination ${name} recorded no response ${part}`);
    return value;
  }
  if (path === undefined) throw new PlaceholderError(`placeholder ${whole}: .${part} needs a path`);
  if (!awaited.response?.length)
    throw new PlaceholderError(`placeholder ${whole}: destination ${name} recorded no response`);
  return part === 'json'
    ? readJson(awaited.response, path, whole, name)
    : readHl7(awaited.response, path, whole, name);
}

function readJson(response: Buffer, path: string, whole: string, name: string): string {
  let current: unknown;
  try {
    current = JSON.parse(response.toString('utf8'));
  } catch {
    throw new PlaceholderError(`placeholder ${whole}: the response of ${name} is not JSON`);
  }
  const steps = path
    .replace(/\[(\d+)\]/g, '.$1')
    .split('.')
    .filter((s) => s !== '');
  for (const step of steps) {
    if (Array.isArray(current) && /^\d+$/.test(step)) current = current[Number(step)];
    else if (current !== null && typeof current === 'object' && !Array.isArray(current))
      current = Object.prototype.hasOwnProperty.call(current, step)
        ? (current as Record<string, unknown>)[step]
        : undefined;
    else current = undefined;
    if (current === undefined) break;
  }
  if (typeof current === 'string' && current !== '') return current;
  if (typeof current === 'number' || typeof current === 'boolean') return String(current);
  throw new PlaceholderError(
    current === undefined || current === null || current === ''
      ? `placeholder ${whole}: the response of ${name} has no value at ${path}`
      : `placeholder ${whole}: the response of ${name} has a list or an object at ${path}, not one value`,
  );
}

function readHl7(response: Buffer, path: string, whole: string, name: string): string {
  let value: string;
  try {
    value = Hl7Message.parse(response).get(path);
  } catch (err) {
    throw new PlaceholderError(
      `placeholder ${whole}: cannot read ${path} from the response of ${name} (${(err as Error).message})`,
    );
  }
  if (value === '')
    throw new PlaceholderError(`placeholder ${whole}: the response of ${name} has no ${path}`);
  return value;
}

function escapeFor(contentType: ContentType, value: string, payload: string): string {
  switch (contentType) {
    case 'json':
    case 'fhir':
      // Inside a JSON string: its escapes, without the quotes.
      return JSON.stringify(value).slice(1, -1);
    case 'hl7v2':
      return encodeValue(value, delimitersOf(payload));
    case 'xml':
      return value
        .replace(/&/g, '&amp;')
        .replace(/</g, '&lt;')
        .replace(/>/g, '&gt;')
        .replace(/"/g, '&quot;')
        .replace(/'/g, '&apos;');
    default:
      return value;
  }
}

function delimitersOf(payload: string): Delimiters {
  const header = payload.split(/[\r\n]/, 1)[0] ?? '';
  try {
    return readDelimiters(header);
  } catch {
    return DEFAULT_DELIMITERS;
  }
}
