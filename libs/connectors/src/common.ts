import { isIP } from 'node:net';
import { z } from 'zod';

/** An http:// or https:// URL; a bad one is answered with the expected form and `example`. */
export function httpUrl(example: string, description: string) {
  return z
    .url({ protocol: /^https?$/, error: `expected an http:// or https:// URL, e.g. ${example}` })
    .describe(description);
}

/** A host and a TCP port. */
export interface HostPort {
  host: string;
  port: number;
}

const LISTEN_FORM =
  'write "HOST:PORT" (e.g. "0.0.0.0:2575"; IPv6 in brackets, "[::1]:2575"), or a port alone for 127.0.0.1';

/** `[v6]:port` or `name:port`; the parts are checked afterwards. */
const HOST_PORT = /^(?:\[([^\]\s]*)\]|([^\s:/[\]@?#]+)):(\d{1,5})$/;

/**
 * Reads `HOST:PORT` (`[IPv6]:PORT`); a message naming the expected form when the text is not
 * one. `minPort` is 0 for listeners (any free port), 1 for peers.
 */
export function parseHostPort(text: string, minPort: number): HostPort | { error: string } {
  const match = HOST_PORT.exec(text.trim());
  if (!match) return { error: 'not a "HOST:PORT" address' };
  const [, v6, name, digits] = match as unknown as [string, string | undefined, string | undefined, string];
  if (v6 !== undefined && isIP(v6) !== 6) return { error: `[${v6}] is not an IPv6 address` };
  const port = Number(digits);
  if (port < minPort || port > 65535) return { error: `port ${digits} is outside ${minPort}–65535` };
  return { host: v6 ?? (name as string), port };
}

/** `host:port`, with an IPv6 host in brackets. */
export function formatHostPort({ host, port }: HostPort): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * The address a listener binds to: `"HOST:PORT"` (`"[::1]:2575"` for IPv6), or a port alone
 * (number or text) meaning 127.0.0.1:PORT. Port 0 picks a free port. Parsed to `{ host, port }`.
 */
export function listenField(defaultPort: number, description: string) {
  const portOnly = `expected a port from 0 to 65535, or "HOST:PORT"`;
  return z
    .union([z.string(), z.int().min(0, portOnly).max(65535, portOnly)], {
      error: `expected an address to listen on: ${LISTEN_FORM}`,
    })
    .transform((value, ctx): HostPort => {
      if (typeof value === 'number') return { host: '127.0.0.1', port: value };
      const text = value.trim();
      const parsed = /^\d+$/.test(text)
        ? Number(text) <= 65535
          ? { host: '127.0.0.1', port: Number(text) }
          : { error: `port ${text} is outside 0–65535` }
        : parseHostPort(text, 0);
      if ('error' in parsed) {
        ctx.addIssue({ code: 'custom', message: `${parsed.error} in "${value}"; ${LISTEN_FORM}` });
        return z.NEVER;
      }
      return parsed;
    })
    .prefault(`127.0.0.1:${defaultPort}`)
    .describe(
      `${description} \`HOST:PORT\` (IPv6 as \`[::1]:${defaultPort}\`), or a port alone for 127.0.0.1; ` +
        '`0.0.0.0:PORT` or `[::]:PORT` accepts connections from other machines, port 0 picks a free port.',
    );
}

/** A positive whole number of milliseconds. */
export function millis(defaultMs: number, description: string) {
  return z.number().int().positive().default(defaultMs).describe(description);
}

/** File extension of a payload type, for file names. */
export const EXTENSION_OF = {
  hl7v2: 'hl7',
  fhir: 'json',
  json: 'json',
  text: 'txt',
  csv: 'csv',
  xml: 'xml',
} as const;

/**
 * What may be logged of an error: its class name and errno/undici code, never its message
 * (which might quote input).
 */
export function errorCode(err: unknown): string {
  // Duck-typed: errors from another realm (a VM context) are not `instanceof Error`.
  if (typeof err !== 'object' || err === null) return typeof err;
  const { code, cause, name } = err as { code?: unknown; cause?: unknown; name?: unknown };
  if (typeof code === 'string') return code;
  if (typeof cause === 'object' && cause !== null) {
    const causeCode = (cause as { code?: unknown }).code;
    if (typeof causeCode === 'string') return causeCode;
  }
  return typeof name === 'string' ? name : 'Error';
}

/** Milliseconds from now until `date` (0 when it is past). */
function msUntil(date: Date): number {
  return Math.max(0, date.getTime() - Date.now());
}

/**
 * A Retry-After header in milliseconds: delay-seconds (`120`) or an HTTP date. Undefined when
 * absent or unreadable.
 */
export function parseRetryAfter(value: string | null | undefined): number | undefined {
  if (value === null || value === undefined) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const date = new Date(text);
  return Number.isNaN(date.getTime()) ? undefined : msUntil(date);
}

/** True for the error fetch throws when its `AbortSignal.timeout` fires. */
export function isTimeout(err: unknown): boolean {
  const name = typeof err === 'object' && err !== null ? (err as { name?: unknown }).name : undefined;
  return name === 'TimeoutError' || name === 'AbortError';
}
