import { EntitySchema, type EntitySchemaColumnOptions } from 'typeorm';
import type { StoreKind } from './entities';

/**
 * The webhooks' tables (subscriptions, deliveries and their attempts, the change cursor) as
 * TypeORM entity schemas, in the ledger's database. They describe what the committed
 * migrations create (a test checks both agree on each backend); `webhook-store.ts` reads and
 * writes them with parameterised SQL. Lists (events, scopes, headers) are JSON texts.
 */
export function webhookEntities(kind: StoreKind): EntitySchema[] {
  const pg = kind === 'postgres';
  const text = (extra: Partial<EntitySchemaColumnOptions> = {}): EntitySchemaColumnOptions => ({
    type: 'text',
    ...extra,
  });
  const time = (extra: Partial<EntitySchemaColumnOptions> = {}): EntitySchemaColumnOptions => ({
    type: pg ? 'timestamptz' : 'integer',
    ...extra,
  });
  const int = (extra: Partial<EntitySchemaColumnOptions> = {}): EntitySchemaColumnOptions => ({
    type: 'integer',
    ...extra,
  });
  const big = (extra: Partial<EntitySchemaColumnOptions> = {}): EntitySchemaColumnOptions => ({
    type: pg ? 'bigint' : 'integer',
    ...extra,
  });

  const subscription = new EntitySchema<Record<string, unknown>>({
    name: 'webhook_subscription',
    tableName: 'webhook_subscription',
    columns: {
      id: text({ primary: true, primaryKeyConstraintName: 'webhook_subscription_pkey' }),
      appId: text({ name: 'app_id' }),
      kind: text(),
      environment: text(),
      url: text(),
      events: text(),
      payload: text(),
      scopes: text(),
      criteria: text({ nullable: true }),
      headers: text({ nullable: true }),
      description: text({ nullable: true }),
      status: text(),
      secret: text(),
      previousSecret: text({ name: 'previous_secret', nullable: true }),
      previousSecretUntil: time({ name: 'previous_secret_until', nullable: true }),
      createdAt: time({ name: 'created_at' }),
      updatedAt: time({ name: 'updated_at' }),
    },
    indices: [
      { name: 'webhook_subscription_app_idx', columns: ['appId'] },
      { name: 'webhook_subscription_environment_idx', columns: ['environment', 'status'] },
    ],
  });

  const delivery = new EntitySchema<Record<string, unknown>>({
    name: 'webhook_delivery',
    tableName: 'webhook_delivery',
    columns: {
      id: text({ primary: true, primaryKeyConstraintName: 'webhook_delivery_pkey' }),
      subscriptionId: text({ name: 'subscription_id' }),
      appId: text({ name: 'app_id' }),
      eventId: text({ name: 'event_id' }),
      eventType: text({ name: 'event_type' }),
      environment: text(),
      patientId: text({ name: 'patient_id', nullable: true }),
      orderKey: text({ name: 'order_key', nullable: true }),
      seq: big(),
      body: text(),
      resourcePath: text({ name: 'resource_path', nullable: true }),
      status: text(),
      attempts: int(),
      nextAttemptAt: time({ name: 'next_attempt_at', nullable: true }),
      leaseUntil: time({ name: 'lease_until', nullable: true }),
      responseCode: int({ name: 'response_code', nullable: true }),
      lastError: text({ name: 'last_error', nullable: true }),
      latencyMs: int({ name: 'latency_ms', nullable: true }),
      replayOf: text({ name: 'replay_of', nullable: true }),
      createdAt: time({ name: 'created_at' }),
      updatedAt: time({ name: 'updated_at' }),
    },
    indices: [
      { name: 'webhook_delivery_due_idx', columns: ['status', 'nextAttemptAt'] },
      { name: 'webhook_delivery_order_idx', columns: ['subscriptionId', 'orderKey', 'seq'] },
      { name: 'webhook_delivery_app_idx', columns: ['appId', 'createdAt'] },
    ],
  });

  const attempt = new EntitySchema<Record<string, unknown>>({
    name: 'webhook_attempt',
    tableName: 'webhook_attempt',
    columns: {
      deliveryId: text({
        name: 'delivery_id',
        primary: true,
        primaryKeyConstraintName: 'webhook_attempt_pkey',
      }),
      number: int({ primary: true, primaryKeyConstraintName: 'webhook_attempt_pkey' }),
      at: time(),
      outcome: text(),
      responseCode: int({ name: 'response_code', nullable: true }),
      error: text({ nullable: true }),
      latencyMs: int({ name: 'latency_ms' }),
    },
  });

  const cursor = new EntitySchema<Record<string, unknown>>({
    name: 'webhook_cursor',
    tableName: 'webhook_cursor',
    columns: {
      name: text({ primary: true, primaryKeyConstraintName: 'webhook_cursor_pkey' }),
      seq: big(),
      updatedAt: time({ name: 'updated_at' }),
    },
  });

  return [subscription, delivery, attempt, cursor];
}
