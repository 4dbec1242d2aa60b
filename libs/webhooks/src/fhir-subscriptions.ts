import { formatSmartScope, smartAllows } from '@sinew/auth';
import type { FhirResource } from '@sinew/hub';
import { CriteriaError, parseCriteria } from './criteria';
import { newId } from './fanout';
import { checkEndpoint, newSecret, WebhookRequestError, type WebhookApp } from './service';
import type { FhirPayload, SubscriptionRecord, WebhookStore } from './types';

/** A refused FHIR request: the status and the OperationOutcome's issue code. */
export class FhirSubscriptionError extends Error {
  constructor(
    readonly status: 400 | 403 | 404 | 422,
    readonly issueCode: 'invalid' | 'required' | 'not-supported' | 'forbidden' | 'not-found' | 'value',
    message: string,
    readonly expression?: string,
  ) {
    super(message);
    this.name = 'FhirSubscriptionError';
  }
}

/** An OperationOutcome for an error. */
export function operationOutcome(err: FhirSubscriptionError): FhirResource {
  return {
    resourceType: 'OperationOutcome',
    issue: [
      {
        severity: 'error',
        code: err.issueCode,
        diagnostics: err.message,
        ...(err.expression ? { expression: [err.expression] } : {}),
      },
    ],
  };
}

const HEADER = /^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}:[\t\x20-\x7e]{0,4000}$/;
const RESERVED = new Set([
  'host',
  'content-length',
  'content-type',
  'webhook-id',
  'webhook-timestamp',
  'webhook-signature',
]);

/**
 * FHIR R4 Subscriptions (rest-hook) for FHIR-native apps, stored beside the webhook
 * subscriptions and delivered by the same dispatcher: with `channel.payload`
 * `application/fhir+json` the resource is PUT to `{endpoint}/{type}/{id}`; without a payload an
 * empty POST to the endpoint tells the app to look.
 */
export class SubscriptionService {
  constructor(private readonly options: { store: WebhookStore; allowHttp?: boolean; maxPerApp?: number }) {}

