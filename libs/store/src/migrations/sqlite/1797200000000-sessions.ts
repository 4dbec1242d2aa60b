import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Browser sessions on SQLite: one row per sign-in, found by the sha256 of its cookie. */
export class Sessions1797200000000 implements MigrationInterface {
  name = 'Sessions1797200000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE "app_session" ("id_hash" text PRIMARY KEY NOT NULL, "user_id" text NOT NULL, "csrf_token" text NOT NULL, "created_at" integer NOT NULL, "last_seen_at" integer NOT NULL, "expires_at" integer NOT NULL, "revoked_at" integer, "created_from" text)`,
    );
    await queryRunner.query(`CREATE INDEX "app_session_user_idx" ON "app_session" ("user_id")`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "app_session"`);
  }
}
