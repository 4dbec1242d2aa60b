import type https from 'node:https';
import { z } from 'zod';
import { httpUrl, millis } from './common';
import type {
  DeliveryOutcome,
  DeliveryRequest,
  Destination,
  DestinationContext,
  DestinationDefinition,
} from './connector';
import { httpRequest, networkFailure, outcomeForStatus, type HttpResponse } from './http-client';
import { ClientCredentialsToken, TokenError } from './oauth';
import { clientTlsConfig, httpsAgent, tlsFitsUrl } from './tls-config';
import { describeOutcome, errorIssues, isOperationOutcome } from './operation-outcome';

const authConfig = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('bearer').describe('A fixed bearer token.'),
    token: z.string().min(1).describe('The token (write it as `${ENV_VAR}`).'),
  }),
  z.strictObject({
    type: z
      .literal('client_credentials')
      .describe('OAuth 2.0 client credentials (SMART backend services style).'),
    token_url: httpUrl('https://ehr.example/oauth2/token', 'Token endpoint.'),
    client_id: z.string().min(1).describe('Client id.'),
    client_secret: z.string().min(1).describe('Client secret (write it as `${ENV_VAR}`).'),
    scope: z.string().min(1).optional().describe('Scopes requested, space-separated.'),
  }),
]);

export const fhirDestinationConfig = z
  .strictObject({
    base_url: httpUrl(
      'https://ehr.example/fhir/R4',
      'Base URL of the FHIR R4 server (`https://ehr.example/fhir/R4`).',
    ),
    mode: z
      .enum(['transaction', 'batch', 'create', 'update', 'conditional'])
      .default('transaction')
      .describe(
        '`transaction`/`batch`: POST a Bundle to the base URL (a single resource is wrapped in one); `create`: ' +
          'POST `<base>/<type>`; `update`: PUT `<base>/<type>/<id>`; `conditional`: PUT ' +
          "`<base>/<type>?identifier=<system>|<value>` from the resource's first identifier.",
      ),
    auth: authConfig.optional().describe('How to authenticate; none when absent.'),
    headers: z.record(z.string(), z.string()).default({}).describe('Extra request headers.'),
    timeout_ms: millis(30_000, 'Longest wait for the complete response (and for a token).'),
    tls: clientTlsConfig
      .optional()
      .describe(
        'For an https:// base_url: the CA to trust instead of the system CAs, and a client certificate for ' +
          'mutual TLS. A token_url on the same host and port uses it too; another one trusts the system CAs.',
      ),
  })
  .refine((c) => tlsFitsUrl(c.base_url, c.tls), {
    message: 'tls applies to an https:// base_url only',
    path: ['tls'],
  });
export type FhirDestinationConfig = z.output<typeof fhirDestinationConfig>;

const FHIR_JSON = 'application/fhir+json';
const RESOURCE_TYPE = /^[A-Z][A-Za-z]{1,63}$/;
const RESOURCE_ID = /^[A-Za-z0-9\-.]{1,64}$/;

interface Resource {
  resourceType: string;
  id?: string;
  identifier?: Array<{ system?: string; value?: string }>;
  [key: string]: unknown;
}

interface BundleEntry {
  fullUrl?: string;
  resource?: Resource;
  request?: { method: string; url: string };
  response?: { status?: string; outcome?: unknown };
}

/** The request to make for one message, or why there is none. */
type Plan = { method: 'POST' | 'PUT'; url: string; body: string } | { error: string; code: string };

/** The request a Bundle entry makes when it names none: PUT by id, else POST. */
function entryRequest(resource: Resource): { method: string; url: string } {
  return resource.id !== undefined
    ? { method: 'PUT', url: `${resource.resourceType}/${resource.id}` }
    : { method: 'POST', url: resource.resourceType };
}

/** Sends FHIR resources and Bundles to a FHIR R4 server; reads its OperationOutcomes. */
export class FhirDestination implements Destination {
  private readonly base: string;
  private readonly tokens: ClientCredentialsToken | undefined;
  private readonly agent: https.Agent | undefined;

  constructor(
    private readonly config: FhirDestinationConfig,
    private readonly context: DestinationContext,
  ) {
    this.base = config.base_url.replace(/\/+$/, '');
    this.agent = httpsAgent(config.tls);
    const { auth } = config;
    this.tokens =
      auth?.type === 'client_credentials'
        ? new ClientCredentialsToken(
            {
              tokenUrl: auth.token_url,
              clientId: auth.client_id,
              clientSecret: auth.client_secret,
              ...(auth.scope !== undefined ? { scope: auth.scope } : {}),
              ...(this.agent && new URL(auth.token_url).host === new URL(config.base_url).host
                ? { httpsAgent: this.agent }
                : {}),
            },
            config.timeout_ms,
          )
        : undefined;
  }

