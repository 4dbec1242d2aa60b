import { formatSmartScope, type SmartScope } from '@sinew/auth';
import type { HubEnvironment } from '@sinew/hub';
import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import { fanOut, mayRead, newId } from './fanout';
import {
  WEBHOOK_EVENTS,
  type DeliveryQuery,
  type DeliveryRecord,
  type DeliveryStatus,
  type AttemptRecord,
  type SubscriptionRecord,
  type WebhookEvent,
  type WebhookEventType,
  type WebhookPayload,
  type WebhookStore,
} from './types';

/** A request the webhooks refuse: its HTTP status, a stable code, and a message for the caller. */
export class WebhookRequestError extends Error {
  constructor(
    readonly status: 400 | 403 | 404 | 409 | 422,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'WebhookRequestError';
  }
}

/** The app a request is made for (from its token), as the webhooks need it. */
export interface WebhookApp {
  appId: string;
  environment: HubEnvironment;
  scopes: readonly SmartScope[];
}

/** A new secret: `whsec_` and 32 random bytes in base64 (the Standard Webhooks form). */
export function newSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}

const LOOPBACK_NAMES = new Set(['localhost', '127.0.0.1', '::1', '[::1]']);

/** Whether the host is this machine (a name that resolves elsewhere is not). */
function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '');
  if (LOOPBACK_NAMES.has(h)) return true;
  return isIP(h) === 4 && h.startsWith('127.');
}

/**
 * Checks a receiver's URL: https; http only to a loopback address or when `allowHttp` (the
 * SINEW_WEBHOOKS_ALLOW_HTTP setting); no user name or password in it.
 */
export function checkEndpoint(text: unknown, allowHttp: boolean, field = 'url'): string {
  if (typeof text !== 'string' || text.length === 0)
    throw new WebhookRequestError(400, 'webhook.url_invalid', `${field} is required`);
  if (text.length > 2000)
    throw new WebhookRequestError(400, 'webhook.url_invalid', `${field} is longer than 2,000 characters`);
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new WebhookRequestError(400, 'webhook.url_invalid', `${field} is not an absolute URL`);
  }
  if (url.username || url.password)
    throw new WebhookRequestError(
      400,
      'webhook.url_invalid',
      `${field} must not carry a user name or password`,
    );
  if (url.protocol === 'https:') return url.toString();
  if (url.protocol === 'http:' && (allowHttp || isLoopback(url.hostname))) return url.toString();
  throw new WebhookRequestError(
    400,
    'webhook.url_insecure',
    `${field} must use https (http is accepted only for a loopback address, or when the engine allows it)`,
  );
}

/** A subscription as the API shows it: never its secret. */
export interface SubscriptionView {
  id: string;
  appId: string;
  kind: SubscriptionRecord['kind'];
  environment: HubEnvironment;
  url: string;
  events: WebhookEventType[];
  payload: SubscriptionRecord['payload'];
  /** The payload deliveries actually carry, per event, given the app's read scopes. */
  effectivePayload?: Partial<Record<WebhookEventType, WebhookPayload>>;
  criteria?: string;
  description?: string;
  status: SubscriptionRecord['status'];
  createdAt: string;
  updatedAt: string;
}

/** The resource types each event's resource can be, for the payload the app may get. */
const EVENT_TYPES: Record<WebhookEventType, readonly string[]> = {
  'patient.created': ['Patient'],
  'patient.updated': ['Patient'],
  'patient.merged': ['Patient'],
  'appointment.booked': ['Appointment'],
  'appointment.cancelled': ['Appointment'],
  'appointment.changed': ['Appointment'],
  'result.final': ['DiagnosticReport', 'Observation'],
  'result.corrected': ['DiagnosticReport', 'Observation'],
  'charge.created': ['ChargeItem', 'Invoice'],
  'reconciliation.discrepancy': [],
};

export function subscriptionView(s: SubscriptionRecord): SubscriptionView {
  const view: SubscriptionView = {
    id: s.id,
    appId: s.appId,
    kind: s.kind,
    environment: s.environment,
    url: s.url,
    events: s.events,
    payload: s.payload,
    status: s.status,
    createdAt: s.createdAt.toISOString(),
    updatedAt: s.updatedAt.toISOString(),
    ...(s.criteria ? { criteria: s.criteria } : {}),
    ...(s.description ? { description: s.description } : {}),
  };
  if (s.kind === 'webhook') {
    const effective: Partial<Record<WebhookEventType, WebhookPayload>> = {};
    for (const e of s.events) {
      const types = EVENT_TYPES[e];
      if (types.length === 0) continue;
      effective[e] = s.payload === 'resource' && types.every((t) => mayRead(s, t)) ? 'resource' : 'reference';
    }
    view.effectivePayload = effective;
  }
  return view;
}

