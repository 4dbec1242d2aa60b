import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Source cursors on SQLite: one row per channel and polling source (a high-water mark, a paging
 * cursor), written in the same transaction as the messages it covers.
 */
export class SourceCursor1797800000000 implements MigrationInterface {
  name = 'SourceCursor1797800000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE "source_cursor" ("channel_id" text NOT NULL, "source" text NOT NULL, "value" text NOT NULL, "updated_at" integer NOT NULL, PRIMARY KEY ("channel_id", "source"))`,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "source_cursor"`);
  }
}
