import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Message search by control id (MSH-10) on any channel, for the admin API. */
export class MessageSearch1797100000000 implements MigrationInterface {
  name = 'MessageSearch1797100000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`CREATE INDEX "message_control_idx" ON "message" ("control_id")`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "message_control_idx"`);
  }
}
