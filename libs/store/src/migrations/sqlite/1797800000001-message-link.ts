import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Parent and child messages on SQLite (a `channel` destination's hand-offs). */
export class MessageLink1797800000001 implements MigrationInterface {
  name = 'MessageLink1797800000001';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE "message_link" ("child_id" text PRIMARY KEY NOT NULL, "child_channel_id" text NOT NULL, "parent_id" text NOT NULL, "parent_channel_id" text NOT NULL, "destination" text NOT NULL, "created_at" integer NOT NULL)`,
    );
    await queryRunner.query(
      `CREATE UNIQUE INDEX "message_link_parent_key" ON "message_link" ("parent_id", "destination")`,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "message_link"`);
  }
}
