import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The ledger's first schema on PostgreSQL: messages, business keys, contents, deliveries,
 * attempts. Names are unqualified: the tables go to the connection's schema (search_path).
 */
export class Initial1763700000000 implements MigrationInterface {
  name = 'Initial1763700000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE "message" ("seq" BIGSERIAL NOT NULL, "id" text NOT NULL, "channel_id" text NOT NULL, "received_at" TIMESTAMP WITH TIME ZONE NOT NULL, "source" text NOT NULL, "sender" text NOT NULL, "remote_address" text, "message_type" text, "control_id" text, "content_type" text NOT NULL, "status" text NOT NULL, "ack_code" text, "duplicate_count" integer NOT NULL DEFAULT '0', "issues" text NOT NULL, "updated_at" TIMESTAMP WITH TIME ZONE NOT NULL, CONSTRAINT "message_status_check" CHECK (status IN ('received', 'filtered', 'rejected', 'errored', 'processed', 'delivered', 'failed')), CONSTRAINT "message_pkey" PRIMARY KEY ("seq"))`,
    );
    await queryRunner.query(`CREATE UNIQUE INDEX "message_id_key" ON "message" ("id")`);
    await queryRunner.query(
      `CREATE INDEX "message_duplicate_idx" ON "message" ("channel_id", "sender", "control_id", "received_at")`,
    );
    await queryRunner.query(
      `CREATE INDEX "message_channel_received_idx" ON "message" ("channel_id", "received_at")`,
    );
    await queryRunner.query(`CREATE INDEX "message_received_idx" ON "message" ("received_at")`);
    await queryRunner.query(
      `CREATE INDEX "message_unprocessed_idx" ON "message" ("seq") WHERE status = 'received'`,
    );
    await queryRunner.query(
      `CREATE INDEX "message_problem_idx" ON "message" ("status", "received_at") WHERE status IN ('rejected', 'errored', 'failed')`,
    );
    await queryRunner.query(
      `CREATE TABLE "message_key" ("message_id" text NOT NULL, "name" text NOT NULL, "channel_id" text NOT NULL, "value" text NOT NULL, CONSTRAINT "message_key_pkey" PRIMARY KEY ("message_id", "name"))`,
    );
    await queryRunner.query(`CREATE INDEX "message_key_lookup_idx" ON "message_key" ("name", "value")`);
    await queryRunner.query(
      `CREATE TABLE "message_content" ("message_id" text NOT NULL, "stage" text NOT NULL, "destination" text NOT NULL, "content_type" text NOT NULL, "body" bytea NOT NULL, CONSTRAINT "message_content_stage_check" CHECK (stage IN ('raw', 'transformed', 'ack', 'payload')), CONSTRAINT "message_content_pkey" PRIMARY KEY ("message_id", "stage", "destination"))`,
    );
    await queryRunner.query(
      `CREATE TABLE "delivery" ("id" text NOT NULL, "message_id" text NOT NULL, "channel_id" text NOT NULL, "destination" text NOT NULL, "seq" bigint NOT NULL, "order_key" text, "status" text NOT NULL, "attempts" integer NOT NULL DEFAULT '0', "next_attempt_at" TIMESTAMP WITH TIME ZONE, "last_error" text, "parked_reason" text, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL, "updated_at" TIMESTAMP WITH TIME ZONE NOT NULL, CONSTRAINT "delivery_status_check" CHECK (status IN ('pending', 'retrying', 'parked', 'sent', 'dead_lettered')), CONSTRAINT "delivery_pkey" PRIMARY KEY ("id"))`,
    );
    await queryRunner.query(
      `CREATE INDEX "delivery_ordering_idx" ON "delivery" ("channel_id", "destination", "order_key", "seq") WHERE status IN ('pending', 'retrying', 'parked')`,
    );
    await queryRunner.query(
      `CREATE INDEX "delivery_due_idx" ON "delivery" ("next_attempt_at") WHERE status = 'retrying'`,
    );
    await queryRunner.query(
      `CREATE INDEX "delivery_dead_letter_idx" ON "delivery" ("seq") WHERE status = 'dead_lettered'`,
    );
    await queryRunner.query(`CREATE INDEX "delivery_message_idx" ON "delivery" ("message_id")`);
    await queryRunner.query(
      `CREATE TABLE "delivery_attempt" ("delivery_id" text NOT NULL, "number" integer NOT NULL, "started_at" TIMESTAMP WITH TIME ZONE NOT NULL, "finished_at" TIMESTAMP WITH TIME ZONE NOT NULL, "outcome" text NOT NULL, "code" text, "error" text, "response" bytea, CONSTRAINT "delivery_attempt_pkey" PRIMARY KEY ("delivery_id", "number"))`,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "delivery_attempt"`);
    await queryRunner.query(`DROP TABLE "delivery"`);
    await queryRunner.query(`DROP TABLE "message_content"`);
    await queryRunner.query(`DROP TABLE "message_key"`);
    await queryRunner.query(`DROP TABLE "message"`);
  }
}
