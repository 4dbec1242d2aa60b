import type { MigrationInterface, QueryRunner } from 'typeorm';

/** The ACK latency of each message on SQLite (microseconds, written with the message), for channel statistics. */
export class AckLatency1797500000000 implements MigrationInterface {
  name = 'AckLatency1797500000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "message" ADD COLUMN "ack_latency_us" integer`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "message" DROP COLUMN "ack_latency_us"`);
  }
}
