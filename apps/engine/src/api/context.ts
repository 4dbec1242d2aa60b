import type { Principal } from '@sinew/auth';
import type { Request } from 'express';
import type { RouteSpec } from './route';

/** What the admin API learns about one request as it runs: read by handlers and the audit. */
export interface ApiContext {
  spec?: RouteSpec;
  principal?: Principal;
  /** Set when the caller is a browser session (cookie), not a key. */
  session?: { token: string; csrfToken: string };
  params?: unknown;
  query?: unknown;
  body?: unknown;
  /** Ids of the objects the operation touched (messages, deliveries, channels, keys). */
  objectIds: string[];
  /** The search filter by parameter name; values that may be PHI are left out. */
  filter?: Record<string, string>;
  /** Message content (PHI) was returned. */
  contentRead?: boolean;
}

const contexts = new WeakMap<Request, ApiContext>();

export function apiContext(req: Request): ApiContext {
  let c = contexts.get(req);
  if (!c) {
    c = { objectIds: [] };
    contexts.set(req, c);
  }
  return c;
}
