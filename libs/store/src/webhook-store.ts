import type { HubEnvironment } from '@sinew/hub';
import type {
  AttemptRecord,
  DeliveryQuery,
  DeliveryRecord,
  DeliveryStatus,
  NewDelivery,
  NewSubscription,
  SubscriptionKind,
  SubscriptionRecord,
  WebhookStore,
} from '@sinew/webhooks';
import type { SqlDatabase, SqlExecutor, SqlValue } from './sql';

/**
 * Webhook subscriptions, deliveries, attempts and the change cursor (`webhook_*` tables, see
 * `webhook-entities.ts`) with parameterised SQL on the ledger's connection.
 */

interface SubscriptionRow {
  id: string;
  app_id: string;
  kind: string;
  environment: string;
  url: string;
  events: string;
  payload: string;
  scopes: string;
  criteria: string | null;
  headers: string | null;
  description: string | null;
  status: string;
  secret: string;
  previous_secret: string | null;
  previous_secret_until: number | string | Date | null;
  created_at: number | string | Date;
  updated_at: number | string | Date;
}

interface DeliveryRowShape {
  id: string;
  subscription_id: string;
  app_id: string;
  event_id: string;
  event_type: string;
  environment: string;
  patient_id: string | null;
  order_key: string | null;
  seq: number | string;
  body: string;
  resource_path: string | null;
  status: string;
  attempts: number;
  next_attempt_at: number | string | Date | null;
  response_code: number | null;
  last_error: string | null;
  latency_ms: number | null;
  replay_of: string | null;
  created_at: number | string | Date;
  updated_at: number | string | Date;
}

function date(v: number | string | Date): Date {
  return v instanceof Date ? v : new Date(Number(v));
}

function subscription(r: SubscriptionRow): SubscriptionRecord {
  return {
    id: r.id,
    appId: r.app_id,
    kind: r.kind as SubscriptionKind,
    environment: r.environment as HubEnvironment,
    url: r.url,
    events: JSON.parse(r.events) as SubscriptionRecord['events'],
    payload: r.payload as SubscriptionRecord['payload'],
    scopes: JSON.parse(r.scopes) as string[],
    ...(r.criteria !== null ? { criteria: r.criteria } : {}),
    ...(r.headers !== null ? { headers: JSON.parse(r.headers) as string[] } : {}),
    ...(r.description !== null ? { description: r.description } : {}),
    status: r.status as SubscriptionRecord['status'],
    secret: r.secret,
    ...(r.previous_secret !== null && r.previous_secret_until !== null
      ? { previousSecret: r.previous_secret, previousSecretUntil: date(r.previous_secret_until) }
      : {}),
    createdAt: date(r.created_at),
    updatedAt: date(r.updated_at),
  };
}

function delivery(r: DeliveryRowShape): DeliveryRecord {
  return {
    id: r.id,
    subscriptionId: r.subscription_id,
    appId: r.app_id,
    eventId: r.event_id,
    eventType: r.event_type,
    environment: r.environment as HubEnvironment,
    patientId: r.patient_id,
    orderKey: r.order_key,
    seq: Number(r.seq),
    body: r.body,
    ...(r.resource_path !== null ? { resourcePath: r.resource_path } : {}),
    status: r.status as DeliveryStatus,
    attempts: Number(r.attempts),
    nextAttemptAt: r.next_attempt_at === null ? null : date(r.next_attempt_at),
    responseCode: r.response_code === null ? null : Number(r.response_code),
    lastError: r.last_error,
    latencyMs: r.latency_ms === null ? null : Number(r.latency_ms),
    ...(r.replay_of !== null ? { replayOf: r.replay_of } : {}),
    createdAt: date(r.created_at),
    updatedAt: date(r.updated_at),
  };
}

const DELIVERY_COLUMNS = [
  'id',
  'subscription_id',
  'app_id',
  'event_id',
  'event_type',
  'environment',
  'patient_id',
  'order_key',
  'seq',
  'body',
  'resource_path',
  'status',
  'attempts',
  'next_attempt_at',
  'replay_of',
  'created_at',
  'updated_at',
] as const;
const DELIVERY_PG_TYPES = [
  'text',
  'text',
  'text',
  'text',
  'text',
  'text',
  'text',
  'text',
  'bigint',
  'text',
  'text',
  'text',
  'integer',
  'timestamptz',
  'text',
  'timestamptz',
  'timestamptz',
] as const;

