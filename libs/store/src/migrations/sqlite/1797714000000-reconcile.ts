import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Reconciliation on SQLite: `reconcile_run` (each run and its summary), `reconcile_discrepancy`
 * (what a run found, in the order found), `reconcile_schedule` (one row per scheduled run
 * claimed, so each due time runs once across processes) and `reconcile_flag` (sync-error flags,
 * at most one open per reconciliation, entity and class).
 */
export class Reconcile1797714000000 implements MigrationInterface {
  name = 'Reconcile1797714000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE "reconcile_run" ("id" text PRIMARY KEY NOT NULL, "reconciliation" text NOT NULL, "status" text NOT NULL, "trigger" text NOT NULL, "period_from" integer, "period_to" integer, "period_label" text NOT NULL, "started_at" integer NOT NULL, "finished_at" integer, "summary" text, "error" text, CONSTRAINT "reconcile_run_status_check" CHECK (status IN ('running', 'clean', 'discrepancies', 'failed')), CONSTRAINT "reconcile_run_trigger_check" CHECK (trigger IN ('schedule', 'cli', 'api', 'catch_up')))`,
    );
    await queryRunner.query(
      `CREATE INDEX "reconcile_run_reconciliation_idx" ON "reconcile_run" ("reconciliation", "started_at")`,
    );
    await queryRunner.query(`CREATE INDEX "reconcile_run_started_idx" ON "reconcile_run" ("started_at")`);
    await queryRunner.query(
      `CREATE TABLE "reconcile_discrepancy" ("id" text PRIMARY KEY NOT NULL, "run_id" text NOT NULL, "ordinal" integer NOT NULL, "entity" text NOT NULL, "kind" text NOT NULL, "class" text NOT NULL, "key" text NOT NULL, "reason" text NOT NULL, "message_ids" text NOT NULL, "fields" text, "source" text, "target" text, "copies" integer, "repaired_at" integer, "repair" text)`,
    );
    await queryRunner.query(
      `CREATE UNIQUE INDEX "reconcile_discrepancy_order_key" ON "reconcile_discrepancy" ("run_id", "ordinal")`,
    );
    await queryRunner.query(
      `CREATE INDEX "reconcile_discrepancy_class_idx" ON "reconcile_discrepancy" ("run_id", "class", "ordinal")`,
    );
    await queryRunner.query(
      `CREATE INDEX "reconcile_discrepancy_entity_idx" ON "reconcile_discrepancy" ("run_id", "entity", "ordinal")`,
    );
    await queryRunner.query(
      `CREATE TABLE "reconcile_schedule" ("reconciliation" text NOT NULL, "due_at" integer NOT NULL, "owner" text NOT NULL, "claimed_at" integer NOT NULL, PRIMARY KEY ("reconciliation", "due_at"))`,
    );
    await queryRunner.query(
      `CREATE TABLE "reconcile_flag" ("id" text PRIMARY KEY NOT NULL, "reconciliation" text NOT NULL, "entity" text NOT NULL, "class" text NOT NULL, "count" integer NOT NULL, "run_id" text NOT NULL, "raised_at" integer NOT NULL, "acknowledged_at" integer, "acknowledged_by" text, "note" text)`,
    );
    await queryRunner.query(
      `CREATE UNIQUE INDEX "reconcile_flag_open_key" ON "reconcile_flag" ("reconciliation", "entity", "class") WHERE acknowledged_at IS NULL`,
    );
    await queryRunner.query(`CREATE INDEX "reconcile_flag_raised_idx" ON "reconcile_flag" ("raised_at")`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "reconcile_flag"`);
    await queryRunner.query(`DROP TABLE "reconcile_schedule"`);
    await queryRunner.query(`DROP TABLE "reconcile_discrepancy"`);
    await queryRunner.query(`DROP TABLE "reconcile_run"`);
  }
}
