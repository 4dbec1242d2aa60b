import type { Destination, DeliveryOutcome } from '@sinew/connectors';
import { backoffDelay, type QueueDriver } from '@sinew/queue';
import { StoreError, type ContentType, type DeliveryRecord, type NewAttempt, type Store } from '@sinew/store';
import type { CompiledDestination, RetryPolicy } from '@sinew/channels';
import { Handoff } from './handoff';
import { messageIdTime } from './ids';
import { errorText } from './ingest';
import type { EngineLogger } from './logger';
import type { EngineMetrics } from './metrics';
import {
  hasResponsePlaceholder,
  PlaceholderError,
  resolveResponsePlaceholders,
  type AwaitedResponse,
} from './response-placeholders';
import { afterReason, dependencyFailedReason } from './sequence';

/**
 * Queue of a channel's pipeline jobs and of one destination's deliveries. An ordered pipeline
 * (strict FIFO, one job at a time) has a queue of its own, so that a live deploy can switch a
 * channel between ordered and unordered: each queue keeps the mode it is consumed in.
 */
export const pipelineQueue = (channelId: string, ordered = false) =>
  ordered ? `pipeline.${channelId}.ordered` : `pipeline.${channelId}`;
export const deliveryQueue = (channelId: string, destination: string) =>
  `deliver.${channelId}.${destination}`;
/** Pipeline job ids derive from message ids, delivery job ids are the delivery ids. */
export const pipelineJobId = (messageId: string) => `p.${messageId}`;
/**
 * A delivery's job id names the attempt it runs, so the retry enqueued by a running job is a
 * new job, while a recovery sweep re-enqueueing the same attempt changes nothing.
 */
export const deliveryJobId = (deliveryId: string, attempt: number) => `${deliveryId}.a${attempt}`;

/**
 * Job ids of early runs: `probe`, an attempt made before its due time while the destination
 * is down, to learn whether it is back; `wake`, a retrying delivery run at once when it is;
 * `held` and `held-again` (taking turns, as a running job's own id is not free), a delivery
 * looked at again while the ledger cannot record outcomes.
 */
export const earlyJobId = (
  deliveryId: string,
  attempt: number,
  kind: 'probe' | 'wake' | 'held' | 'held-again',
) => `${deliveryId}.a${attempt}.${kind}`;

/**
 * Failure codes of an attempt that could not connect (the HTTP client's errno codes, the MLLP
 * destination's connection failures): nothing reached the peer.
 */
const NOT_SENT_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'CONNECT_FAILED',
  'CONNECT_TIMEOUT',
  'TLS',
]);

/**
 * Failed attempts in a row (none accepted between) that make a destination down when it could
 * be reached: one failure may be the message's (a peer refusing one payload with a 500).
 */
const DOWN_AFTER_FAILURES = 3;
/** How long a delivery waits before it looks again while the ledger cannot record outcomes. */
const LEDGER_RECHECK_MS = 1_000;
/** At most one ledger probe per this interval (the others wait for the next). */
const LEDGER_PROBE_MS = 500;
/** Longest interval between probes of a down destination (a probe that reached the peer doubles it). */
const MAX_PROBE_INTERVAL_MS = 60_000;

export interface DeliveryJob {
  deliveryId: string;
}

/** Delay before attempt `attempt + 1`: the queue's backoff (exponential, capped, with jitter). */
export function retryDelay(policy: RetryPolicy, attempt: number, random = Math.random): number {
  return backoffDelay(
    {
      initialDelayMs: policy.initial_delay_ms,
      multiplier: policy.multiplier,
      maxDelayMs: policy.max_delay_ms,
      jitter: policy.jitter,
    },
    attempt,
    random,
  );
}