export class SqlWebhookStore implements WebhookStore {
  constructor(
    private readonly db: SqlDatabase,
    /** Throws when the store is closed. */
    private readonly open: () => void,
  ) {}

  async createSubscription(s: NewSubscription): Promise<SubscriptionRecord> {
    this.open();
    const now = new Date();
    const t = this.db.time(now);
    await this.db.run(
      'INSERT INTO webhook_subscription (id, app_id, kind, environment, url, events, payload, scopes, criteria, headers, description, status, secret, created_at, updated_at) ' +
        'VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
      [
        s.id,
        s.appId,
        s.kind,
        s.environment,
        s.url,
        JSON.stringify(s.events),
        s.payload,
        JSON.stringify(s.scopes),
        s.criteria ?? null,
        s.headers ? JSON.stringify(s.headers) : null,
        s.description ?? null,
        s.status,
        s.secret,
        t,
        t,
      ],
    );
    return { ...s, createdAt: now, updatedAt: now };
  }

  async getSubscription(id: string): Promise<SubscriptionRecord | undefined> {
    this.open();
    const r = await this.db.get<SubscriptionRow>('SELECT * FROM webhook_subscription WHERE id = ?', [id]);
    return r ? subscription(r) : undefined;
  }

  async listSubscriptions(filter: {
    appId?: string;
    kind?: SubscriptionKind;
  }): Promise<SubscriptionRecord[]> {
    this.open();
    const where: string[] = [];
    const params: SqlValue[] = [];
    if (filter.appId !== undefined) {
      where.push('app_id = ?');
      params.push(filter.appId);
    }
    if (filter.kind !== undefined) {
      where.push('kind = ?');
      params.push(filter.kind);
    }
    const rows = await this.db.all<SubscriptionRow>(
      `SELECT * FROM webhook_subscription${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at, id`,
      params,
    );
    return rows.map(subscription);
  }

  async activeSubscriptions(environment: HubEnvironment): Promise<SubscriptionRecord[]> {
    this.open();
    const rows = await this.db.all<SubscriptionRow>(
      "SELECT * FROM webhook_subscription WHERE environment = ? AND status = 'active' ORDER BY created_at, id",
      [environment],
    );
    return rows.map(subscription);
  }

  async updateSubscription(
    id: string,
    changes: Partial<Pick<SubscriptionRecord, 'scopes' | 'status'>> & {
      secret?: { value: string; previousUntil: Date };
    },
  ): Promise<SubscriptionRecord | undefined> {
    this.open();
    const sets: string[] = [];
    const params: SqlValue[] = [];
    if (changes.secret !== undefined) {
      // Assignments read the row as it was: the current secret becomes the previous one.
      sets.push('previous_secret = secret', 'previous_secret_until = ?', 'secret = ?');
      params.push(this.db.time(changes.secret.previousUntil), changes.secret.value);
    }
    if (changes.scopes !== undefined) {
      sets.push('scopes = ?');
      params.push(JSON.stringify(changes.scopes));
    }
    if (changes.status !== undefined) {
      sets.push('status = ?');
      params.push(changes.status);
    }
    sets.push('updated_at = ?');
    params.push(this.db.time(new Date()), id);
    await this.db.run(`UPDATE webhook_subscription SET ${sets.join(', ')} WHERE id = ?`, params);
    return this.getSubscription(id);
  }

  async deleteSubscription(id: string): Promise<boolean> {
    this.open();
    return this.db.transaction(async (tx) => {
      const n = await tx.run('DELETE FROM webhook_subscription WHERE id = ?', [id]);
      await tx.run(
        "UPDATE webhook_delivery SET status = 'dead', last_error = ?, next_attempt_at = NULL, lease_until = NULL, updated_at = ? WHERE subscription_id = ? AND status = 'pending'",
        ['the subscription was deleted', this.db.time(new Date()), id],
      );
      return n > 0;
    });
  }

  async readCursor(name: string): Promise<number> {
    this.open();
    const r = await this.db.get<{ seq: number | string }>('SELECT seq FROM webhook_cursor WHERE name = ?', [
      name,
    ]);
    return r ? Number(r.seq) : 0;
  }

