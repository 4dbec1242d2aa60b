import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The clinic data hub on SQLite: current resources, their versions, the search index, the
 * change log (outbox) and consent exclusions. Times are ms since the epoch.
 */
export class Hub1797900000001 implements MigrationInterface {
  name = 'Hub1797900000001';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE "hub_resource" ("pk" integer PRIMARY KEY AUTOINCREMENT NOT NULL, "env" text NOT NULL, "type" text NOT NULL, "id" text NOT NULL, "version" integer NOT NULL, "patient_id" text, "last_updated" integer NOT NULL, "deleted" integer NOT NULL DEFAULT 0, "hash" text NOT NULL, "sort_date" integer, "sort_name" text, "body" text NOT NULL)`,
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
      `CREATE TABLE "hub_version" ("rpk" integer NOT NULL, "version" integer NOT NULL, "last_updated" integer NOT NULL, "deleted" integer NOT NULL, "body" text NOT NULL, PRIMARY KEY ("rpk", "version"))`,
    );
    await queryRunner.query(
      `CREATE TABLE "hub_index" ("rpk" integer NOT NULL, "env" text NOT NULL, "type" text NOT NULL, "param" text NOT NULL, "sys" text, "value" text, "raw" text, "lo" integer, "hi" integer)`,
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
      `CREATE TABLE "hub_change" ("seq" integer PRIMARY KEY AUTOINCREMENT NOT NULL, "env" text NOT NULL, "action" text NOT NULL, "type" text NOT NULL, "id" text NOT NULL, "version" integer NOT NULL, "patient_id" text, "at" integer NOT NULL, "resource" text NOT NULL, "previous" text, "merged_into" text, "channel_id" text NOT NULL, "message_id" text NOT NULL)`,
    );
    await queryRunner.query(
      `CREATE TABLE "hub_consent" ("env" text NOT NULL, "patient_id" text NOT NULL, "app_id" text NOT NULL, "at" integer NOT NULL, PRIMARY KEY ("env", "patient_id", "app_id"))`,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    for (const table of ['hub_consent', 'hub_change', 'hub_index', 'hub_version', 'hub_resource']) {
      await queryRunner.query(`DROP TABLE "${table}"`);
    }
  }
}
