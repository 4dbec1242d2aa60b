import type { Destination, DeliveryOutcome } from '@sinew/connectors';
import type { QueueDriver } from '@sinew/queue';
import type { ContentType, DeliveryRecord, Store } from '@sinew/store';
import type { CompiledDestination, RetryPolicy } from '@sinew/channels';
import { Handoff } from './handoff';
import { messageIdTime } from './ids';
import { errorText } from './ingest';
import type { EngineLogger } from './logger';
import type { EngineMetrics } from './metrics';

/** Queue of a channel's pipeline jobs and of one destination's deliveries. */
export const pipelineQueue = (channelId: string) => `pipeline.${channelId}`;
export const deliveryQueue = (channelId: string, destination: string) =>
  `deliver.${channelId}.${destination}`;
/** Pipeline job ids derive from message ids, delivery job ids are the delivery ids. */
export const pipelineJobId = (messageId: string) => `p.${messageId}`;
/**
 * A delivery's job id names the attempt it runs, so the retry enqueued by a running job is a
 * new job, while a recovery sweep re-enqueueing the same attempt changes nothing.
 */
export const deliveryJobId = (deliveryId: string, attempt: number) => `${deliveryId}.a${attempt}`;

export interface DeliveryJob {
  deliveryId: string;
}

/** Delay before attempt `attempt + 1`: exponential, capped, with jitter. */
export function retryDelay(policy: RetryPolicy, attempt: number, random = Math.random): number {
  const base = Math.min(
    policy.max_delay_ms,
    policy.initial_delay_ms * policy.multiplier ** Math.max(0, attempt - 1),
  );
  const spread = base * policy.jitter * (random() * 2 - 1);
  return Math.max(0, Math.round(Math.min(policy.max_delay_ms, base + spread)));
}

export interface DeliveryDeps {
  store: Store;
  queue: QueueDriver;
  metrics: EngineMetrics;
  logger: EngineLogger;
}

/**
 * Runs the deliveries of one destination: the ordering gate, the send, the response check,
 * then one ledger write per attempt (sent, retry later, or dead letter).
 */
export class DestinationWorker {
  /** First attempts of deliveries this process just created, by job id (see `Handoff`). */
  private readonly primed = new Handoff<{
    record: DeliveryRecord;
    payload: { body: Buffer; contentType: ContentType };
  }>();

  constructor(
    readonly channelId: string,
    readonly spec: CompiledDestination,
    readonly destination: Destination,
    private readonly deps: DeliveryDeps,
  ) {}

  get queueName(): string {
    return deliveryQueue(this.channelId, this.spec.name);
  }

  /**
   * Enqueues the first attempt of a delivery this process has just created, keeping its
   * record and payload for the job so that it need not read them back.
   */
  enqueueCreated(record: DeliveryRecord, payload: { body: Buffer; contentType: ContentType }): Promise<void> {
    const jobId = deliveryJobId(record.id, 1);
    this.primed.put(jobId, { record, payload });
    return this.enqueue(record.id, 1);
  }

  /**
   * Handles one delivery job. Idempotent: a terminal delivery is left alone. `jobId` finds
   * what `enqueueCreated` kept for a first attempt.
   */
  async handle(deliveryId: string, jobId?: string): Promise<void> {
    this.active++;
    try {
      await this.attempt(deliveryId, jobId);
    } finally {
      this.active--;
    }
  }

  /** Deliveries being handled right now (a redeploy waits for them before closing). */
  private active = 0;

