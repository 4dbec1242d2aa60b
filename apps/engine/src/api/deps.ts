import type { AccessService, AppGate, AppsService, AuditLog } from '@sinew/auth';
import type { ChannelRegistries, LintProblem } from '@sinew/channels';
import type { DeployReport, Engine, EngineLogger } from '@sinew/engine';
import type { HubStore } from '@sinew/hub';
import type { Reconciler } from '@sinew/reconcile';
import type { Store } from '@sinew/store';
import type { OverviewEvents } from './events';
import type { OidcSignIn } from './oidc';
import type { OverviewReader } from './overview';
import type { RateLimiter, RatePolicy } from './rate-limit';
import type { WebhooksApiDeps } from './webhooks.controller';

/** What the admin API's controllers and guard work with. */
export interface ApiDeps {
  engine: Engine;
  store: Store;
  access: AccessService;
  audit: AuditLog;
  /** The app registry (admin routes, the token endpoint for app clients, an app's own call log). */
  apps: AppsService;
  /** What the FHIR API asks on every request (the same registry). */
  appGate: AppGate;
  limiter: RateLimiter;
  /** Requests per client and route. */
  rate: RatePolicy;
  logger: EngineLogger;
  /** The dashboard's overview (GET /api/v1/overview, and the events). */
  overview: OverviewReader;
  /** The live overview's server-sent events (one timer for every subscriber). */
  events: OverviewEvents;
  /** SINEW_OAUTH_ISSUER: the engine's public URL (client assertions' `aud` is its /oauth/token). */
  oauthIssuer?: string;
  /** People's single sign-on, when SINEW_OIDC_ISSUER is set. */
  oidc?: OidcSignIn;
  /**
   * Compiles the channel folder the engine runs from again and deploys what changed (what
   * SIGHUP and `sinew deploy` do); `by` is who asked (`user:NAME`, `key:NAME`). Set once the
   * engine has started.
   */
  reload?: (by: string) => Promise<FolderDeploy>;
  /** The channel folder the engine runs from (absolute). */
  channelsDir?: string;
  /** Transformer folders beside the built-in ones (SINEW_TRANSFORMERS_DIRS). */
  transformerDirs?: readonly string[];
  /** The connectors and transformers the engine compiles channels with. */
  registries?: ChannelRegistries;
  /** The reconciliations this process knows (the `reconciliations/` folder), when it has one. */
  reconciler?: Reconciler;
  /** The clinic data hub in the ledger's database (the FHIR API and consent read it). */
  hub?: HubStore;
  /** Apps' webhook subscriptions, their delivery log, and FHIR Subscriptions. */
  webhooks?: WebhooksApiDeps;
}

/** What a redeploy of the channel folder did. */
export interface FolderDeploy {
  /** Absent when the folder did not compile: nothing changed. */
  report?: DeployReport;
  /** The folder's findings: its errors when refused, else its warnings. */
  problems: LintProblem[];
  /** Why it was refused, when it was for another reason than findings. */
  refusal?: string;
}

export const API_DEPS = Symbol('API_DEPS');