  async send(request: DeliveryRequest): Promise<DeliveryOutcome> {
    if (request.contentType !== 'fhir' && request.contentType !== 'json') {
      return {
        status: 'failed',
        code: 'UNSUPPORTED',
        error: `the fhir destination sends FHIR JSON only; this payload is ${request.contentType}`,
      };
    }
    let resource: unknown;
    try {
      resource = JSON.parse(request.body.toString('utf8'));
    } catch {
      return { status: 'failed', code: 'INVALID_PAYLOAD', error: 'the payload is not valid JSON' };
    }
    const plan = this.plan(resource);
    if ('error' in plan) return { status: 'failed', code: plan.code, error: plan.error };
    return this.exchange(plan);
  }

  close(): Promise<void> {
    this.agent?.destroy();
    return Promise.resolve();
  }

  describe(): string {
    return `fhir ${this.config.mode} ${this.base}`;
  }

  private plan(value: unknown): Plan {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      return { code: 'INVALID_PAYLOAD', error: 'the payload is not a FHIR resource (a JSON object)' };
    }
    const resource = value as Resource;
    if (typeof resource.resourceType !== 'string' || !RESOURCE_TYPE.test(resource.resourceType)) {
      return { code: 'INVALID_PAYLOAD', error: 'the payload has no valid resourceType' };
    }
    const type = resource.resourceType;
    const { mode } = this.config;
    switch (mode) {
      case 'transaction':
      case 'batch': {
        let bundle: Resource;
        if (type === 'Bundle') {
          const entries = Array.isArray(resource.entry) ? (resource.entry as BundleEntry[]) : [];
          bundle = {
            ...resource,
            type: mode,
            entry: entries.map((e) =>
              e.request || !e.resource ? e : { ...e, request: entryRequest(e.resource) },
            ),
          };
        } else {
          bundle = {
            resourceType: 'Bundle',
            type: mode,
            entry: [{ resource, request: entryRequest(resource) }],
          };
        }
        return { method: 'POST', url: this.base, body: JSON.stringify(bundle) };
      }
      case 'create':
        return { method: 'POST', url: `${this.base}/${type}`, body: JSON.stringify(resource) };
      case 'update':
        if (typeof resource.id !== 'string' || !RESOURCE_ID.test(resource.id)) {
          return {
            code: 'MISSING_ID',
            error: `mode update needs the ${type}'s id; it has none (or an invalid one)`,
          };
        }
        return { method: 'PUT', url: `${this.base}/${type}/${resource.id}`, body: JSON.stringify(resource) };
      case 'conditional': {
        const identifier = Array.isArray(resource.identifier) ? resource.identifier[0] : undefined;
        if (!identifier || typeof identifier.value !== 'string' || identifier.value === '') {
          return {
            code: 'MISSING_IDENTIFIER',
            error: `mode conditional needs an identifier with a value on the ${type}; it has none`,
          };
        }
        const token = identifier.system ? `${identifier.system}|${identifier.value}` : identifier.value;
        return {
          method: 'PUT',
          url: `${this.base}/${type}?identifier=${encodeURIComponent(token)}`,
          body: JSON.stringify(resource),
        };
      }
    }
  }

  private async authorization(): Promise<string | undefined> {
    const { auth } = this.config;
    if (!auth) return undefined;
    if (auth.type === 'bearer') return auth.token;
    return (this.tokens as ClientCredentialsToken).get();
  }

  private async exchange(
    plan: { method: string; url: string; body: string },
    renewed = false,
  ): Promise<DeliveryOutcome> {
    let token: string | undefined;
    try {
      token = await this.authorization();
    } catch (err) {
      if (!(err instanceof TokenError)) throw err;
      return err.retryable
        ? { status: 'retry', code: err.code, error: err.message }
        : { status: 'failed', code: err.code, error: err.message };
    }
    let res: HttpResponse;
    try {
      res = await httpRequest(plan.url, {
        method: plan.method,
        headers: {
          ...this.config.headers,
          'content-type': FHIR_JSON,
          accept: FHIR_JSON,
          ...(token !== undefined ? { authorization: `Bearer ${token}` } : {}),
        },
        body: plan.body,
        timeoutMs: this.config.timeout_ms,
        ...(this.agent ? { httpsAgent: this.agent } : {}),
      });
    } catch (err) {
      return networkFailure(err, plan.url, this.config.timeout_ms);
    }
    if (res.status === 401 && this.tokens && token !== undefined && !renewed) {
      // The token may have been revoked or expired early: one more try with a fresh one.
      this.tokens.invalidate(token);
      return this.exchange(plan, true);
    }
    return classify(res);
  }
}

