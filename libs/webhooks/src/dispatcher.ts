import { backoffDelay } from '@sinew/queue';
import { signWebhook, webhookHeaders } from '@sinew/reconcile';
import { changeEvents } from './events';
import { fanOut } from './fanout';
import type { DeliveryRecord, DeliveryStatus, SubscriptionRecord, WebhookHub, WebhookStore } from './types';

/** The change cursor's name in `webhook_cursor`. */
export const HUB_CURSOR = 'hub';

export interface WebhookRetryPolicy {
  /** Attempts before a delivery is dead-lettered, the first included (default 8). */
  attempts: number;
  /** Wait before the first retry, ms (default 5,000). */
  initialDelayMs: number;
  /** Each wait is the previous one times this (default 2). */
  multiplier: number;
  /** Longest wait, ms (default 1 hour). */
  maxDelayMs: number;
  /** Share of each wait drawn at random, 0…1 (default 0.2). */
  jitter: number;
}

export const DEFAULT_WEBHOOK_RETRY: WebhookRetryPolicy = {
  attempts: 8,
  initialDelayMs: 5_000,
  multiplier: 2,
  maxDelayMs: 3_600_000,
  jitter: 0.2,
};

/** Logging without PHI: ids, event types, statuses and error texts of the transport only. */
export interface WebhookLogger {
  info(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
}

export interface WebhookDispatcherOptions {
  store: WebhookStore;
  /** The hub whose changes become events; without it only raised events and replays are sent. */
  hub?: WebhookHub;
  logger?: WebhookLogger;
  retry?: Partial<WebhookRetryPolicy>;
  /** Time a receiver has to answer, ms (default 10,000). */
  timeoutMs?: number;
  /** Requests in flight at once (default 8). */
  concurrency?: number;
  /** Longest wait between two looks at the hub and the due deliveries, ms (default 1,000). */
  pollMs?: number;
  /** Changes read from the hub at once (default 500). */
  batch?: number;
}

function errorText(err: unknown): string {
  // Errors of fetch may come from another realm than this module's `Error`: read them by shape.
  if (typeof err === 'object' && err !== null && 'message' in err) {
    const e = err as { name?: unknown; message?: unknown; cause?: { code?: unknown; message?: unknown } };
    // fetch reports the transport's reason (ECONNREFUSED, a TLS failure) as its cause.
    const reason = [e.cause?.code, e.cause?.message]
      .filter((x): x is string => typeof x === 'string' && x !== '')
      .join(' ');
    return `${String(e.name ?? 'Error')}: ${String(e.message)}${reason ? ` (${reason})` : ''}`.slice(0, 500);
  }
  return String(err).slice(0, 500);
}

/**
 * Turns hub changes into deliveries and sends them. The cursor (the last change seq fanned
 * out) moves in the same transaction as the deliveries it produced, and every delivery is a
 * row until it is delivered or dead, so a restart resumes where the last process stopped:
 * at-least-once (a receiver de-duplicates by `webhook-id`). Deliveries of one subscription
 * about one patient go out one after another, in the order of the hub's changes.
 */
export class WebhookDispatcher {
  private readonly store: WebhookStore;
  private readonly retry: WebhookRetryPolicy;
  private readonly timeoutMs: number;
  private readonly concurrency: number;
  private readonly pollMs: number;
  private readonly batch: number;
  private running = false;
  private timer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;
  private pass: Promise<void> | undefined;
  private again = false;
  private readonly inFlight = new Set<Promise<void>>();

  constructor(private readonly options: WebhookDispatcherOptions) {
    this.store = options.store;
    this.retry = { ...DEFAULT_WEBHOOK_RETRY, ...options.retry };
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.concurrency = Math.max(1, options.concurrency ?? 8);
    this.pollMs = Math.max(10, options.pollMs ?? 1_000);
    this.batch = Math.max(1, options.batch ?? 500);
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.unsubscribe = this.options.hub?.onChange(() => this.wake());
    this.wake();
  }

