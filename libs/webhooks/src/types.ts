import type { HubChange, HubConsent, HubEnvironment, HubReader } from '@sinew/hub';

/**
 * Event webhooks and FHIR R4 Subscriptions over the clinic data hub: the events, the
 * subscriptions apps make, and the delivery log, as every part of the webhooks agrees on them.
 */

/** The events an app can subscribe to, in the order the docs list them. */
export const WEBHOOK_EVENTS = [
  'patient.created',
  'patient.updated',
  'patient.merged',
  'appointment.booked',
  'appointment.cancelled',
  'appointment.changed',
  'result.final',
  'result.corrected',
  'charge.created',
  'reconciliation.discrepancy',
] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENTS)[number];

/** The payload version every event body carries (`version`); a breaking change makes a new one. */
export const WEBHOOK_PAYLOAD_VERSION = '1';

/** What reads the hub's changes and consent: the parts of a `HubStore` the dispatcher uses. */
export type WebhookHub = Pick<HubReader, 'changesSince' | 'onChange'> & Pick<HubConsent, 'isVisible'>;

/** An event derived from a hub change (or raised directly, like a reconciliation's discrepancies). */
export interface WebhookEvent {
  /** `evt_…`: the same for every subscription it goes to; the deliveries' `webhook-id`. */
  id: string;
  /** `resource.changed`: a hub change no event rule covers, heard only by FHIR Subscriptions. */
  type: WebhookEventType | 'resource.changed';
  environment: HubEnvironment;
  /** ISO 8601 instant of what happened (the hub commit). */
  at: string;
  /** The Patient the event is about: consent is checked for it, and events per patient are delivered in order. */
  patientId: string | null;
  /** The hub change's `seq`; 0 for events that do not come from the hub. */
  seq: number;
  /** The event's data apart from the resource (ids, versions, statuses, counts). */
  data: Record<string, unknown>;
  /** The change the event comes from, when it comes from the hub. */
  change?: HubChange;
}

/** `resource`: the FHIR resource in the body; `reference`: only `Type/id` (and version). */
export type WebhookPayload = 'resource' | 'reference';

/** A webhook (Standard Webhooks) or a FHIR R4 Subscription (rest-hook). */
export type SubscriptionKind = 'webhook' | 'fhir';

/** FHIR rest-hook payloads: the resource (`application/fhir+json`) or none (`empty`). */
export type FhirPayload = 'application/fhir+json' | 'empty';

export interface SubscriptionRecord {
  id: string;
  appId: string;
  kind: SubscriptionKind;
  environment: HubEnvironment;
  url: string;
  /** Webhooks: the events; FHIR: empty (the criteria decide). */
  events: WebhookEventType[];
  /** What the body carries: webhooks `resource`/`reference`, FHIR `application/fhir+json`/`empty`. */
  payload: WebhookPayload | FhirPayload;
  /** The app's SMART scopes as text (`system/Patient.rs`), refreshed whenever it manages its subscriptions. */
  scopes: string[];
  /** FHIR: the criteria (`Observation?code=…`). */
  criteria?: string;
  /** FHIR: `channel.header` lines sent with each notification. */
  headers?: string[];
  /** FHIR: `reason`; webhooks: a free description. */
  description?: string;
  /** `active`, or `off` after a FHIR Subscription was set off. */
  status: 'active' | 'off';
  /** `whsec_…`: the signing secret. */
  secret: string;
  /** The secret before the last rotation: deliveries carry its signature too until `previousSecretUntil`. */
  previousSecret?: string;
  previousSecretUntil?: Date;
  createdAt: Date;
  updatedAt: Date;
}

export type NewSubscription = Omit<
  SubscriptionRecord,
  'createdAt' | 'updatedAt' | 'previousSecret' | 'previousSecretUntil'
>;

/**
 * `pending`: waiting for its next attempt (or for an earlier event about the same patient);
 * `delivered`: the receiver answered 2xx; `dead`: given up (attempts exhausted or a 4xx that
 * is not worth retrying), replayable; `withheld`: not sent, the patient is not visible to the
 * app (consent).
 */
export type DeliveryStatus = 'pending' | 'delivered' | 'dead' | 'withheld';

