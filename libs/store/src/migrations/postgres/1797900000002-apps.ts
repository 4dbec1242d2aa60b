import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Apps on PostgreSQL: `app` (the apps registered to use the FHIR API: requested and approved
 * SMART scopes, state, switches, credentials), `app_call_day` (calls per app and UTC day),
 * `app_misuse` (misuse reported per app, counted over a window) and an index of the audit log
 * by `via` (an app's own call log).
 */
export class Apps1797900000002 implements MigrationInterface {
  name = 'Apps1797900000002';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE "app" ("id" text NOT NULL, "name" text NOT NULL, "contact" text, "environment" text NOT NULL, "requested_scopes" text NOT NULL, "approved_scopes" text NOT NULL, "events" text NOT NULL, "grant_reason" text, "state" text NOT NULL, "state_reason" text, "writes_enabled" integer NOT NULL, "endpoints" text, "rate_limit" integer, "throttled_until" TIMESTAMP WITH TIME ZONE, "misuse_since" TIMESTAMP WITH TIME ZONE, "secret_hash" text, "jwks" text, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL, "created_by" text, "approved_at" TIMESTAMP WITH TIME ZONE, "approved_by" text, "updated_at" TIMESTAMP WITH TIME ZONE NOT NULL, "last_call_at" TIMESTAMP WITH TIME ZONE, CONSTRAINT "app_state_check" CHECK (state IN ('pending', 'active', 'paused', 'suspended', 'revoked')), CONSTRAINT "app_environment_check" CHECK (environment IN ('sandbox', 'production')), CONSTRAINT "app_pkey" PRIMARY KEY ("id"))`,
    );
    await queryRunner.query(
      `CREATE TABLE "app_call_day" ("app_id" text NOT NULL, "day" text NOT NULL, "calls" integer NOT NULL, CONSTRAINT "app_call_day_pkey" PRIMARY KEY ("app_id", "day"))`,
    );
    await queryRunner.query(
      `CREATE TABLE "app_misuse" ("id" text NOT NULL, "app_id" text NOT NULL, "at" TIMESTAMP WITH TIME ZONE NOT NULL, "kind" text NOT NULL, "detail" text NOT NULL, CONSTRAINT "app_misuse_pkey" PRIMARY KEY ("id"))`,
    );
    await queryRunner.query(`CREATE INDEX "app_misuse_app_idx" ON "app_misuse" ("app_id", "at")`);
    await queryRunner.query(`CREATE INDEX "audit_event_via_idx" ON "audit_event" ("via", "seq")`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "audit_event_via_idx"`);
    await queryRunner.query(`DROP TABLE "app_misuse"`);
    await queryRunner.query(`DROP TABLE "app_call_day"`);
    await queryRunner.query(`DROP TABLE "app"`);
  }
}
