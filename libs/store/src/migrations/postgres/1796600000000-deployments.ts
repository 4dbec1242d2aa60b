import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Deployment history and reprocessing on PostgreSQL: every deployment attempt of a channel
 * (`channel_deployment`), the channel version on each message, and the earlier outcomes of
 * reprocessed messages (`message_outcome`). Adding a nullable column rewrites no rows.
 */
export class Deployments1796600000000 implements MigrationInterface {
  name = 'Deployments1796600000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "message" ADD "channel_version" integer`);
    await queryRunner.query(
      `CREATE TABLE "message_outcome" ("message_id" text NOT NULL, "number" integer NOT NULL, "status" text NOT NULL, "issues" text NOT NULL, "ack_code" text, "channel_version" integer, "transformed_type" text, "transformed" bytea, "decided_at" TIMESTAMP WITH TIME ZONE NOT NULL, "reprocessed_at" TIMESTAMP WITH TIME ZONE NOT NULL, CONSTRAINT "message_outcome_status_check" CHECK (status IN ('filtered', 'rejected', 'errored')), CONSTRAINT "message_outcome_pkey" PRIMARY KEY ("message_id", "number"))`,
    );
    await queryRunner.query(
      `CREATE TABLE "channel_deployment" ("channel_id" text NOT NULL, "version" integer NOT NULL, "content_hash" text NOT NULL, "content" text NOT NULL, "file_path" text NOT NULL, "git_commit" text, "deployed_by" text NOT NULL, "deployed_at" TIMESTAMP WITH TIME ZONE NOT NULL, "outcome" text NOT NULL, "problems" text, CONSTRAINT "channel_deployment_outcome_check" CHECK (outcome IN ('deployed', 'refused')), CONSTRAINT "channel_deployment_pkey" PRIMARY KEY ("channel_id", "version"))`,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "channel_deployment"`);
    await queryRunner.query(`DROP TABLE "message_outcome"`);
    await queryRunner.query(`ALTER TABLE "message" DROP COLUMN "channel_version"`);
  }
}
