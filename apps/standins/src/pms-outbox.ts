import { setTimeout as sleep } from 'node:timers/promises';
import { MllpClient, type MllpSendResult } from '@sinew/mllp';

/** Where the PMS sends each kind of message (the engine's pms-adt, pms-siu and pms-dft sources). */
export interface PmsNotifyTargets {
  adt?: MllpAddress;
  siu?: MllpAddress;
  dft?: MllpAddress;
}

export interface MllpAddress {
  host: string;
  port: number;
}

export type OutboxKind = 'patient' | 'appointment' | 'charge';
export type OutboxRoute = keyof PmsNotifyTargets;

/** One notification the PMS sent (or tried to), as `GET /api/outbox` lists it. */
export interface OutboxEntry {
  id: number;
  kind: OutboxKind;
  /** MSH-9 without the structure: `ADT^A04`, `SIU^S15`, `DFT^P03` … */
  messageType: string;
  /** MSH-10. */
  controlId: string;
  /** The id of the record it is about. */
  recordId: number;
  /** When it was last tried (null while queued). */
  sentAt: string | null;
  /** MSA-1 of the acknowledgement; null while waiting and when none came. */
  ack: string | null;
  /** Why it was not accepted: the ACK's text or error, or what went wrong on the connection. */
  error: string | null;
  /** Sends tried (a failed connection or a missing ACK is tried again). */
  attempts: number;
}

export interface OutboxOptions {
  /** Sends tried per message before giving up on a failed connection or a missing ACK (default 4). */
  attempts?: number;
  /** Wait before the second attempt, doubled for each further one (default 250 ms). */
  retryDelayMs?: number;
  /** Longest wait for an ACK (default 10,000 ms). */
  ackTimeoutMs?: number;
}

/**
 * The PMS's outgoing messages: one queue per destination, sent one at a time in the order the
 * changes were made (an A08 never overtakes the A04 it follows), each waiting for its ACK.
 * Writes never wait for it: a change is queued and the REST call answered at once.
 */
export class PmsOutbox {
  readonly entries: OutboxEntry[] = [];
  private readonly clients = new Map<OutboxRoute, MllpClient>();
  private readonly tails = new Map<OutboxRoute, Promise<void>>();
  private readonly attempts: number;
  private readonly retryDelayMs: number;
  private readonly ackTimeoutMs: number;
  private nextId = 1;
  private sequence = 0;
  private closed = false;
  /** Distinguishes this process's control ids from those of an earlier run on the same database. */
  private readonly runTag = Date.now().toString(36).toUpperCase();

  constructor(
    private readonly targets: PmsNotifyTargets,
    options: OutboxOptions = {},
  ) {
    this.attempts = Math.max(1, options.attempts ?? 4);
    this.retryDelayMs = options.retryDelayMs ?? 250;
    this.ackTimeoutMs = options.ackTimeoutMs ?? 10_000;
  }

  /** Whether messages of this route have somewhere to go. */
  routes(route: OutboxRoute): boolean {
    return this.targets[route] !== undefined;
  }

  /** A control id (MSH-10) no other message of the PMS has: at most 20 characters. */
  nextControlId(): string {
    this.sequence += 1;
    return `PMS${this.runTag}${String(this.sequence).padStart(6, '0')}`.slice(0, 20);
  }

  /**
   * Queues a message built for `controlId` (see {@link nextControlId}); returns its entry, or
   * undefined when the route has no address (nothing is sent then).
   */
  enqueue(
    route: OutboxRoute,
    entry: { kind: OutboxKind; messageType: string; recordId: number; controlId: string },
    message: string,
  ): OutboxEntry | undefined {
    const target = this.targets[route];
    if (!target || this.closed) return undefined;
    const record: OutboxEntry = {
      id: this.nextId++,
      ...entry,
      sentAt: null,
      ack: null,
      error: null,
      attempts: 0,
    };
    this.entries.push(record);
    const previous = this.tails.get(route) ?? Promise.resolve();
    const next = previous.then(() => this.send(route, target, record, message));
    this.tails.set(route, next);
    return record;
  }

  /** Resolves once every message queued so far has its outcome. */
  async idle(): Promise<void> {
    for (;;) {
      const tails = [...this.tails.values()];
      await Promise.all(tails);
      if ([...this.tails.values()].every((t, i) => t === tails[i]) && this.tails.size === tails.length)
        return;
    }
  }

  /** Forgets the entries (messages in flight still end). */
  clear(): void {
    this.entries.length = 0;
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.clients.values()].map((c) => c.close()));
  }

  private client(route: OutboxRoute, target: MllpAddress): MllpClient {
    let client = this.clients.get(route);
    if (!client) {
      // Retries are this queue's own (whole sends, not only connections).
      client = new MllpClient({
        host: target.host,
        port: target.port,
        ackTimeoutMs: this.ackTimeoutMs,
        connectTimeoutMs: 5_000,
        reconnect: { attempts: 1 },
      });
      this.clients.set(route, client);
    }
    return client;
  }

  private async send(
    route: OutboxRoute,
    target: MllpAddress,
    entry: OutboxEntry,
    message: string,
  ): Promise<void> {
    const bytes = Buffer.from(message, 'utf8');
    for (let attempt = 1; attempt <= this.attempts; attempt++) {
      if (this.closed) {
        entry.error = 'the PMS stopped before the message was acknowledged';
        return;
      }
      if (attempt > 1) await sleep(this.retryDelayMs * 2 ** (attempt - 2));
      entry.attempts = attempt;
      entry.sentAt = new Date().toISOString();
      let result: MllpSendResult;
      try {
        result = await this.client(route, target).send(bytes);
      } catch (err) {
        entry.error = (err as Error).message;
        return;
      }
      if (result.status === 'connection_failed' || result.status === 'timeout') {
        entry.error = result.error?.message ?? result.status;
        continue;
      }
      entry.ack = result.code || null;
      entry.error =
        result.status === 'accepted'
          ? null
          : [result.text, ...result.errors].filter((t) => t).join('; ') ||
            (result.error?.message ?? result.status);
      return;
    }
  }
}