/** A delivery as the log shows it (without its body: that is the event's content). */
export interface DeliveryView {
  id: string;
  subscriptionId: string;
  appId: string;
  eventId: string;
  eventType: string;
  status: DeliveryStatus;
  attempts: number;
  responseCode: number | null;
  lastError: string | null;
  latencyMs: number | null;
  nextAttemptAt: string | null;
  replayOf?: string;
  createdAt: string;
  updatedAt: string;
}

export function deliveryView(d: DeliveryRecord): DeliveryView {
  return {
    id: d.id,
    subscriptionId: d.subscriptionId,
    appId: d.appId,
    eventId: d.eventId,
    eventType: d.eventType,
    status: d.status,
    attempts: d.attempts,
    responseCode: d.responseCode,
    lastError: d.lastError,
    latencyMs: d.latencyMs,
    nextAttemptAt: d.nextAttemptAt ? d.nextAttemptAt.toISOString() : null,
    ...(d.replayOf ? { replayOf: d.replayOf } : {}),
    createdAt: d.createdAt.toISOString(),
    updatedAt: d.updatedAt.toISOString(),
  };
}

export interface WebhookServiceOptions {
  store: WebhookStore;
  /** Accept http receivers that are not on loopback (SINEW_WEBHOOKS_ALLOW_HTTP). */
  allowHttp?: boolean;
  /** Subscriptions per app at most (default 20). */
  maxPerApp?: number;
  /** Called after something was queued for sending (the dispatcher's `wake`). */
  wake?: () => void;
  /** How long deliveries are signed with the old secret too after a rotation (default 24 hours). */
  rotationGraceMs?: number;
}

/** Apps' webhook subscriptions, their delivery log, replays, and events raised outside the hub. */
export class WebhookService {
  readonly store: WebhookStore;

  constructor(private readonly options: WebhookServiceOptions) {
    this.store = options.store;
  }

  get allowHttp(): boolean {
    return this.options.allowHttp ?? false;
  }

  /** Creates a subscription; the answer holds the secret, shown this once. */
  async create(
    app: WebhookApp,
    input: { url: string; events: readonly string[]; payload?: WebhookPayload; description?: string },
  ): Promise<{ subscription: SubscriptionView; secret: string }> {
    const url = checkEndpoint(input.url, this.allowHttp);
    const events = [...new Set(input.events)];
    if (events.length === 0) throw new WebhookRequestError(400, 'webhook.events_invalid', 'events is empty');
    const unknown = events.filter((e) => !(WEBHOOK_EVENTS as readonly string[]).includes(e));
    if (unknown.length > 0)
      throw new WebhookRequestError(
        400,
        'webhook.events_invalid',
        `unknown events: ${unknown.join(', ')} (known: ${WEBHOOK_EVENTS.join(', ')})`,
      );
    const payload = input.payload ?? 'resource';
    if (payload !== 'resource' && payload !== 'reference')
      throw new WebhookRequestError(400, 'webhook.payload_invalid', 'payload is resource or reference');
    const existing = await this.store.listSubscriptions({ appId: app.appId });
    if (existing.length >= (this.options.maxPerApp ?? 20))
      throw new WebhookRequestError(
        409,
        'webhook.too_many',
        `an app has at most ${this.options.maxPerApp ?? 20} subscriptions`,
      );
    const secret = newSecret();
    const record = await this.store.createSubscription({
      id: newId('whk'),
      appId: app.appId,
      kind: 'webhook',
      environment: app.environment,
      url,
      events: events as WebhookEventType[],
      payload,
      scopes: app.scopes.map(formatSmartScope),
      status: 'active',
      secret,
      ...(input.description ? { description: input.description } : {}),
    });
    return { subscription: subscriptionView(record), secret };
  }

  /** An app's subscriptions, its scopes brought up to date with its token's. */
  async list(app: WebhookApp, kind: SubscriptionRecord['kind'] = 'webhook'): Promise<SubscriptionView[]> {
    const subs = await this.store.listSubscriptions({ appId: app.appId, kind });
    const scopes = app.scopes.map(formatSmartScope);
    const out: SubscriptionView[] = [];
    for (const s of subs) {
      const current =
        s.scopes.join(' ') === scopes.join(' ')
          ? s
          : ((await this.store.updateSubscription(s.id, { scopes })) ?? s);
      out.push(subscriptionView(current));
    }
    return out;
  }