export interface DeliveryDeps {
  store: Store;
  queue: QueueDriver;
  metrics: EngineMetrics;
  logger: EngineLogger;
  /** Shared by the destinations of an engine (one ledger); one of their own when absent. */
  ledger?: LedgerWrites;
  /** How often a down destination is probed (default 2,000 ms). */
  probeIntervalMs?: number;
  /** A paused channel's deliveries hold (they stay open in the ledger; resuming enqueues them). */
  isPaused?: (channelId: string) => boolean;
  /**
   * A delivery became terminal: the destinations that wait for its destination (`after:`)
   * look at their delivery of the same message again.
   */
  releaseDependents?: (finished: DeliveryRecord) => Promise<void>;
}

type Labels = { channel: string; destination: string };

/** An attempt's outcome on its way to the ledger, with what follows once it is recorded. */
export interface Outcome {
  deliveryId: string;
  labels: Labels;
  attempt: NewAttempt;
  next: { status: 'sent' | 'retrying' | 'dead_lettered'; nextAttemptAt?: Date };
  /** Metrics, the next attempt, the next delivery of an ordering key. */
  after: (updated: DeliveryRecord) => Promise<void>;
}

/**
 * Whether the ledger records delivery outcomes. A send whose outcome the ledger refuses (a
 * full disk, a database gone) is held here, by delivery id, and recorded later without being
 * sent again; while the ledger refuses writes, no destination sends (`writable`).
 *
 * What is held lives in this process's memory: a process that stops with outcomes held sends
 * those deliveries again after its restart (at least once, as always).
 */
export class LedgerWrites {
  private failing?: { since: Date; code: string; unrecorded: number };
  private readonly held = new Map<string, Outcome>();
  private readonly recording = new Map<string, Promise<'recorded' | 'held' | 'gone'>>();
  private probing?: Promise<boolean>;
  private lastProbe = 0;

  constructor(
    private readonly store: Store,
    private readonly logger: EngineLogger,
    private readonly metrics: EngineMetrics,
  ) {}

  /** Undefined while outcomes are recorded; else since when they are not, why, and how many wait. */
  get state(): { since: Date; code: string; held: number } | undefined {
    return this.failing && { since: this.failing.since, code: this.failing.code, held: this.held.size };
  }

  /** The outcome of a delivery that was sent and not recorded yet. */
  heldOutcome(deliveryId: string): Outcome | undefined {
    return this.held.get(deliveryId);
  }

  /**
   * Records an outcome, then runs what follows it. When the ledger refuses the write the
   * outcome is held (`held`); when the delivery no longer takes it (another process recorded
   * it, it was removed) it is dropped (`gone`).
   */
  record(outcome: Outcome): Promise<'recorded' | 'held' | 'gone'> {
    const under = this.recording.get(outcome.deliveryId);
    if (under) return under;
    const run = this.doRecord(outcome).finally(() => this.recording.delete(outcome.deliveryId));
    this.recording.set(outcome.deliveryId, run);
    return run;
  }

  private async doRecord(o: Outcome): Promise<'recorded' | 'held' | 'gone'> {
    let updated: DeliveryRecord;
    try {
      updated = await this.store.recordAttempt(o.deliveryId, o.attempt, o.next);
    } catch (err) {
      if (err instanceof StoreError) {
        this.held.delete(o.deliveryId);
        if (err.code !== 'store.closed')
          this.logger.warn(
            { ...o.labels, deliveryId: o.deliveryId, attempt: o.attempt.number, err: err.code },
            'a delivery outcome the ledger no longer takes was dropped',
          );
        return 'gone';
      }
      const failing = this.failed(err);
      if (!this.held.has(o.deliveryId)) {
        this.held.set(o.deliveryId, o);
        this.metrics.outcomesUnrecorded.inc(o.labels);
        failing.unrecorded++;
      }
      return 'held';
    }
    this.held.delete(o.deliveryId);
    this.recovered();
    await o.after(updated);
    return 'recorded';
  }

  private failed(err: unknown): { unrecorded: number } {
    if (this.failing) return this.failing;
    const code = (err as { code?: unknown } | undefined)?.code;
    this.failing = { since: new Date(), code: typeof code === 'string' ? code : 'ERROR', unrecorded: 0 };
    this.logger.warn(
      { code: this.failing.code, err: errorText(err) },
      'the ledger cannot record delivery outcomes: deliveries are held (not sent again) until it can',
    );
    return this.failing;
  }