export interface DeliveryRecord {
  id: string;
  subscriptionId: string;
  appId: string;
  eventId: string;
  eventType: string;
  environment: HubEnvironment;
  patientId: string | null;
  /** Per subscription and patient, deliveries go out in this order (the hub change's seq). */
  orderKey: string | null;
  seq: number;
  /** The request body as signed and sent (empty for a FHIR notification without payload). */
  body: string;
  /** FHIR with payload: `Type/id` appended to the endpoint. */
  resourcePath?: string;
  status: DeliveryStatus;
  attempts: number;
  nextAttemptAt: Date | null;
  /** The receiver's last HTTP status. */
  responseCode: number | null;
  lastError: string | null;
  /** The last attempt's time to answer, ms. */
  latencyMs: number | null;
  /** The delivery this one replays. */
  replayOf?: string;
  createdAt: Date;
  updatedAt: Date;
}

export type NewDelivery = Omit<
  DeliveryRecord,
  'status' | 'attempts' | 'responseCode' | 'lastError' | 'latencyMs' | 'createdAt' | 'updatedAt'
> & { status?: DeliveryStatus };

export interface AttemptRecord {
  deliveryId: string;
  number: number;
  at: Date;
  /** `delivered`, `retry` (will be tried again), `dead` (given up). */
  outcome: 'delivered' | 'retry' | 'dead';
  responseCode: number | null;
  error: string | null;
  latencyMs: number;
}

export interface DeliveryQuery {
  appId?: string;
  subscriptionId?: string;
  status?: DeliveryStatus;
  /** Leave out withheld deliveries (an app's own log does not tell it about patients it may not see). */
  hideWithheld?: boolean;
  limit: number;
  /** The last id of the previous page (pages go newest first). */
  before?: string;
}

/** The webhooks' tables in the ledger's database (`libs/store/src/webhook-store.ts`). */
export interface WebhookStore {
  createSubscription(s: NewSubscription): Promise<SubscriptionRecord>;
  getSubscription(id: string): Promise<SubscriptionRecord | undefined>;
  listSubscriptions(filter: { appId?: string; kind?: SubscriptionKind }): Promise<SubscriptionRecord[]>;
  /** Active subscriptions of an environment (the fan-out reads these). */
  activeSubscriptions(environment: HubEnvironment): Promise<SubscriptionRecord[]>;
  updateSubscription(
    id: string,
    changes: Partial<Pick<SubscriptionRecord, 'scopes' | 'status'>> & {
      /** A new secret; the current one stays valid beside it until `previousUntil`. */
      secret?: { value: string; previousUntil: Date };
    },
  ): Promise<SubscriptionRecord | undefined>;
  /** Deletes the subscription and its pending deliveries (the log of finished ones is kept). */
  deleteSubscription(id: string): Promise<boolean>;

  /** The change cursor (the last hub change seq turned into deliveries). */
  readCursor(name: string): Promise<number>;
  /**
   * Inserts deliveries and moves the cursor from `from` to `to`, in one transaction; resolves
   * false (and writes nothing) when the cursor was not at `from` (another process moved it).
   */
  advance(name: string, from: number, to: number, deliveries: readonly NewDelivery[]): Promise<boolean>;
  /** Inserts deliveries outside the change feed (raised events, replays). */
  addDeliveries(deliveries: readonly NewDelivery[]): Promise<void>;

  /**
   * Claims up to `limit` due pending deliveries for `leaseMs`: oldest first, and none while an
   * earlier pending delivery of the same subscription and order key exists.
   */
  claimDue(now: Date, leaseMs: number, limit: number): Promise<DeliveryRecord[]>;
  /** The earliest `nextAttemptAt` after `now` of pending deliveries, for the dispatcher's timer. */
  nextDue(now: Date): Promise<Date | undefined>;
  /** Records one attempt and the delivery's new state; releases the claim. */
  recordAttempt(
    attempt: AttemptRecord,
    state: { status: DeliveryStatus; nextAttemptAt: Date | null },
  ): Promise<void>;
  /** Marks a claimed delivery withheld (not sent). */
  withhold(id: string, reason: string): Promise<void>;
  getDelivery(id: string): Promise<DeliveryRecord | undefined>;
  listDeliveries(query: DeliveryQuery): Promise<DeliveryRecord[]>;
  attempts(deliveryId: string): Promise<AttemptRecord[]>;
  /** Deletes finished deliveries (delivered, dead, withheld) last changed before `before`, with their attempts; resolves with how many. */
  pruneDeliveries(before: Date): Promise<number>;
}
