import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Paused channels on SQLite: a row while a channel is paused, shared by every process. */
export class ChannelState1797300000000 implements MigrationInterface {
  name = 'ChannelState1797300000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE "channel_pause" ("channel_id" text PRIMARY KEY NOT NULL, "paused_at" integer NOT NULL, "paused_by" text NOT NULL)`,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "channel_pause"`);
  }
}
