import type { AppGate, AuditLog } from '@sinew/auth';
import type { HubStore, HubWriteRouter } from '@sinew/hub';

/** What the FHIR R4 API (`/fhir/R4`) works with. */
export interface FhirDeps {
  /** The clinic data hub: reads, searches, `$everything`, `$export` (consent applied by the hub). */
  hub: HubStore;
  /** Who the bearer is, the app's rate limit, and its call log and misuse. */
  apps: AppGate;
  /**
   * The admin API's audit log: each request is appended (the app, the route template, the
   * `Type/id`s returned, the search's parameter names, the status), never content.
   */
  audit?: Pick<AuditLog, 'append'>;
  /** Writes routed back to the source systems, when some channel takes them. */
  writes?: HubWriteRouter;
  /**
   * The engine's public URL (`https://sinew.example.org`): links, `fullUrl`s and export file
   * URLs start with `${baseUrl}/fhir/R4`. Unset: the request's own scheme and Host.
   */
  baseUrl?: string;
  /** The OAuth2 token endpoint apps get their tokens from; unset: `${baseUrl}/oauth/token`. */
  tokenUrl?: string;
  /** Where bulk exports keep their jobs and NDJSON files (`<dataDir>/fhir-export/`). */
  dataDir: string;
  /** Logs ids, counts and states; never resource content. */
  logger?: { warn(obj: object, msg: string): void; error(obj: object, msg: string): void };
}

export const FHIR_DEPS = Symbol('FHIR_DEPS');

/** The FHIR base path every route is under. */
export const FHIR_BASE = '/fhir/R4';
