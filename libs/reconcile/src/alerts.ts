import { createHmac, timingSafeEqual } from 'node:crypto';
import { retrySchema, type CompiledDestination, type RetryPolicy } from '@sinew/channels';
import {
  HttpDestination,
  httpDestination,
  httpDestinationConfig,
  type DeliveryOutcome,
  type DeliveryRequest,
  type Destination,
  type DestinationContext,
} from '@sinew/connectors';
import { DestinationWorker, EngineMetrics, messageId, type EngineLogger } from '@sinew/engine';
import type { QueueDriver } from '@sinew/queue';
import type { DeliveryRecord, Store } from '@sinew/store';
import type { RunRecord, RunSummary } from './types';

/**
 * Alerts of a reconciliation: a signed webhook (the Standard Webhooks convention) delivered
 * as a message of the ledger's built-in channel `reconcile-alerts`, by the engine's own
 * destination worker: it shows in the ledger like any message, is retried with back-off and
 * dead-lettered when the receiver keeps failing, and can be replayed from there.
 */

/** The ledger channel alert messages are recorded on (no channel file declares it). */
export const ALERT_CHANNEL = 'reconcile-alerts';
export const ALERT_TYPE = 'reconciliation.alert';
/** How far a webhook's timestamp may be from the receiver's clock, by default (Standard Webhooks: 5 minutes). */
export const DEFAULT_TOLERANCE_SECONDS = 300;

/** The body of an alert: counts and classes only, never a record's values or keys. */
export interface AlertPayload {
  type: typeof ALERT_TYPE;
  reconciliation: string;
  runId: string;
  status: RunRecord['status'];
  period: { from?: string; to?: string; label: string };
  finishedAt?: string;
  /** The thresholds crossed (`patients.never_received >= 1`). */
  alerts: string[];
  summary?: RunSummary;
}

export function alertPayload(run: RunRecord): AlertPayload {
  return {
    type: ALERT_TYPE,
    reconciliation: run.reconciliation,
    runId: run.id,
    status: run.status,
    period: {
      ...(run.periodFrom ? { from: run.periodFrom.toISOString() } : {}),
      ...(run.periodTo ? { to: run.periodTo.toISOString() } : {}),
      label: run.periodLabel,
    },
    ...(run.finishedAt ? { finishedAt: run.finishedAt.toISOString() } : {}),
    alerts: run.summary?.alerts ?? [],
    ...(run.summary ? { summary: run.summary } : {}),
  };
}

/**
 * The HMAC key of a secret: `whsec_<base64>` is the base64-decoded bytes (the Standard
 * Webhooks form); any other string is taken as its UTF-8 bytes.
 */
export function webhookKey(secret: string): Buffer {
  if (secret.startsWith('whsec_')) {
    const key = Buffer.from(secret.slice('whsec_'.length), 'base64');
    if (key.length === 0) throw new Error('a whsec_ secret needs base64 bytes after the prefix');
    return key;
  }
  if (secret.length === 0) throw new Error('a webhook secret cannot be empty');
  return Buffer.from(secret, 'utf8');
}

/** `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`. */
export function signWebhook(secret: string, id: string, timestamp: number, body: string | Buffer): string {
  const mac = createHmac('sha256', webhookKey(secret))
    .update(`${id}.${timestamp}.`)
    .update(body)
    .digest('base64');
  return `v1,${mac}`;
}

/** The three Standard Webhooks headers of one attempt. */
export function webhookHeaders(
  secret: string,
  id: string,
  body: string | Buffer,
  now: Date = new Date(),
): Record<'webhook-id' | 'webhook-timestamp' | 'webhook-signature', string> {
  const timestamp = Math.floor(now.getTime() / 1000);
  return {
    'webhook-id': id,
    'webhook-timestamp': String(timestamp),
    'webhook-signature': signWebhook(secret, id, timestamp, body),
  };
}

export type WebhookVerification =
  | { ok: true; id: string; timestamp: number }
  | { ok: false; reason: 'missing_headers' | 'timestamp' | 'signature' };

/**
 * Checks a received webhook: its headers (any letter case), the raw body as received, and the
 * shared secret. A timestamp further than `toleranceSeconds` from `now` is refused (a replayed
 * request); the signature header may list several space-separated signatures (during a secret
 * rotation), one matching is enough.
 */
