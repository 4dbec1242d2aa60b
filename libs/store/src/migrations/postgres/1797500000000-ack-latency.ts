import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The ACK latency of each message on PostgreSQL (microseconds, written with the message), for
 * channel statistics. A nullable column without a default: adding it rewrites nothing.
 */
export class AckLatency1797500000000 implements MigrationInterface {
  name = 'AckLatency1797500000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "message" ADD "ack_latency_us" integer`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`ALTER TABLE "message" DROP COLUMN "ack_latency_us"`);
  }
}
