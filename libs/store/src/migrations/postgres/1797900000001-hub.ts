import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The clinic data hub on PostgreSQL: current resources (JSONB) with indexed search columns,
 * their versions, the search index, the change log (outbox) and consent exclusions. Times are
 * ms since the epoch (bigint), as on SQLite.
 */
export class Hub1797900000001 implements MigrationInterface {
  name = 'Hub1797900000001';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE "hub_resource" ("pk" bigserial NOT NULL, "env" text NOT NULL, "type" text NOT NULL, "id" text NOT NULL, "version" integer NOT NULL, "patient_id" text, "last_updated" bigint NOT NULL, "deleted" smallint NOT NULL DEFAULT 0, "hash" text NOT NULL, "sort_date" bigint, "sort_name" text, "body" jsonb NOT NULL, CONSTRAINT "hub_resource_pkey" PRIMARY KEY ("pk"))`,
    );
    await queryRunner.query(`CREATE UNIQUE INDEX "hub_resource_key" ON "hub_resource" ("env", "type", "id")`);
    await queryRunner.query(`CREATE INDEX "hub_resource_type" ON "hub_resource" ("env", "type", "pk")`);
    await queryRunner.query(
      `CREATE INDEX "hub_resource_patient" ON "hub_resource" ("env", "patient_id", "type", "pk")`,
    );
    await queryRunner.query(
      `CREATE INDEX "hub_resource_updated" ON "hub_resource" ("env", "type", "last_updated", "pk")`,
    );
    await queryRunner.query(
      `CREATE TABLE "hub_version" ("rpk" bigint NOT NULL, "version" integer NOT NULL, "last_updated" bigint NOT NULL, "deleted" smallint NOT NULL, "body" jsonb NOT NULL, CONSTRAINT "hub_version_pkey" PRIMARY KEY ("rpk", "version"))`,
    );
    await queryRunner.query(
      `CREATE TABLE "hub_index" ("rpk" bigint NOT NULL, "env" text NOT NULL, "type" text NOT NULL, "param" text NOT NULL, "sys" text, "value" text COLLATE "C", "raw" text, "lo" bigint, "hi" bigint)`,
    );
    await queryRunner.query(
      `CREATE INDEX "hub_index_value" ON "hub_index" ("env", "type", "param", "value", "sys", "rpk")`,
    );
    await queryRunner.query(
      `CREATE INDEX "hub_index_date" ON "hub_index" ("env", "type", "param", "lo", "hi", "rpk")`,
    );
    await queryRunner.query(
      `CREATE INDEX "hub_index_resource" ON "hub_index" ("rpk", "param", "value", "sys", "lo", "hi")`,
    );
    await queryRunner.query(
      `CREATE TABLE "hub_change" ("seq" bigserial NOT NULL, "env" text NOT NULL, "action" text NOT NULL, "type" text NOT NULL, "id" text NOT NULL, "version" integer NOT NULL, "patient_id" text, "at" bigint NOT NULL, "resource" jsonb NOT NULL, "previous" jsonb, "merged_into" text, "channel_id" text NOT NULL, "message_id" text NOT NULL, CONSTRAINT "hub_change_pkey" PRIMARY KEY ("seq"))`,
    );
    await queryRunner.query(
      `CREATE TABLE "hub_consent" ("env" text NOT NULL, "patient_id" text NOT NULL, "app_id" text NOT NULL, "at" bigint NOT NULL, CONSTRAINT "hub_consent_pkey" PRIMARY KEY ("env", "patient_id", "app_id"))`,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    for (const table of ['hub_consent', 'hub_change', 'hub_index', 'hub_version', 'hub_resource']) {
      await queryRunner.query(`DROP TABLE "${table}"`);
    }
  }
}