export function verifyWebhook(
  secret: string,
  headers: Record<string, string | string[] | undefined>,
  body: string | Buffer,
  options: { toleranceSeconds?: number; now?: Date } = {},
): WebhookVerification {
  const header = (name: string): string | undefined => {
    const entry = Object.entries(headers).find(([k]) => k.toLowerCase() === name);
    const value = entry?.[1];
    return Array.isArray(value) ? value[0] : value;
  };
  const id = header('webhook-id');
  const stamp = header('webhook-timestamp');
  const signatures = header('webhook-signature');
  if (!id || !stamp || !signatures) return { ok: false, reason: 'missing_headers' };
  if (!/^\d+$/.test(stamp)) return { ok: false, reason: 'timestamp' };
  const timestamp = Number(stamp);
  const now = Math.floor((options.now ?? new Date()).getTime() / 1000);
  if (Math.abs(now - timestamp) > (options.toleranceSeconds ?? DEFAULT_TOLERANCE_SECONDS))
    return { ok: false, reason: 'timestamp' };
  const expected = Buffer.from(signWebhook(secret, id, timestamp, body).slice('v1,'.length), 'base64');
  for (const candidate of signatures.split(' ')) {
    const [version, mac] = candidate.split(',', 2);
    if (version !== 'v1' || !mac) continue;
    const given = Buffer.from(mac, 'base64');
    if (given.length === expected.length && timingSafeEqual(given, expected))
      return { ok: true, id, timestamp };
  }
  return { ok: false, reason: 'signature' };
}

/** Where one reconciliation's alerts go. */
export interface AlertWebhook {
  url: string;
  /**
   * `whsec_<base64>` or any other string (its UTF-8 bytes are the key). Without one, alerts go
   * unsigned (`webhook-id` and `webhook-timestamp` only): the receiver cannot tell them from forgeries.
   */
  secret?: string;
  /** Longest wait for the receiver's answer (default 10 s). */
  timeoutMs?: number;
}

/**
 * The http destination, signing each attempt anew: the id stays the message id (receivers
 * drop repeats by it), the timestamp is the attempt's, so a retry hours later still verifies.
 */
class SignedWebhookDestination implements Destination {
  constructor(
    private readonly hook: AlertWebhook,
    private readonly context: DestinationContext,
    private readonly now: () => Date,
  ) {}

  async send(request: DeliveryRequest): Promise<DeliveryOutcome> {
    const now = this.now();
    const headers: Record<string, string> =
      this.hook.secret === undefined
        ? {
            'webhook-id': request.messageId,
            'webhook-timestamp': String(Math.floor(now.getTime() / 1000)),
          }
        : webhookHeaders(this.hook.secret, request.messageId, request.body, now);
    const config = httpDestinationConfig.parse({
      url: this.hook.url,
      method: 'POST',
      headers,
      timeout_ms: this.hook.timeoutMs ?? 10_000,
      content_type: 'application/json',
    });
    const http = new HttpDestination(config, this.context);
    try {
      return await http.send(request);
    } finally {
      await http.close();
    }
  }

  async close(): Promise<void> {}

  describe(): string {
    return `POST ${this.hook.url}${this.hook.secret === undefined ? '' : ' (signed)'}`;
  }
}

export interface AlertSenderOptions {
  store: Store;
  queue: QueueDriver;
  logger: EngineLogger;
  /** The engine's metrics (alerts then count with the other deliveries); a registry of their own when absent. */
  metrics?: EngineMetrics;
  /** The webhook of each reconciliation that declares one, by reconciliation id. */
  webhooks: Readonly<Record<string, AlertWebhook>>;
  /** The retry policy of alert deliveries (the channel defaults: 10 attempts, 1 s doubling up to 5 min). */
  retry?: Partial<RetryPolicy>;
  /**
   * Whether this process sends (consumes the alert queues and looks for open alert deliveries
   * every `sweepIntervalMs`); a process that only records alerts leaves them to one that does.
   * Default true.
   */
  send?: boolean;
  sweepIntervalMs?: number;
  now?: () => Date;
}

/**
 * Records alerts in the ledger and delivers them. Each alert is a message of channel
 * `reconcile-alerts` (sender `reconcile:<id>`, keys `reconciliation` and `run`) with one
 * delivery, to a destination named after the reconciliation.
 */
export class AlertSender {
  private readonly workers = new Map<string, DestinationWorker>();
  private readonly retry: RetryPolicy;
  private sweepTimer?: NodeJS.Timeout;
  private sweeping?: Promise<void>;
  private started = false;