  private recovered(): void {
    if (!this.failing) return;
    const { since, unrecorded } = this.failing;
    this.failing = undefined;
    this.logger.warn(
      { failedForMs: Date.now() - since.getTime(), unrecorded, held: this.held.size },
      'the ledger records delivery outcomes again',
    );
  }

  /**
   * Whether a destination may send now: at once while the ledger takes writes; else after a
   * probe, which records the outcomes held (their own writes: no write of its own is needed).
   */
  writable(): Promise<boolean> {
    if (!this.failing) return Promise.resolve(true);
    this.probing ??= this.probe().finally(() => {
      this.probing = undefined;
    });
    return this.probing;
  }

  private async probe(): Promise<boolean> {
    if (Date.now() - this.lastProbe < LEDGER_PROBE_MS) return false;
    this.lastProbe = Date.now();
    for (const o of [...this.held.values()]) {
      const result = await this.record(o).catch((err: unknown) => {
        this.logger.warn(
          { ...o.labels, deliveryId: o.deliveryId, err: errorText(err) },
          'a delivery outcome was recorded; what follows it failed (the recovery sweep will go on)',
        );
        return 'recorded' as const;
      });
      if (result === 'held') return false;
    }
    // Nothing held (all recorded or dropped): the next outcome tells whether the ledger takes it.
    this.recovered();
    return true;
  }
}

/** A destination's state as seen from its attempts: up, or down since a failed attempt. */
export interface DestinationHealth {
  up: boolean;
  /** While down: since the first failed attempt, its code, and the failed attempts since. */
  since?: Date;
  code?: string;
  failedAttempts?: number;
}

/**
 * Runs the deliveries of one destination: the ordering gate, the send, the response check,
 * then one ledger write per attempt (sent, retry later, or dead letter). Watches the
 * destination: an attempt that cannot connect, or a few failed attempts in a row, make it
 * down (logged once); while down, a probe re-attempts its oldest retrying delivery early; the
 * first success makes it up again (logged once) and wakes its retrying deliveries at once, in
 * seq order.
 */
export class DestinationWorker {
  /** First attempts of deliveries this process just created, by job id (see `Handoff`). */
  private readonly primed = new Handoff<{
    record: DeliveryRecord;
    payload: { body: Buffer; contentType: ContentType };
  }>();
  private readonly ledger: LedgerWrites;
  private readonly labels: Labels;
  /** Deliveries being handled now: a second job for one of them does nothing. */
  private readonly inFlight = new Set<string>();
  private outage?: {
    since: Date;
    code: string;
    failedAttempts: number;
    probeIntervalMs: number;
    timer?: NodeJS.Timeout;
  };
  private closed = false;
  /** Failed attempts since the last accepted one. */
  private failuresInRow = 0;

  constructor(
    readonly channelId: string,
    readonly spec: CompiledDestination,
    readonly destination: Destination,
    private readonly deps: DeliveryDeps,
  ) {
    this.ledger = deps.ledger ?? new LedgerWrites(deps.store, deps.logger, deps.metrics);
    this.labels = { channel: channelId, destination: spec.name };
    deps.metrics.destinationUp.set(this.labels, 1);
  }

  get queueName(): string {
    return deliveryQueue(this.channelId, this.spec.name);
  }