  private async attempt(deliveryId: string, jobId?: string): Promise<void> {
    const { store } = this.deps;
    const primed = jobId === undefined ? undefined : this.primed.take(jobId);
    const d = primed?.record ?? (await store.getDelivery(deliveryId));
    if (!d || d.status === 'sent' || d.status === 'dead_lettered') return;
    const now = Date.now();
    if (d.status === 'retrying' && d.nextAttemptAt && d.nextAttemptAt.getTime() > now + 50) {
      // Woken early (a recovery sweep): wait for the due time.
      await this.enqueue(d.id, d.attempts + 1, d.nextAttemptAt.getTime() - now);
      return;
    }
    if (d.orderKey !== undefined && d.orderKey !== null) {
      const blocker = await store.findBlocker(d.channelId, d.destination, d.orderKey, d.seq);
      if (blocker) {
        const reason = `waiting behind message ${blocker.messageId} (${blocker.status})`;
        // Already parked for this reason (a recovery sweep looking again): nothing to write.
        if (d.status === 'parked' && d.parkedReason === reason) return;
        await store.setDeliveryState(d.id, 'parked', reason);
        // The blocker may have finished between the two reads: look once more.
        const still = await store.findBlocker(d.channelId, d.destination, d.orderKey, d.seq);
        if (still) return;
        await store.setDeliveryState(d.id, 'pending');
      } else if (d.status === 'parked') {
        await store.setDeliveryState(d.id, 'pending');
      }
    }
    const payload = primed?.payload ?? (await store.getDeliveryPayload(d.id));
    if (!payload) throw new Error(`delivery ${d.id} has no payload`);
    const attempt = d.attempts + 1;
    const startedAt = new Date();
    let result: DeliveryOutcome;
    try {
      result = await this.destination.send({
        messageId: d.messageId,
        deliveryId: d.id,
        attempt,
        body: payload.body,
        contentType: payload.contentType,
        channelId: d.channelId,
        destination: d.destination,
      });
    } catch (err) {
      result = { status: 'retry', code: 'ERROR', error: errorText(err) };
    }
    const finishedAt = new Date();
    const labels = { channel: d.channelId, destination: d.destination };
    const base = {
      number: attempt,
      startedAt,
      finishedAt,
      ...(result.code !== undefined ? { code: result.code } : {}),
      ...(result.response !== undefined ? { response: result.response } : {}),
    };
    let updated: DeliveryRecord;
    if (result.status === 'sent') {
      updated = await store.recordAttempt(d.id, { ...base, outcome: 'sent' }, { status: 'sent' });
      this.deps.metrics.sent.inc(labels);
      // Message ids carry their receipt time: no read needed for the latency.
      this.deps.metrics.endToEnd.observe(labels, (finishedAt.getTime() - messageIdTime(d.messageId)) / 1000);
    } else {
      this.deps.metrics.attemptsFailed.inc(labels);
      const last = result.status === 'failed' || attempt >= this.spec.retry.attempts;
      if (last) {
        updated = await store.recordAttempt(
          d.id,
          { ...base, outcome: 'failed', error: result.error },
          { status: 'dead_lettered' },
        );
        this.deps.metrics.deadLettered.inc(labels);
        this.deps.logger.warn(
          {
            channel: d.channelId,
            destination: d.destination,
            deliveryId: d.id,
            attempts: attempt,
            code: result.code,
          },
          'delivery dead-lettered',
        );
      } else {
        const delay = Math.max(
          retryDelay(this.spec.retry, attempt),
          result.status === 'retry' && result.retryAfterMs
            ? Math.min(result.retryAfterMs, this.spec.retry.max_delay_ms)
            : 0,
        );
        updated = await store.recordAttempt(
          d.id,
          { ...base, outcome: 'retry', error: result.error },
          { status: 'retrying', nextAttemptAt: new Date(finishedAt.getTime() + delay) },
        );
        await this.enqueue(d.id, attempt + 1, delay);
      }
    }
    if (updated.status === 'sent' || updated.status === 'dead_lettered') await this.wakeNext(updated);
  }

  /** After a terminal delivery of an ordered key, the next parked one of that key may go. */
  private async wakeNext(d: DeliveryRecord): Promise<void> {
    if (d.orderKey === undefined || d.orderKey === null) return;
    const next = await this.deps.store.nextParked(d.channelId, d.destination, d.orderKey);
    if (!next) return;
    await this.deps.store.setDeliveryState(next.id, 'pending');
    await this.enqueue(next.id, next.attempts + 1);
  }

  /** Enqueues attempt `attempt` of a delivery (idempotent per attempt). */
  enqueue(deliveryId: string, attempt: number, delayMs = 0): Promise<void> {
    const job: DeliveryJob = { deliveryId };
    return this.deps.queue.enqueue(
      this.queueName,
      deliveryJobId(deliveryId, attempt),
      job,
      delayMs > 0 ? { delayMs } : {},
    );
  }

  close(): Promise<void> {
    this.primed.clear();
    return this.destination.close();
  }

  /**
   * After a redeploy: waits for the deliveries under way, then closes the connector unless
   * the new version kept it (`keepDestination`).
   */
  async retire(keepDestination: boolean, timeoutMs = 30_000): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (this.active > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    this.primed.clear();
    if (!keepDestination) await this.destination.close();
  }
}
