import type { z } from 'zod';
import type { SideReader } from '../types';

/**
 * The one error every reconciliation adapter throws when it cannot read a side: it names the
 * system, what was asked (a URL, a query, a file) and the status or error code it got, never a
 * record's values.
 */
export class ReconcileReadError extends Error {
  readonly system: string;
  /** The URL, query or path that failed. */
  readonly target?: string;
  /** The HTTP status, SQL error code or system error code, when there was one. */
  readonly code?: string | number;

  constructor(
    system: string,
    message: string,
    details: { target?: string; code?: string | number; cause?: unknown } = {},
  ) {
    super(`system ${system}: ${message}`, details.cause !== undefined ? { cause: details.cause } : undefined);
    this.name = 'ReconcileReadError';
    this.system = system;
    if (details.target !== undefined) this.target = details.target;
    if (details.code !== undefined) this.code = details.code;
  }
}

/** What an adapter is given besides its settings. */
export interface AdapterDeps {
  /** The system's name in the reconciliation file (for error messages). */
  systemName?: string;
  /** `fetch` to use (default: the global one). */
  fetch?: typeof globalThis.fetch;
  /** Each HTTP request's timeout in milliseconds (default 30,000). */
  timeoutMs?: number;
  /** The reconciliation's IANA time zone, for dates in file names (default UTC). */
  timezone?: string;
}

/** A URL without its query string's values, for error messages (queries may carry identifiers). */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.username = '';
    parsed.password = '';
    return parsed.toString();
  } catch {
    return url;
  }
}

/**
 * One adapter type: the zod schemas of a system's settings and of an entity side's settings,
 * and the factory that makes a reader of them.
 */
export interface AdapterDefinition<System = unknown, SideSettings = unknown> {
  type: string;
  system: z.ZodType<System>;
  side: z.ZodType<SideSettings>;
  create(system: System, side: SideSettings, deps: AdapterDeps): SideReader;
}