  /** Up, or down since when, why, and after how many failed attempts. */
  get health(): DestinationHealth {
    const o = this.outage;
    return o ? { up: false, since: o.since, code: o.code, failedAttempts: o.failedAttempts } : { up: true };
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
   * Handles one delivery job. Idempotent: a terminal delivery is left alone, and so is one
   * this process is handling already. `jobId` finds what `enqueueCreated` kept for a first
   * attempt, and tells a probe or a wake-up (run before the due time) from a scheduled run.
   */
  async handle(deliveryId: string, jobId?: string): Promise<void> {
    if (this.inFlight.has(deliveryId)) {
      if (jobId !== undefined) this.primed.take(jobId);
      return;
    }
    this.inFlight.add(deliveryId);
    this.active++;
    try {
      await this.attempt(deliveryId, jobId);
    } finally {
      this.active--;
      this.inFlight.delete(deliveryId);
    }
  }

  /** Deliveries being handled right now (a redeploy waits for them before closing). */
  private active = 0;

  private async attempt(deliveryId: string, jobId?: string): Promise<void> {
    const { store } = this.deps;
    const primed = jobId === undefined ? undefined : this.primed.take(jobId);
    const held = this.ledger.heldOutcome(deliveryId);
    if (held) {
      // Sent already, its outcome not recorded yet: record it, and never send it again meanwhile.
      if ((await this.ledger.record(held)) === 'held')
        await this.lookAgain(deliveryId, held.attempt.number, jobId);
      return;
    }
    const d = primed?.record ?? (await store.getDelivery(deliveryId));
    if (!d || d.status === 'sent' || d.status === 'dead_lettered') return;
    if (this.deps.isPaused?.(d.channelId)) return;
    const probe = jobId?.endsWith('.probe') === true;
    const early = probe || jobId?.endsWith('.wake') === true;
    const now = Date.now();
    if (!early && d.status === 'retrying' && d.nextAttemptAt && d.nextAttemptAt.getTime() > now + 50) {
      // Woken early (a recovery sweep): wait for the due time.
      await this.enqueue(d.id, d.attempts + 1, d.nextAttemptAt.getTime() - now);
      return;
    }
    if (!(await this.ledger.writable())) {
      // The ledger could not record what was sent: nothing more is sent until it can.
      await this.lookAgain(d.id, d.attempts + 1, jobId);
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
      } else if (d.status === 'parked' && !this.waitsForAfter(d)) {
        // (One parked for its `after:` destination is left to that gate, below.)
        await store.setDeliveryState(d.id, 'pending');
      }
    }
    let awaited: AwaitedResponse | undefined;
    if (this.spec.after !== undefined) {
      const gate = await this.awaitDependency(d, this.spec.after);
      if (gate.kind === 'wait') return;
      if (gate.kind === 'failed') {
        await this.deadLetterUnsent(d, 'DEPENDENCY', gate.reason, jobId);
        return;
      }
      awaited = gate.awaited;
    }
    const payload = primed?.payload ?? (await store.getDeliveryPayload(d.id));
    if (!payload) throw new Error(`delivery ${d.id} has no payload`);
    let body = payload.body;
    if (awaited && hasResponsePlaceholder(body)) {
      try {
        body = resolveResponsePlaceholders(body, payload.contentType, awaited);
      } catch (err) {
        if (!(err instanceof PlaceholderError)) throw err;
        await this.deadLetterUnsent(d, 'PLACEHOLDER', err.message, jobId);
        return;
      }
    }
    const attempt = d.attempts + 1;
    const startedAt = new Date();
    let result: DeliveryOutcome;
    try {
      result = await this.destination.send({
        messageId: d.messageId,
        deliveryId: d.id,
        attempt,
        body,
        contentType: payload.contentType,
        channelId: d.channelId,
        destination: d.destination,
      });
    } catch (err) {
      result = { status: 'retry', code: 'ERROR', error: errorText(err) };
    }
    const finishedAt = new Date();
    const labels = this.labels;
    const notSent = result.status === 'retry' && result.code !== undefined && NOT_SENT_CODES.has(result.code);
    if (!notSent) this.deps.metrics.sends.inc(labels);
    if (result.status !== 'sent') this.deps.metrics.attemptsFailed.inc(labels);
    this.observe(result, probe && !notSent);
    // A probe that could not connect sent nothing: it is no attempt (the delivery keeps its
    // schedule and its attempts); the outage counts it.
    if (probe && notSent) return;
    const base = {
      number: attempt,
      startedAt,
      finishedAt,
      ...(result.code !== undefined ? { code: result.code } : {}),
      ...(result.response !== undefined ? { response: result.response } : {}),
    };
    let outcome: Outcome;
    if (result.status === 'sent') {
      outcome = {
        deliveryId: d.id,
        labels,
        attempt: { ...base, outcome: 'sent' },
        next: { status: 'sent' },
        after: async (updated) => {
          this.deps.metrics.sent.inc(labels);
          // Message ids carry their receipt time: no read needed for the latency.
          this.deps.metrics.endToEnd.observe(
            labels,
            (finishedAt.getTime() - messageIdTime(d.messageId)) / 1000,
          );
          await this.wakeNext(updated);
          await this.deps.releaseDependents?.(updated);
        },
      };
    } else if (result.status === 'failed' || attempt >= this.spec.retry.attempts) {
      const code = result.code;
      outcome = {
        deliveryId: d.id,
        labels,
        attempt: { ...base, outcome: 'failed', error: result.error },
        next: { status: 'dead_lettered' },
        after: async (updated) => {
          this.deps.metrics.deadLettered.inc(labels);
          this.deps.logger.warn(
            { channel: d.channelId, destination: d.destination, deliveryId: d.id, attempts: attempt, code },
            'delivery dead-lettered',
          );
          await this.wakeNext(updated);
          await this.deps.releaseDependents?.(updated);
        },
      };
    } else {
      const delay = Math.max(
        retryDelay(this.spec.retry, attempt),
        result.retryAfterMs ? Math.min(result.retryAfterMs, this.spec.retry.max_delay_ms) : 0,
      );
      outcome = {
        deliveryId: d.id,
        labels,
        attempt: { ...base, outcome: 'retry', error: result.error },
        next: { status: 'retrying', nextAttemptAt: new Date(finishedAt.getTime() + delay) },
        after: () => this.enqueue(d.id, attempt + 1, delay),
      };
    }
    if ((await this.ledger.record(outcome)) === 'held') await this.lookAgain(d.id, attempt, jobId);
  }

