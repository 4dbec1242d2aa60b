import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Webhooks on SQLite: subscriptions (webhooks and FHIR Subscriptions), deliveries (the delivery
 * log: event, status, attempts, response code, next attempt, latency), each attempt, and the
 * change cursor (the last hub change turned into deliveries).
 */
export class Webhooks1797900000003 implements MigrationInterface {
  name = 'Webhooks1797900000003';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE "webhook_subscription" ("id" text PRIMARY KEY NOT NULL, "app_id" text NOT NULL, "kind" text NOT NULL, "environment" text NOT NULL, "url" text NOT NULL, "events" text NOT NULL, "payload" text NOT NULL, "scopes" text NOT NULL, "criteria" text, "headers" text, "description" text, "status" text NOT NULL, "secret" text NOT NULL, "previous_secret" text, "previous_secret_until" integer, "created_at" integer NOT NULL, "updated_at" integer NOT NULL)`,
    );
    await queryRunner.query(
      `CREATE TABLE "webhook_delivery" ("id" text PRIMARY KEY NOT NULL, "subscription_id" text NOT NULL, "app_id" text NOT NULL, "event_id" text NOT NULL, "event_type" text NOT NULL, "environment" text NOT NULL, "patient_id" text, "order_key" text, "seq" integer NOT NULL, "body" text NOT NULL, "resource_path" text, "status" text NOT NULL, "attempts" integer NOT NULL, "next_attempt_at" integer, "lease_until" integer, "response_code" integer, "last_error" text, "latency_ms" integer, "replay_of" text, "created_at" integer NOT NULL, "updated_at" integer NOT NULL)`,
    );
    await queryRunner.query(
      `CREATE TABLE "webhook_attempt" ("delivery_id" text NOT NULL, "number" integer NOT NULL, "at" integer NOT NULL, "outcome" text NOT NULL, "response_code" integer, "error" text, "latency_ms" integer NOT NULL, PRIMARY KEY ("delivery_id", "number"))`,
    );
    await queryRunner.query(
      `CREATE TABLE "webhook_cursor" ("name" text PRIMARY KEY NOT NULL, "seq" integer NOT NULL, "updated_at" integer NOT NULL)`,
    );
    await queryRunner.query(
      `CREATE INDEX "webhook_subscription_app_idx" ON "webhook_subscription" ("app_id")`,
    );
    await queryRunner.query(
      `CREATE INDEX "webhook_subscription_environment_idx" ON "webhook_subscription" ("environment", "status")`,
    );
    await queryRunner.query(
      `CREATE INDEX "webhook_delivery_due_idx" ON "webhook_delivery" ("status", "next_attempt_at")`,
    );
    await queryRunner.query(
      `CREATE INDEX "webhook_delivery_order_idx" ON "webhook_delivery" ("subscription_id", "order_key", "seq")`,
    );
    await queryRunner.query(
      `CREATE INDEX "webhook_delivery_app_idx" ON "webhook_delivery" ("app_id", "created_at")`,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "webhook_delivery_app_idx"`);
    await queryRunner.query(`DROP INDEX "webhook_delivery_order_idx"`);
    await queryRunner.query(`DROP INDEX "webhook_delivery_due_idx"`);
    await queryRunner.query(`DROP INDEX "webhook_subscription_environment_idx"`);
    await queryRunner.query(`DROP INDEX "webhook_subscription_app_idx"`);
    await queryRunner.query(`DROP TABLE "webhook_cursor"`);
    await queryRunner.query(`DROP TABLE "webhook_attempt"`);
    await queryRunner.query(`DROP TABLE "webhook_delivery"`);
    await queryRunner.query(`DROP TABLE "webhook_subscription"`);
  }
}