function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
}

/** Numeric status of a Bundle entry response (`201 Created` → 201). */
function entryStatus(entry: BundleEntry): number | undefined {
  const match = /^\s*(\d{3})/.exec(entry.response?.status ?? '');
  return match ? Number(match[1]) : undefined;
}

/**
 * The delivery outcome of a FHIR server's response: the HTTP status, refined by an
 * OperationOutcome with error issues (a failure even under 2xx) and by the entries of a
 * transaction/batch response (the worst entry status decides).
 */
function classify(res: HttpResponse): DeliveryOutcome {
  const body = parseJson(res.body);
  const ok = res.status >= 200 && res.status < 300;
  if (!ok) return outcomeForStatus(res, isOperationOutcome(body) ? describeOutcome(body) : undefined);
  if (isOperationOutcome(body) && errorIssues(body).length > 0) {
    return {
      status: 'failed',
      code: `HTTP ${res.status}`,
      error: `the server answered HTTP ${res.status} with errors: ${describeOutcome(body)}`,
      response: res.body,
    };
  }
  const bundle = body as { resourceType?: unknown; type?: unknown; entry?: unknown } | undefined;
  if (
    bundle?.resourceType === 'Bundle' &&
    (bundle.type === 'transaction-response' || bundle.type === 'batch-response') &&
    Array.isArray(bundle.entry)
  ) {
    const entries = bundle.entry as BundleEntry[];
    let worst: { index: number; status: number } | undefined;
    entries.forEach((entry, index) => {
      const status = entryStatus(entry);
      if (status !== undefined && status >= 400 && (!worst || status > worst.status))
        worst = { index, status };
    });
    if (worst) {
      const failing = entries[worst.index] as BundleEntry;
      const outcome = failing.response?.outcome;
      const detail = isOperationOutcome(outcome) ? `: ${describeOutcome(outcome)}` : '';
      const text = `entry ${worst.index + 1} of ${entries.length} answered ${worst.status}${detail}`;
      const entryOutcome = outcomeForStatus({ ...res, status: worst.status });
      return entryOutcome.status === 'retry'
        ? {
            status: 'retry',
            code: `HTTP ${worst.status}`,
            error: `the ${bundle.type}: ${text}`,
            response: res.body,
          }
        : {
            status: 'failed',
            code: `HTTP ${worst.status}`,
            error: `the ${bundle.type}: ${text}`,
            response: res.body,
          };
    }
  }
  return { status: 'sent', code: `HTTP ${res.status}`, response: res.body };
}

export const fhirDestination: DestinationDefinition<FhirDestinationConfig> = {
  kind: 'destination',
  accepts: ['fhir'],
  type: 'fhir',
  description:
    'Sends FHIR R4 resources to a FHIR server: as a transaction or batch Bundle (a single resource is wrapped; ' +
    'entries without a request get `PUT <type>/<id>` or `POST <type>`), or one resource per request (create, ' +
    'update by id, conditional update by identifier). Authenticates with a bearer token or OAuth 2.0 client ' +
    'credentials (token cached until 30 s before it expires, renewed once on a 401). A 2xx without error issues ' +
    'is delivered; a transaction/batch response is judged by its worst entry status; 4xx dead-letters with ' +
    "the OperationOutcome's diagnostics; 408, 429, 5xx, network errors and timeouts are retried.",
  guarantee:
    'At least once: a message counts as delivered only when the server confirmed it. After a timeout it is ' +
    'sent again; `update`, `conditional` and transactions of PUTs are idempotent, plain creates are not.',
  configSchema: fhirDestinationConfig,
  example: {
    base_url: 'https://ehr.clinic.example/fhir/R4',
    mode: 'transaction',
    auth: {
      type: 'client_credentials',
      token_url: 'https://ehr.clinic.example/oauth2/token',
      client_id: 'sinew',
      client_secret: '${EHR_CLIENT_SECRET}',
      scope: 'system/*.write',
    },
    timeout_ms: 20000,
  },
  create: (config, context) => new FhirDestination(config, context),
};
