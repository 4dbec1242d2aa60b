import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Paused channels on PostgreSQL: a row while a channel is paused, shared by every process. */
export class ChannelState1797300000000 implements MigrationInterface {
  name = 'ChannelState1797300000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      `CREATE TABLE "channel_pause" ("channel_id" text NOT NULL, "paused_at" TIMESTAMP WITH TIME ZONE NOT NULL, "paused_by" text NOT NULL, CONSTRAINT "channel_pause_pkey" PRIMARY KEY ("channel_id"))`,
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TABLE "channel_pause"`);
  }
}
