import { z } from 'zod';

/** Address a listener binds to. */
export const listenHost = z
  .string()
  .min(1)
  .default('127.0.0.1')
  .describe('Address to listen on. `0.0.0.0` or `::` accepts connections from other machines.');

/** A TCP port (0 lets the system pick a free one). */
export function portField(defaultPort: number, description: string) {
  return z.number().int().min(0).max(65535).default(defaultPort).describe(description);
}

/** A positive whole number of milliseconds. */
export function millis(defaultMs: number, description: string) {
  return z.number().int().positive().default(defaultMs).describe(description);
}

/** File extension of a payload type, for file names. */
export const EXTENSION_OF = { hl7v2: 'hl7', fhir: 'json', json: 'json', text: 'txt' } as const;

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