  /** Whether the delivery is parked because it waits for this destination's `after:` one. */
  private waitsForAfter(d: DeliveryRecord): boolean {
    return this.spec.after !== undefined && d.parkedReason === afterReason(this.spec.after);
  }

  /**
   * The gate of a destination that waits for another (`after:`): `go` once that one sent the
   * message (with what it received), `failed` when it dead-lettered it or has no delivery of it,
   * else `wait` with the delivery parked (its release, or a recovery sweep, looks again).
   */
  private async awaitDependency(
    d: DeliveryRecord,
    after: string,
  ): Promise<
    { kind: 'go'; awaited: AwaitedResponse } | { kind: 'failed'; reason: string } | { kind: 'wait' }
  > {
    const { store } = this.deps;
    const depId = `${d.messageId}.${after}`;
    for (let look = 0; ; look++) {
      const dep = await store.getDelivery(depId);
      if (!dep)
        return {
          kind: 'failed',
          reason: `dependency ${after} has no delivery of this message (its filter skipped it)`,
        };
      if (dep.status === 'dead_lettered') return { kind: 'failed', reason: dependencyFailedReason(after) };
      if (dep.status === 'sent') {
        const accepted = (await store.getAttempts(depId)).filter((a) => a.outcome === 'sent').pop();
        if (d.status === 'parked') await store.setDeliveryState(d.id, 'pending');
        return {
          kind: 'go',
          awaited: {
            destination: after,
            ...(accepted?.code !== undefined ? { code: accepted.code } : {}),
            ...(accepted?.response !== undefined ? { response: accepted.response } : {}),
          },
        };
      }
      if (look > 0) return { kind: 'wait' };
      const reason = afterReason(after);
      // Already parked for this reason (a recovery sweep looking again): nothing to write.
      if (d.status === 'parked' && d.parkedReason === reason) return { kind: 'wait' };
      await store.setDeliveryState(d.id, 'parked', reason);
      d = { ...d, status: 'parked', parkedReason: reason };
      // The dependency may have finished between the two reads: look once more.
    }
  }