  /** Stops reading and sending; resolves once the attempts in flight have been recorded. */
  async stop(): Promise<void> {
    this.running = false;
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    clearTimeout(this.timer);
    await this.pass;
    await Promise.all([...this.inFlight]);
  }

  /** Looks at the hub and the due deliveries now (after a change, a replay, a new event). */
  wake(): void {
    if (!this.running) return;
    if (this.pass) {
      this.again = true;
      return;
    }
    clearTimeout(this.timer);
    this.pass = this.runPass().finally(() => {
      this.pass = undefined;
      if (!this.running) return;
      if (this.again) {
        this.again = false;
        this.wake();
      }
    });
  }

  private async runPass(): Promise<void> {
    let wait = this.pollMs;
    try {
      await this.fanOutChanges();
      await this.sendDue();
      const next = await this.store.nextDue(new Date());
      if (next) wait = Math.min(wait, Math.max(10, next.getTime() - Date.now()));
    } catch (err) {
      this.options.logger?.warn({ err: errorText(err) }, 'webhook dispatch failed; it is tried again');
    }
    if (this.running) {
      this.timer = setTimeout(() => this.wake(), wait);
      this.timer.unref();
    }
  }

  /** Reads the hub's changes after the cursor and records their deliveries, batch by batch. */
  private async fanOutChanges(): Promise<void> {
    const hub = this.options.hub;
    if (!hub) return;
    while (this.running) {
      const cursor = await this.store.readCursor(HUB_CURSOR);
      const changes = await hub.changesSince(cursor, this.batch);
      if (changes.length === 0) return;
      const environments = new Set(changes.map((c) => c.environment));
      const subs: SubscriptionRecord[] = [];
      for (const env of environments) subs.push(...(await this.store.activeSubscriptions(env)));
      const deliveries = await fanOut(changeEvents(changes), subs, hub);
      const last = changes[changes.length - 1]?.seq ?? cursor;
      if (await this.store.advance(HUB_CURSOR, cursor, last, deliveries)) {
        if (deliveries.length > 0)
          this.options.logger?.info(
            { changes: changes.length, deliveries: deliveries.length, cursor: last },
            'webhook deliveries recorded',
          );
      }
      if (changes.length < this.batch) return;
    }
  }

  /**
   * Sends what is due until nothing claimable is left: a delivery that finishes may free the
   * next one about the same patient, which is then claimed in the same pass.
   */
  private async sendDue(): Promise<void> {
    const batch = this.concurrency * 4;
    while (this.running) {
      const claimed = await this.store.claimDue(new Date(), this.timeoutMs + 30_000, batch);
      if (claimed.length === 0) return;
      const queue = [...claimed];
      const workers = Array.from({ length: Math.min(this.concurrency, queue.length) }, async () => {
        for (let d = queue.shift(); d; d = queue.shift()) await this.track(this.deliver(d));
      });
      await Promise.all(workers);
    }
  }

  private async track(p: Promise<void>): Promise<void> {
    this.inFlight.add(p);
    try {
      await p;
    } finally {
      this.inFlight.delete(p);
    }
  }

