import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Browser sessions on PostgreSQL: one row per sign-in, found by the sha256 of its cookie. */
export class Sessions1797200000000 implements MigrationInterface {
  name = 'Sessions1797200000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE "app_session" ("id_hash" text NOT NULL, "user_id" text NOT NULL, "csrf_token" text NOT NULL, "created_at" TIMESTAMP WITH TIME ZONE NOT NULL, "last_seen_at" TIMESTAMP WITH TIME ZONE NOT NULL, "expires_at" TIMESTAMP WITH TIME ZONE NOT NULL, "revoked_at" TIMESTAMP WITH TIME ZONE, "created_from" text, CONSTRAINT "app_session_pkey" PRIMARY KEY ("id_hash"))`,
    );
    await queryRunner.query(`CREATE INDEX "app_session_user_idx" ON "app_session" ("user_id")`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "app_session"`);
  }
}