  /**
   * Dead-letters a delivery that is not sent (what it waits for failed, or its payload cannot be
   * completed): one attempt is recorded, with `code` and the reason, and nothing reaches the peer.
   */
  private async deadLetterUnsent(
    d: DeliveryRecord,
    code: string,
    reason: string,
    jobId?: string,
  ): Promise<void> {
    const now = new Date();
    const labels = this.labels;
    const attempt = d.attempts + 1;
    const outcome: Outcome = {
      deliveryId: d.id,
      labels,
      attempt: { number: attempt, startedAt: now, finishedAt: now, outcome: 'failed', code, error: reason },
      next: { status: 'dead_lettered' },
      after: async (updated) => {
        this.deps.metrics.deadLettered.inc(labels);
        this.deps.logger.warn(
          { channel: d.channelId, destination: d.destination, deliveryId: d.id, code },
          'delivery dead-lettered without being sent',
        );
        await this.wakeNext(updated);
        await this.deps.releaseDependents?.(updated);
      },
    };
    if ((await this.ledger.record(outcome)) === 'held') await this.lookAgain(d.id, attempt, jobId);
  }

  /**
   * The delivery this destination waits for (`after:`) became terminal: this destination's
   * delivery of the same message goes now (or is dead-lettered). One that was dead-lettered
   * because the dependency failed is requeued when the dependency was replayed and sent.
   */
  async release(finished: DeliveryRecord): Promise<void> {
    const { store } = this.deps;
    const id = `${finished.messageId}.${this.spec.name}`;
    let mine = await store.getDelivery(id);
    if (!mine) return;
    if (
      mine.status === 'dead_lettered' &&
      finished.status === 'sent' &&
      mine.lastError === dependencyFailedReason(finished.destination)
    )
      mine = await store.requeueDelivery(id);
    if (mine.status === 'sent' || mine.status === 'dead_lettered') return;
    await this.enqueue(id, mine.attempts + 1);
  }

  /** Runs the delivery again in a moment (the ledger could not record its outcome). */
  private lookAgain(deliveryId: string, attempt: number, jobId: string | undefined): Promise<void> {
    const job: DeliveryJob = { deliveryId };
    const kind = jobId?.endsWith('.held') ? 'held-again' : 'held';
    return this.deps.queue.enqueue(this.queueName, earlyJobId(deliveryId, attempt, kind), job, {
      delayMs: LEDGER_RECHECK_MS,
    });
  }

  /** Follows the destination's state from an attempt's result. */
  private observe(result: DeliveryOutcome, probeReachedPeer: boolean): void {
    if (result.status === 'sent') {
      this.failuresInRow = 0;
      if (this.outage) this.recovered();
      return;
    }
    if (result.status !== 'retry') return;
    this.failuresInRow++;
    const code = result.code ?? 'ERROR';
    if (this.outage) {
      this.outage.failedAttempts++;
      // A probe that reached the peer was a real attempt: probe less often, to spare its retries.
      if (probeReachedPeer)
        this.outage.probeIntervalMs = Math.min(this.outage.probeIntervalMs * 2, MAX_PROBE_INTERVAL_MS);
      return;
    }
    // Unreachable is down at once; a peer that answers, after a few failures in a row.
    if (!NOT_SENT_CODES.has(code) && this.failuresInRow < DOWN_AFTER_FAILURES) return;
    this.outage = {
      since: new Date(),
      code,
      failedAttempts: this.failuresInRow,
      probeIntervalMs: this.deps.probeIntervalMs ?? 2_000,
    };
    this.deps.metrics.destinationUp.set(this.labels, 0);
    this.deps.logger.warn({ ...this.labels, code }, 'destination down: its deliveries are retried');
    this.scheduleProbe();
  }

