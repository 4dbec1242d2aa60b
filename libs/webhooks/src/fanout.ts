import { parseSmartScope, smartAllows, type SmartScope } from '@sinew/auth';
import { randomBytes } from 'node:crypto';
import { matchesCriteria, parseCriteria, type Criteria } from './criteria';
import {
  WEBHOOK_PAYLOAD_VERSION,
  type NewDelivery,
  type SubscriptionRecord,
  type WebhookEvent,
  type WebhookHub,
} from './types';

/** `prefix_` and 20 random base32-ish characters. */
export function newId(prefix: string): string {
  return `${prefix}_${randomBytes(13).toString('base64url').slice(0, 20)}`;
}

export function scopesOf(sub: SubscriptionRecord): SmartScope[] {
  return sub.scopes.map(parseSmartScope).filter((s): s is SmartScope => s !== undefined);
}

/** Whether the subscription's app may read the resource type (else it gets only a reference). */
export function mayRead(sub: SubscriptionRecord, resourceType: string): boolean {
  return smartAllows(scopesOf(sub), resourceType, 'r');
}

/** The Standard Webhooks body of an event for one subscription: `{ type, timestamp, version, data }`. */
export function webhookBody(event: WebhookEvent, sub: SubscriptionRecord): string {
  const data: Record<string, unknown> = { ...event.data, environment: event.environment };
  const resource = event.change?.resource;
  if (resource && event.change) {
    const full = sub.payload === 'resource' && mayRead(sub, event.change.resourceType);
    data.payload = full ? 'resource' : 'reference';
    if (full) data.resource = resource;
  }
  return JSON.stringify({ type: event.type, timestamp: event.at, version: WEBHOOK_PAYLOAD_VERSION, data });
}

const criteriaCache = new Map<string, Criteria>();
function criteriaOf(text: string): Criteria | undefined {
  let c = criteriaCache.get(text);
  if (!c) {
    try {
      c = parseCriteria(text);
    } catch {
      return undefined;
    }
    if (criteriaCache.size > 1000) criteriaCache.clear();
    criteriaCache.set(text, c);
  }
  return c;
}

/** Whether an event goes to a subscription (ignoring consent). */
export function wants(sub: SubscriptionRecord, event: WebhookEvent): boolean {
  if (sub.status !== 'active' || sub.environment !== event.environment) return false;
  // A subscription hears of what happened after it was made, not of the backlog before it.
  if (Date.parse(event.at) < sub.createdAt.getTime()) return false;
  if (sub.kind === 'webhook') return (sub.events as readonly string[]).includes(event.type);
  const criteria = sub.criteria ? criteriaOf(sub.criteria) : undefined;
  return criteria !== undefined && event.change !== undefined && matchesCriteria(criteria, event.change);
}

/**
 * The deliveries of events to subscriptions: each event to every subscription that wants it
 * and whose app may see the event's patient (consent, checked again just before sending).
 */
export async function fanOut(
  events: readonly WebhookEvent[],
  subscriptions: readonly SubscriptionRecord[],
  consent: Pick<WebhookHub, 'isVisible'> | undefined,
): Promise<NewDelivery[]> {
  const out: NewDelivery[] = [];
  const visible = new Map<string, boolean>();
  for (const event of events) {
    for (const sub of subscriptions) {
      if (!wants(sub, event)) continue;
      if (event.patientId && consent) {
        const key = `${sub.appId}\u0000${event.environment}\u0000${event.patientId}`;
        let ok = visible.get(key);
        if (ok === undefined) {
          ok = await consent.isVisible({ environment: event.environment, appId: sub.appId }, event.patientId);
          visible.set(key, ok);
        }
        if (!ok) continue;
      }
      out.push(deliveryFor(event, sub));
    }
  }
  return out;
}

function deliveryFor(event: WebhookEvent, sub: SubscriptionRecord): NewDelivery {
  const base = {
    id: newId('dlv'),
    subscriptionId: sub.id,
    appId: sub.appId,
    eventId: event.id,
    eventType: event.type,
    environment: event.environment,
    patientId: event.patientId,
    orderKey: event.patientId,
    seq: event.seq,
    nextAttemptAt: new Date(),
  };
  if (sub.kind === 'webhook') return { ...base, body: webhookBody(event, sub) };
  const change = event.change;
  const full =
    sub.payload === 'application/fhir+json' && change !== undefined && mayRead(sub, change.resourceType);
  return full
    ? { ...base, body: JSON.stringify(change.resource), resourcePath: `${change.resourceType}/${change.id}` }
    : { ...base, body: '' };
}
