import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * OAuth2 on SQLite: `oauth_client` (registered clients: the sha256 of a secret and/or a public
 * JWK for `private_key_jwt`), `oauth_signing_key` (the key every API process signs and checks
 * access tokens with) and `oauth_assertion` (the `jti` of each client assertion used, until it
 * expires, so none is accepted twice).
 */
export class OAuth1797400000000 implements MigrationInterface {
  name = 'OAuth1797400000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE "oauth_client" ("id" text PRIMARY KEY NOT NULL, "name" text NOT NULL, "scopes" text NOT NULL, "channels" text, "state" text NOT NULL, "secret_hash" text, "public_jwk" text, "created_at" integer NOT NULL, "created_by" text, "revoked_at" integer, "last_used_at" integer, "last_used_from" text, CONSTRAINT "oauth_client_state_check" CHECK (state IN ('active', 'paused', 'revoked')))`,
    );
    await queryRunner.query(
      `CREATE TABLE "oauth_signing_key" ("kid" text PRIMARY KEY NOT NULL, "private_jwk" text NOT NULL, "created_at" integer NOT NULL)`,
    );
    await queryRunner.query(
      `CREATE TABLE "oauth_assertion" ("id" text PRIMARY KEY NOT NULL, "expires_at" integer NOT NULL)`,
    );
    await queryRunner.query(`CREATE INDEX "oauth_assertion_expires_idx" ON "oauth_assertion" ("expires_at")`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "oauth_assertion"`);
    await queryRunner.query(`DROP TABLE "oauth_signing_key"`);
    await queryRunner.query(`DROP TABLE "oauth_client"`);
  }
}
