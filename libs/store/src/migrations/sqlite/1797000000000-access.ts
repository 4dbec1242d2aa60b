import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * People, API keys and the audit log on SQLite: `app_user` (argon2id password hashes and the
 * lockout state), `api_key` (sha256 of each key; the identifying prefix unique), `audit_event`
 * (the hash-chained log, `seq` assigned by the writer) and `audit_chain` (one row: where the
 * chain starts after pruning, and its head).
 */
export class Access1797000000000 implements MigrationInterface {
  name = 'Access1797000000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE "app_user" ("id" text PRIMARY KEY NOT NULL, "username" text NOT NULL, "role" text NOT NULL, "password_hash" text NOT NULL, "channels" text, "extra_scopes" text NOT NULL, "state" text NOT NULL, "failed_logins" integer NOT NULL DEFAULT (0), "lockouts" integer NOT NULL DEFAULT (0), "locked_until" integer, "last_login_at" integer, "last_login_from" text, "created_at" integer NOT NULL, "updated_at" integer NOT NULL, CONSTRAINT "app_user_role_check" CHECK (role IN ('admin', 'engineer', 'operator', 'viewer')), CONSTRAINT "app_user_state_check" CHECK (state IN ('active', 'disabled')))`,
    );
    await queryRunner.query(`CREATE UNIQUE INDEX "app_user_username_key" ON "app_user" ("username")`);
    await queryRunner.query(
      `CREATE TABLE "api_key" ("id" text PRIMARY KEY NOT NULL, "prefix" text NOT NULL, "name" text NOT NULL, "secret_hash" text NOT NULL, "scopes" text NOT NULL, "channels" text, "state" text NOT NULL, "created_at" integer NOT NULL, "created_by" text, "expires_at" integer, "revoked_at" integer, "last_used_at" integer, "last_used_from" text, CONSTRAINT "api_key_state_check" CHECK (state IN ('active', 'paused', 'revoked')))`,
    );
    await queryRunner.query(`CREATE UNIQUE INDEX "api_key_prefix_key" ON "api_key" ("prefix")`);
    await queryRunner.query(
      `CREATE TABLE "audit_event" ("seq" integer PRIMARY KEY NOT NULL, "at" integer NOT NULL, "actor" text NOT NULL, "actor_kind" text NOT NULL, "via" text, "action" text NOT NULL, "object_ids" text, "filter" text, "remote_address" text, "outcome" text NOT NULL, "content_read" integer NOT NULL, "prev_hash" text NOT NULL, "hash" text NOT NULL)`,
    );
    await queryRunner.query(`CREATE INDEX "audit_event_actor_idx" ON "audit_event" ("actor", "seq")`);
    await queryRunner.query(`CREATE INDEX "audit_event_action_idx" ON "audit_event" ("action", "seq")`);
    await queryRunner.query(`CREATE INDEX "audit_event_at_idx" ON "audit_event" ("at")`);
    await queryRunner.query(
      `CREATE TABLE "audit_chain" ("id" integer PRIMARY KEY NOT NULL, "base_seq" integer NOT NULL, "base_hash" text NOT NULL, "head_seq" integer NOT NULL, "head_hash" text NOT NULL, CONSTRAINT "audit_chain_single_check" CHECK (id = 1))`,
    );
    // The empty chain: it starts at the genesis hash (64 zeros).
    await queryRunner.query(
      `INSERT INTO "audit_chain" ("id", "base_seq", "base_hash", "head_seq", "head_hash") VALUES (1, 0, '${'0'.repeat(64)}', 0, '${'0'.repeat(64)}')`,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "audit_chain"`);
    await queryRunner.query(`DROP TABLE "audit_event"`);
    await queryRunner.query(`DROP TABLE "api_key"`);
    await queryRunner.query(`DROP TABLE "app_user"`);
  }
}