  /** The app's own subscription, or 404 (another app's is not found either). */
  async own(
    appId: string,
    id: string,
    kind: SubscriptionRecord['kind'] = 'webhook',
  ): Promise<SubscriptionRecord> {
    const s = await this.store.getSubscription(id);
    if (!s || s.appId !== appId || s.kind !== kind)
      throw new WebhookRequestError(404, 'webhook.not_found', `no subscription ${id}`);
    return s;
  }

  async remove(appId: string, id: string, kind: SubscriptionRecord['kind'] = 'webhook'): Promise<void> {
    await this.own(appId, id, kind);
    await this.store.deleteSubscription(id);
  }

  /**
   * A new secret for the subscription (shown this once). For `rotationGraceMs` every attempt is
   * signed with both (two signatures in `webhook-signature`), so the receiver can switch over
   * without missing a delivery; then with the new one only.
   */
  async rotateSecret(appId: string, id: string): Promise<{ subscription: SubscriptionView; secret: string }> {
    await this.own(appId, id);
    const secret = newSecret();
    const previousUntil = new Date(Date.now() + (this.options.rotationGraceMs ?? 24 * 3_600_000));
    const updated = await this.store.updateSubscription(id, { secret: { value: secret, previousUntil } });
    if (!updated) throw new WebhookRequestError(404, 'webhook.not_found', `no subscription ${id}`);
    return { subscription: subscriptionView(updated), secret };
  }

  /** The delivery log: one app's (`appId`), newest first. Apps do not see withheld deliveries. */
  async deliveries(query: DeliveryQuery): Promise<DeliveryView[]> {
    return (await this.store.listDeliveries(query)).map(deliveryView);
  }

  async delivery(
    appId: string | undefined,
    id: string,
    opts: { hideWithheld?: boolean } = {},
  ): Promise<{ delivery: DeliveryView; attempts: AttemptRecord[] }> {
    const d = await this.store.getDelivery(id);
    if (!d || (appId !== undefined && d.appId !== appId) || (opts.hideWithheld && d.status === 'withheld'))
      throw new WebhookRequestError(404, 'delivery.not_found', `no delivery ${id}`);
    return { delivery: deliveryView(d), attempts: await this.store.attempts(id) };
  }

  /**
   * Sends a delivery again, as a new delivery with the same event id (`webhook-id`) and body,
   * outside the per-patient order. A withheld delivery is not replayed; neither is one whose
   * subscription is gone.
   */
  async replay(
    appId: string | undefined,
    id: string,
    opts: { hideWithheld?: boolean } = {},
  ): Promise<DeliveryView> {
    const d = await this.store.getDelivery(id);
    if (!d || (appId !== undefined && d.appId !== appId) || (opts.hideWithheld && d.status === 'withheld'))
      throw new WebhookRequestError(404, 'delivery.not_found', `no delivery ${id}`);
    if (d.status === 'withheld')
      throw new WebhookRequestError(
        409,
        'delivery.withheld',
        'a withheld delivery (consent) is not replayed',
      );
    if (d.status === 'pending')
      throw new WebhookRequestError(
        409,
        'delivery.pending',
        'the delivery is still pending: it will be sent without a replay',
      );
    if (!(await this.store.getSubscription(d.subscriptionId)))
      throw new WebhookRequestError(
        409,
        'delivery.orphaned',
        'the subscription of this delivery was deleted',
      );
    const replay = {
      id: newId('dlv'),
      subscriptionId: d.subscriptionId,
      appId: d.appId,
      eventId: d.eventId,
      eventType: d.eventType,
      environment: d.environment,
      patientId: d.patientId,
      orderKey: null,
      seq: d.seq,
      body: d.body,
      ...(d.resourcePath ? { resourcePath: d.resourcePath } : {}),
      nextAttemptAt: new Date(),
      replayOf: d.id,
    };
    await this.store.addDeliveries([replay]);
    this.options.wake?.();
    const created = await this.store.getDelivery(replay.id);
    if (!created) throw new Error('the replay was not recorded');
    return deliveryView(created);
  }

  /**
   * Raises an event that does not come from a hub change (a reconciliation run's
   * discrepancies): its deliveries are recorded now and sent by the dispatcher.
   */
  async raise(event: Omit<WebhookEvent, 'id' | 'seq' | 'change'> & { id?: string }): Promise<number> {
    const full: WebhookEvent = { ...event, id: event.id ?? newId('evt'), seq: 0 };
    const subs = await this.store.activeSubscriptions(event.environment);
    const deliveries = await fanOut([full], subs, undefined);
    if (deliveries.length === 0) return 0;
    await this.store.addDeliveries(deliveries);
    this.options.wake?.();
    return deliveries.length;
  }
}