  async create(app: WebhookApp, body: unknown): Promise<FhirResource> {
    if (typeof body !== 'object' || body === null || Array.isArray(body))
      throw new FhirSubscriptionError(400, 'invalid', 'the body must be a Subscription resource');
    const r = body as Record<string, unknown>;
    if (r.resourceType !== 'Subscription')
      throw new FhirSubscriptionError(
        400,
        'invalid',
        'resourceType must be Subscription',
        'Subscription.resourceType',
      );
    if (r.status !== undefined && r.status !== 'requested' && r.status !== 'active')
      throw new FhirSubscriptionError(
        422,
        'value',
        'status must be requested or active on creation',
        'Subscription.status',
      );
    if (typeof r.reason !== 'string' || r.reason.trim() === '')
      throw new FhirSubscriptionError(400, 'required', 'reason is required', 'Subscription.reason');
    if (typeof r.criteria !== 'string')
      throw new FhirSubscriptionError(400, 'required', 'criteria is required', 'Subscription.criteria');
    let resourceType: string;
    try {
      resourceType = parseCriteria(r.criteria).resourceType;
    } catch (err) {
      if (err instanceof CriteriaError)
        throw new FhirSubscriptionError(422, 'not-supported', err.message, 'Subscription.criteria');
      throw err;
    }
    const channel = r.channel as Record<string, unknown> | undefined;
    if (typeof channel !== 'object' || channel === null)
      throw new FhirSubscriptionError(400, 'required', 'channel is required', 'Subscription.channel');
    if (channel.type !== 'rest-hook')
      throw new FhirSubscriptionError(
        422,
        'not-supported',
        'only channel.type rest-hook is supported',
        'Subscription.channel.type',
      );
    let endpoint: string;
    try {
      endpoint = checkEndpoint(channel.endpoint, this.options.allowHttp ?? false, 'channel.endpoint');
    } catch (err) {
      if (err instanceof WebhookRequestError)
        throw new FhirSubscriptionError(422, 'value', err.message, 'Subscription.channel.endpoint');
      throw err;
    }
    let payload: FhirPayload;
    if (channel.payload === undefined || channel.payload === '') payload = 'empty';
    else if (channel.payload === 'application/fhir+json') payload = 'application/fhir+json';
    else
      throw new FhirSubscriptionError(
        422,
        'not-supported',
        'channel.payload must be application/fhir+json or absent',
        'Subscription.channel.payload',
      );
    const headers = channel.header ?? [];
    if (
      !Array.isArray(headers) ||
      headers.length > 10 ||
      !headers.every((h) => typeof h === 'string' && HEADER.test(h))
    )
      throw new FhirSubscriptionError(
        400,
        'invalid',
        'channel.header is at most 10 lines of the form "Name: value"',
        'Subscription.channel.header',
      );
    for (const h of headers as string[]) {
      const name = h.slice(0, h.indexOf(':')).trim().toLowerCase();
      if (RESERVED.has(name))
        throw new FhirSubscriptionError(
          400,
          'invalid',
          `channel.header cannot set ${name}`,
          'Subscription.channel.header',
        );
    }
    if (!smartAllows(app.scopes, resourceType, 'r') && !smartAllows(app.scopes, resourceType, 's'))
      throw new FhirSubscriptionError(
        403,
        'forbidden',
        `subscribing to ${resourceType} needs a read or search scope on it`,
        'Subscription.criteria',
      );
    if (payload === 'application/fhir+json' && !smartAllows(app.scopes, resourceType, 'r'))
      throw new FhirSubscriptionError(
        403,
        'forbidden',
        `a payload of ${resourceType} resources needs the read scope on it; leave channel.payload out to be told only`,
        'Subscription.channel.payload',
      );
    const existing = await this.options.store.listSubscriptions({ appId: app.appId });
    if (existing.length >= (this.options.maxPerApp ?? 20))
      throw new FhirSubscriptionError(
        422,
        'value',
        `an app has at most ${this.options.maxPerApp ?? 20} subscriptions`,
      );
    const record = await this.options.store.createSubscription({
      id: newId('sub').replace(/_/g, '-'),
      appId: app.appId,
      kind: 'fhir',
      environment: app.environment,
      url: endpoint,
      events: [],
      payload,
      scopes: app.scopes.map(formatSmartScope),
      criteria: r.criteria.trim(),
      headers: headers as string[],
      description: r.reason.trim(),
      status: 'active',
      secret: newSecret(),
    });
    return toFhir(record);
  }

  private async own(app: WebhookApp, id: string): Promise<SubscriptionRecord> {
    const s = await this.options.store.getSubscription(id);
    if (!s || s.kind !== 'fhir' || s.appId !== app.appId)
      throw new FhirSubscriptionError(404, 'not-found', `Subscription/${id} is not known`);
    return s;
  }

  async read(app: WebhookApp, id: string): Promise<FhirResource> {
    return toFhir(await this.own(app, id));
  }

  async delete(app: WebhookApp, id: string): Promise<void> {
    await this.own(app, id);
    await this.options.store.deleteSubscription(id);
  }

  /** The app's Subscriptions as a searchset Bundle. */
  async search(app: WebhookApp): Promise<FhirResource> {
    const subs = await this.options.store.listSubscriptions({ appId: app.appId, kind: 'fhir' });
    return {
      resourceType: 'Bundle',
      type: 'searchset',
      total: subs.length,
      entry: subs.map((s) => ({
        fullUrl: `Subscription/${s.id}`,
        resource: toFhir(s),
        search: { mode: 'match' },
      })),
    };
  }
}

/** A stored subscription as the R4 Subscription resource. */
export function toFhir(s: SubscriptionRecord): FhirResource {
  return {
    resourceType: 'Subscription',
    id: s.id,
    meta: { lastUpdated: s.updatedAt.toISOString() },
    status: s.status === 'active' ? 'active' : 'off',
    reason: s.description ?? '',
    criteria: s.criteria ?? '',
    channel: {
      type: 'rest-hook',
      endpoint: s.url,
      ...(s.payload === 'application/fhir+json' ? { payload: 'application/fhir+json' } : {}),
      ...(s.headers && s.headers.length > 0 ? { header: s.headers } : {}),
    },
  };
}