  async advance(
    name: string,
    from: number,
    to: number,
    deliveries: readonly NewDelivery[],
  ): Promise<boolean> {
    this.open();
    const moved = new Error('cursor moved');
    try {
      await this.db.transaction(async (tx) => {
        const t = this.db.time(new Date());
        const row = await tx.get<{ seq: number | string }>(
          `SELECT seq FROM webhook_cursor WHERE name = ?${this.db.forUpdate}`,
          [name],
        );
        if (row === undefined) {
          if (from !== 0) throw moved;
          await tx.run('INSERT INTO webhook_cursor (name, seq, updated_at) VALUES (?, ?, ?)', [name, to, t]);
        } else {
          const n = await tx.run(
            'UPDATE webhook_cursor SET seq = ?, updated_at = ? WHERE name = ? AND seq = ?',
            [to, t, name, from],
          );
          if (n !== 1) throw moved;
        }
        await this.insertDeliveries(tx, deliveries);
      });
      return true;
    } catch (err) {
      if (err === moved) return false;
      throw err;
    }
  }

  async addDeliveries(deliveries: readonly NewDelivery[]): Promise<void> {
    this.open();
    await this.db.transaction((tx) => this.insertDeliveries(tx, deliveries));
  }

  private async insertDeliveries(tx: SqlExecutor, deliveries: readonly NewDelivery[]): Promise<void> {
    if (deliveries.length === 0) return;
    const t = this.db.time(new Date());
    for (let i = 0; i < deliveries.length; i += 500) {
      await tx.insertRows({
        table: 'webhook_delivery',
        columns: DELIVERY_COLUMNS,
        pgTypes: DELIVERY_PG_TYPES,
        rows: deliveries
          .slice(i, i + 500)
          .map((d) => [
            d.id,
            d.subscriptionId,
            d.appId,
            d.eventId,
            d.eventType,
            d.environment,
            d.patientId,
            d.orderKey,
            d.seq,
            d.body,
            d.resourcePath ?? null,
            d.status ?? 'pending',
            0,
            d.nextAttemptAt ? this.db.time(d.nextAttemptAt) : null,
            d.replayOf ?? null,
            t,
            t,
          ]),
      });
    }
  }

  async claimDue(now: Date, leaseMs: number, limit: number): Promise<DeliveryRecord[]> {
    this.open();
    const t = this.db.time(now);
    const candidates = await this.db.all<DeliveryRowShape>(
      "SELECT d.* FROM webhook_delivery d WHERE d.status = 'pending' AND d.next_attempt_at <= ? " +
        'AND (d.lease_until IS NULL OR d.lease_until < ?) ' +
        "AND (d.order_key IS NULL OR NOT EXISTS (SELECT 1 FROM webhook_delivery e WHERE e.subscription_id = d.subscription_id AND e.order_key = d.order_key AND e.status = 'pending' AND e.seq < d.seq)) " +
        'ORDER BY d.next_attempt_at, d.seq LIMIT ?',
      [t, t, limit],
    );
    const claimed: DeliveryRecord[] = [];
    const until = this.db.time(new Date(now.getTime() + leaseMs));
    for (const c of candidates) {
      const n = await this.db.run(
        "UPDATE webhook_delivery SET lease_until = ? WHERE id = ? AND status = 'pending' AND (lease_until IS NULL OR lease_until < ?)",
        [until, c.id, t],
      );
      if (n === 1) claimed.push(delivery(c));
    }
    return claimed;
  }

  async nextDue(now: Date): Promise<Date | undefined> {
    this.open();
    // Deliveries already due are either being sent or wait behind an earlier one about the same
    // patient: that one's next attempt is what the timer waits for.
    const r = await this.db.get<{ at: number | string | Date | null }>(
      "SELECT min(next_attempt_at) AS at FROM webhook_delivery WHERE status = 'pending' AND next_attempt_at > ?",
      [this.db.time(now)],
    );
    return r?.at === null || r?.at === undefined ? undefined : date(r.at);
  }

