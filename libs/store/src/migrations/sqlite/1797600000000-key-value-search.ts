import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Message search by a business key's value whatever its name (the console's one search field). */
export class KeyValueSearch1797600000000 implements MigrationInterface {
  name = 'KeyValueSearch1797600000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`CREATE INDEX "message_key_value_idx" ON "message_key" ("value")`);
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP INDEX "message_key_value_idx"`);
  }
}