  /** One attempt of one claimed delivery, recorded with its outcome. */
  private async deliver(d: DeliveryRecord): Promise<void> {
    const sub = await this.store.getSubscription(d.subscriptionId);
    const number = d.attempts + 1;
    if (!sub) {
      await this.finish(d, number, 'dead', null, 'the subscription was deleted', 0);
      return;
    }
    const hub = this.options.hub;
    if (d.patientId && hub) {
      const visible = await hub.isVisible({ environment: d.environment, appId: d.appId }, d.patientId);
      if (!visible) {
        await this.store.withhold(d.id, 'the patient is not visible to the app (consent)');
        return;
      }
    }
    const request = this.request(d, sub);
    const started = Date.now();
    let code: number | null = null;
    let error: string | null = null;
    let retryAfterMs = 0;
    try {
      const res = await fetch(request.url, {
        method: request.method,
        headers: request.headers,
        ...(request.body !== undefined ? { body: request.body } : {}),
        redirect: 'manual',
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      code = res.status;
      retryAfterMs = retryAfter(res.headers.get('retry-after'));
      await res.body?.cancel().catch(() => undefined);
    } catch (err) {
      error =
        (err as { name?: unknown } | null)?.name === 'TimeoutError'
          ? `no answer within ${this.timeoutMs} ms`
          : errorText(err);
    }
    const latency = Date.now() - started;
    if (code !== null && code >= 200 && code < 300) {
      await this.finish(d, number, 'delivered', code, null, latency);
      return;
    }
    const retryable = code === null || code === 408 || code === 429 || code >= 500;
    if (code !== null) error = `the receiver answered ${code}`;
    if (!retryable || number >= this.retry.attempts) {
      await this.finish(
        d,
        number,
        'dead',
        code,
        retryable
          ? `${error ?? 'failed'}; gave up after ${number} attempts`
          : `${error ?? 'failed'}; not retried`,
        latency,
      );
      this.options.logger?.warn(
        { delivery: d.id, subscription: d.subscriptionId, event: d.eventType, attempts: number, code },
        'webhook delivery dead-lettered',
      );
      return;
    }
    const wait = Math.max(backoffDelay(this.retry, number), Math.min(retryAfterMs, this.retry.maxDelayMs));
    await this.store.recordAttempt(
      {
        deliveryId: d.id,
        number,
        at: new Date(started),
        outcome: 'retry',
        responseCode: code,
        error,
        latencyMs: latency,
      },
      { status: 'pending', nextAttemptAt: new Date(Date.now() + wait) },
    );
  }

  private finish(
    d: DeliveryRecord,
    number: number,
    status: Exclude<DeliveryStatus, 'pending' | 'withheld'>,
    code: number | null,
    error: string | null,
    latency: number,
  ): Promise<void> {
    return this.store.recordAttempt(
      {
        deliveryId: d.id,
        number,
        at: new Date(Date.now() - latency),
        outcome: status,
        responseCode: code,
        error,
        latencyMs: latency,
      },
      { status, nextAttemptAt: null },
    );
  }

  /** The HTTP request of a delivery: a signed Standard Webhooks POST, or a FHIR rest-hook notification. */
  private request(
    d: DeliveryRecord,
    sub: SubscriptionRecord,
  ): { method: string; url: string; headers: Record<string, string>; body?: string } {
    if (sub.kind === 'webhook') {
      const signed = webhookHeaders(sub.secret, d.eventId, d.body);
      if (sub.previousSecret && sub.previousSecretUntil && sub.previousSecretUntil.getTime() > Date.now()) {
        const old = signWebhook(sub.previousSecret, d.eventId, Number(signed['webhook-timestamp']), d.body);
        signed['webhook-signature'] = `${signed['webhook-signature']} ${old}`;
      }
      return {
        method: 'POST',
        url: sub.url,
        headers: { 'content-type': 'application/json', 'user-agent': 'Sinew-Webhooks/1', ...signed },
        body: d.body,
      };
    }
    // FHIR notifications are R4's: the app's own `channel.header` lines authenticate them.
    const headers: Record<string, string> = { 'user-agent': 'Sinew-Webhooks/1', 'webhook-id': d.eventId };
    for (const line of sub.headers ?? []) {
      const colon = line.indexOf(':');
      if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    if (!d.resourcePath) return { method: 'POST', url: sub.url, headers };
    headers['content-type'] = 'application/fhir+json';
    return { method: 'PUT', url: `${sub.url.replace(/\/+$/, '')}/${d.resourcePath}`, headers, body: d.body };
  }
}

/** A `Retry-After` header (seconds, or an HTTP date) in ms; 0 when absent or unreadable. */
function retryAfter(value: string | null): number {
  if (!value) return 0;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? 0 : Math.max(0, at - Date.now());
}