  async recordAttempt(
    attempt: AttemptRecord,
    state: { status: DeliveryStatus; nextAttemptAt: Date | null },
  ): Promise<void> {
    this.open();
    await this.db.transaction(async (tx) => {
      await tx.run(
        'INSERT INTO webhook_attempt (delivery_id, number, at, outcome, response_code, error, latency_ms) VALUES (?, ?, ?, ?, ?, ?, ?)',
        [
          attempt.deliveryId,
          attempt.number,
          this.db.time(attempt.at),
          attempt.outcome,
          attempt.responseCode,
          attempt.error,
          attempt.latencyMs,
        ],
      );
      await tx.run(
        'UPDATE webhook_delivery SET status = ?, attempts = ?, next_attempt_at = ?, lease_until = NULL, response_code = ?, last_error = ?, latency_ms = ?, updated_at = ? WHERE id = ?',
        [
          state.status,
          attempt.number,
          state.nextAttemptAt ? this.db.time(state.nextAttemptAt) : null,
          attempt.responseCode,
          attempt.error,
          attempt.latencyMs,
          this.db.time(new Date()),
          attempt.deliveryId,
        ],
      );
    });
  }

  async withhold(id: string, reason: string): Promise<void> {
    this.open();
    await this.db.run(
      "UPDATE webhook_delivery SET status = 'withheld', next_attempt_at = NULL, lease_until = NULL, last_error = ?, updated_at = ? WHERE id = ?",
      [reason, this.db.time(new Date()), id],
    );
  }

  async getDelivery(id: string): Promise<DeliveryRecord | undefined> {
    this.open();
    const r = await this.db.get<DeliveryRowShape>('SELECT * FROM webhook_delivery WHERE id = ?', [id]);
    return r ? delivery(r) : undefined;
  }

  async listDeliveries(query: DeliveryQuery): Promise<DeliveryRecord[]> {
    this.open();
    const where: string[] = [];
    const params: SqlValue[] = [];
    if (query.appId !== undefined) {
      where.push('app_id = ?');
      params.push(query.appId);
    }
    if (query.subscriptionId !== undefined) {
      where.push('subscription_id = ?');
      params.push(query.subscriptionId);
    }
    if (query.status !== undefined) {
      where.push('status = ?');
      params.push(query.status);
    }
    if (query.hideWithheld) where.push("status <> 'withheld'");
    if (query.before !== undefined) {
      const b = await this.db.get<{ created_at: number | string | Date; seq: number | string }>(
        'SELECT created_at, seq FROM webhook_delivery WHERE id = ?',
        [query.before],
      );
      if (b) {
        const at = this.db.time(date(b.created_at));
        const seq = Number(b.seq);
        where.push('(created_at < ? OR (created_at = ? AND (seq < ? OR (seq = ? AND id < ?))))');
        params.push(at, at, seq, seq, query.before);
      }
    }
    params.push(query.limit);
    const rows = await this.db.all<DeliveryRowShape>(
      `SELECT * FROM webhook_delivery${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at DESC, seq DESC, id DESC LIMIT ?`,
      params,
    );
    return rows.map(delivery);
  }

  async attempts(deliveryId: string): Promise<AttemptRecord[]> {
    this.open();
    const rows = await this.db.all<{
      delivery_id: string;
      number: number;
      at: number | string | Date;
      outcome: string;
      response_code: number | null;
      error: string | null;
      latency_ms: number;
    }>('SELECT * FROM webhook_attempt WHERE delivery_id = ? ORDER BY number', [deliveryId]);
    return rows.map((r) => ({
      deliveryId: r.delivery_id,
      number: Number(r.number),
      at: date(r.at),
      outcome: r.outcome as AttemptRecord['outcome'],
      responseCode: r.response_code === null ? null : Number(r.response_code),
      error: r.error,
      latencyMs: Number(r.latency_ms),
    }));
  }

  async pruneDeliveries(before: Date): Promise<number> {
    this.open();
    const t = this.db.time(before);
    return this.db.transaction(async (tx) => {
      await tx.run(
        "DELETE FROM webhook_attempt WHERE delivery_id IN (SELECT id FROM webhook_delivery WHERE status <> 'pending' AND updated_at < ?)",
        [t],
      );
      return tx.run("DELETE FROM webhook_delivery WHERE status <> 'pending' AND updated_at < ?", [t]);
    });
  }
}