  constructor(private readonly options: AlertSenderOptions) {
    this.retry = retrySchema.parse(options.retry ?? {});
    const metrics = options.metrics ?? new EngineMetrics(false);
    const now = options.now ?? (() => new Date());
    for (const [id, hook] of Object.entries(options.webhooks)) {
      const context: DestinationContext = {
        channelId: ALERT_CHANNEL,
        destination: id,
        logger: options.logger,
      };
      const spec: CompiledDestination = {
        name: id,
        type: 'http',
        definition: httpDestination as CompiledDestination['definition'],
        config: { url: hook.url },
        retry: this.retry,
        concurrency: 1,
        ordering: { kind: 'none' },
        payload: 'raw',
      };
      this.workers.set(
        id,
        new DestinationWorker(ALERT_CHANNEL, spec, new SignedWebhookDestination(hook, context, now), {
          store: options.store,
          queue: options.queue,
          metrics,
          logger: options.logger,
        }),
      );
    }
  }

  /** Consumes the alert queues and sends what is open in the ledger (unless `send` is false). */
  async start(): Promise<void> {
    if (this.started || this.options.send === false) return;
    this.started = true;
    for (const worker of this.workers.values()) {
      await this.options.queue.consume<{ deliveryId: string }>(
        worker.queueName,
        (job) => worker.handle(job.data.deliveryId, job.id),
        {
          concurrency: 1,
          attempts: 3,
          backoff: { initialDelayMs: 1_000, multiplier: 2, maxDelayMs: 10_000, jitter: 0.2 },
        },
      );
    }
    await this.sweep();
    this.sweepTimer = setInterval(() => void this.sweep(), this.options.sweepIntervalMs ?? 5_000);
    this.sweepTimer.unref();
  }

  /**
   * Records the alert of a finished run and queues its delivery. Resolves with the message id,
   * or undefined when the run crossed no threshold or its reconciliation declares no webhook.
   */
  async send(run: RunRecord): Promise<{ messageId: string; delivery: DeliveryRecord } | undefined> {
    const worker = this.workers.get(run.reconciliation);
    const payload = alertPayload(run);
    if (!worker || payload.alerts.length === 0) return undefined;
    const body = Buffer.from(JSON.stringify(payload));
    const now = (this.options.now ?? (() => new Date()))();
    const id = messageId(now.getTime());
    const { store } = this.options;
    await store.insertMessages([
      {
        id,
        channelId: ALERT_CHANNEL,
        receivedAt: now,
        source: 'reconcile',
        sender: `reconcile:${run.reconciliation}`,
        messageType: ALERT_TYPE,
        controlId: run.id,
        contentType: 'json',
        raw: body,
        keys: { reconciliation: run.reconciliation, run: run.id },
      },
    ]);
    const [delivery] = await store.completePipeline(id, {
      status: 'processed',
      issues: [],
      deliveries: [{ destination: run.reconciliation, payload: body, payloadType: 'json' }],
    });
    if (!delivery) throw new Error(`the alert of run ${run.id} was recorded without its delivery`);
    if (this.started) await worker.enqueueCreated(delivery, { body, contentType: 'json' });
    else await worker.enqueue(delivery.id, 1);
    return { messageId: id, delivery };
  }

  /** Queues every open alert delivery (idempotent: job ids name the attempt). */
  sweep(): Promise<void> {
    this.sweeping ??= this.doSweep().finally(() => {
      this.sweeping = undefined;
    });
    return this.sweeping;
  }

  private async doSweep(): Promise<void> {
    try {
      for (const [id, worker] of this.workers) {
        for (let afterSeq = -1; ;) {
          const open = await this.options.store.listDestinationDeliveries(ALERT_CHANNEL, id, 500, afterSeq);
          for (const d of open) await worker.enqueue(d.id, d.attempts + 1);
          const last = open[open.length - 1];
          if (open.length < 500 || !last) break;
          afterSeq = last.seq;
        }
      }
    } catch (err) {
      this.options.logger.warn(
        { channel: ALERT_CHANNEL, err: err instanceof Error ? err.message : String(err) },
        'open alert deliveries could not be read; looked for again at the next interval',
      );
    }
  }

  /** Stops looking for open deliveries and closes the destinations (the queue is the caller's). */
  async stop(): Promise<void> {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    await this.sweeping;
    await Promise.allSettled([...this.workers.values()].map((w) => w.close()));
  }
}