  private recovered(): void {
    const o = this.outage;
    if (!o) return;
    clearTimeout(o.timer);
    this.outage = undefined;
    this.deps.metrics.destinationUp.set(this.labels, 1);
    this.deps.logger.info(
      {
        ...this.labels,
        code: o.code,
        downForMs: Date.now() - o.since.getTime(),
        failedAttempts: o.failedAttempts,
      },
      'destination recovered: its waiting deliveries go now',
    );
    void this.wake().catch((err: unknown) =>
      this.deps.logger.warn(
        { ...this.labels, err: errorText(err) },
        'waking the retrying deliveries failed; they go at their due time',
      ),
    );
  }

  private scheduleProbe(): void {
    const o = this.outage;
    if (!o || this.closed) return;
    o.timer = setTimeout(() => {
      void this.probe()
        .catch(() => undefined)
        .finally(() => {
          if (this.outage === o) this.scheduleProbe();
        });
    }, o.probeIntervalMs);
    o.timer.unref();
  }

  /**
   * While down: runs the oldest retrying delivery that is not due soon before its time. It
   * never takes a delivery's last attempt, so a probe never dead-letters.
   */
  private async probe(): Promise<void> {
    const o = this.outage;
    if (!o || this.closed) return;
    const open = await this.deps.store.listDestinationDeliveries(this.channelId, this.spec.name, 100);
    const soon = Date.now() + o.probeIntervalMs;
    const target = open.find(
      (d) =>
        d.status === 'retrying' &&
        d.attempts + 1 < this.spec.retry.attempts &&
        (d.nextAttemptAt?.getTime() ?? 0) > soon &&
        !this.inFlight.has(d.id) &&
        !this.ledger.heldOutcome(d.id),
    );
    if (!target) return;
    const job: DeliveryJob = { deliveryId: target.id };
    await this.deps.queue.enqueue(this.queueName, earlyJobId(target.id, target.attempts + 1, 'probe'), job);
  }

  /** The destination is back: its retrying deliveries run now, in seq order (gates still apply). */
  private async wake(): Promise<void> {
    const page = 1_000;
    for (let afterSeq = -1; ;) {
      const open = await this.deps.store.listDestinationDeliveries(
        this.channelId,
        this.spec.name,
        page,
        afterSeq,
      );
      for (const d of open) {
        if (d.status !== 'retrying' || this.inFlight.has(d.id)) continue;
        const job: DeliveryJob = { deliveryId: d.id };
        await this.deps.queue.enqueue(this.queueName, earlyJobId(d.id, d.attempts + 1, 'wake'), job);
      }
      const last = open[open.length - 1];
      // Another outage may have begun meanwhile: its recovery wakes the rest.
      if (open.length < page || !last || this.outage) return;
      afterSeq = last.seq;
    }
  }

  /**
   * Takes over the outage a worker of the previous version saw, when a redeploy keeps the
   * destination: one outage, one pair of log lines.
   */
  inherit(previous: DestinationWorker): void {
    const o = previous.outage;
    if (!o || this.outage) return;
    this.outage = {
      since: o.since,
      code: o.code,
      failedAttempts: o.failedAttempts,
      probeIntervalMs: o.probeIntervalMs,
    };
    this.deps.metrics.destinationUp.set(this.labels, 0);
    this.scheduleProbe();
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

  /** Stops probing (the destination is being closed or replaced). */
  private stopWatching(): void {
    this.closed = true;
    clearTimeout(this.outage?.timer);
  }

  close(): Promise<void> {
    this.stopWatching();
    this.primed.clear();
    return this.destination.close();
  }

  /**
   * After a redeploy: waits for the deliveries under way, then closes the connector unless
   * the new version kept it (`keepDestination`).
   */
  async retire(keepDestination: boolean, timeoutMs = 30_000): Promise<void> {
    const until = Date.now() + timeoutMs;
    this.stopWatching();
    while (this.active > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    this.primed.clear();
    if (!keepDestination) await this.destination.close();
  }
}
