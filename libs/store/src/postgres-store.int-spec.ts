import { randomUUID } from 'node:crypto';
import {
  adminQuery,
  startThrowawayPostgres,
  withTestSchema,
  type TestSchema,
  type ThrowawayPostgres,
} from '@sinew/test-support/postgres';
import { retrying } from '@sinew/test-support/wait';
import { POSTGRES_MIGRATIONS } from './migrations';
import { Deployments1796600000000 as PostgresDeployments } from './migrations/postgres/1796600000000-deployments';
import { openStore } from './open-store';
import type { NewMessage } from './store';
import { describeAccessBehaviour } from './access-behaviour';
import { describeStoreBehaviour } from './store-behaviour';

const schemas: TestSchema[] = [];
async function testSchema(): Promise<TestSchema> {
  const s = await withTestSchema();
  schemas.push(s);
  return s;
}

afterAll(async () => {
  for (const s of schemas) await s.drop();
});

function message(overrides: Partial<NewMessage> = {}): NewMessage {
  return {
    id: randomUUID(),
    channelId: 'c',
    receivedAt: new Date(),
    source: 'mllp',
    sender: 'A|B',
    contentType: 'hl7v2',
    raw: Buffer.from('MSH|^~\\&|A|B\r'),
    keys: { mrn: 'M1' },
    ...overrides,
  };
}

describe('PostgreSQL store', () => {
  describeStoreBehaviour(async () => {
    const { url, schema } = await testSchema();
    return openStore({ databaseUrl: url, schema });
  });
  describeAccessBehaviour(async () => {
    const { url, schema } = await testSchema();
    return openStore({ databaseUrl: url, schema });
  });

  it('creates the schema by its committed migrations, matching the entity schemas exactly', async () => {
    const { url, schema } = await testSchema();
    const store = await openStore({ databaseUrl: url, schema });
    try {
      const pending = await store.dataSource.driver.createSchemaBuilder().log();
      expect(pending.upQueries.map((q) => q.query)).toEqual([]);
      const tables = (await adminQuery(
        url,
        'SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name',
        [schema],
      )) as Array<{ table_name: string }>;
      expect(tables.map((t) => t.table_name)).toEqual([
        'api_key',
        'app_session',
        'app_user',
        'audit_chain',
        'audit_event',
        'channel_deployment',
        'channel_pause',
        'delivery',
        'delivery_attempt',
        'hub_change',
        'hub_consent',
        'hub_index',
        'hub_resource',
        'hub_version',
        'ledger_migrations',
        'message',
        'message_content',
        'message_key',
        'message_link',
        'message_outcome',
        'oauth_assertion',
        'oauth_client',
        'oauth_signing_key',
        'reconcile_discrepancy',
        'reconcile_flag',
        'reconcile_run',
        'reconcile_schedule',
        'source_cursor',
      ]);
    } finally {
      await store.close();
    }
  });

  it('creates a missing schema, and lets processes that start together migrate once', async () => {
    const { url, schema } = await testSchema();
    await adminQuery(url, `DROP SCHEMA "${schema}"`);
    const stores = await Promise.all([1, 2, 3].map(() => openStore({ databaseUrl: url, schema })));
    try {
      const ran = (await adminQuery(
        url,
        `SELECT count(*)::int AS n FROM "${schema}".ledger_migrations`,
      )) as Array<{
        n: number;
      }>;
      expect(ran).toEqual([{ n: POSTGRES_MIGRATIONS.length }]);
      const m = message();
      await stores[0]!.insertMessages([m]);
      expect((await stores[2]!.getMessage(m.id))?.id).toBe(m.id);
    } finally {
      for (const s of stores) await s.close();
    }
  });

  it('upgrades a ledger of the first schema in place: messages kept, without a channel version', async () => {
    const { url, schema } = await testSchema();
    const first = await openStore({ databaseUrl: url, schema });
    const m = message();
    await first.insertMessages([m]);
    // Back to the first schema, as a ledger written before the deployment history.
    const runner = first.dataSource.createQueryRunner();
    await new PostgresDeployments().down(runner);
    await runner.release();
    await first.dataSource.query('DELETE FROM ledger_migrations WHERE name = $1', [
      new PostgresDeployments().name,
    ]);
    await first.close();

    const second = await openStore({ databaseUrl: url, schema });
    try {
      expect(await second.getMessage(m.id)).toMatchObject({ id: m.id, keys: { mrn: 'M1' } });
      expect(await second.getMessage(m.id)).not.toHaveProperty('channelVersion');
      expect((await second.dataSource.driver.createSchemaBuilder().log()).upQueries).toEqual([]);
      await second.completePipeline(m.id, {
        status: 'errored',
        issues: [],
        deliveries: [],
        channelVersion: 1,
      });
      expect(await second.reprocessMessages([m.id])).toEqual([m.id]);
    } finally {
      await second.close();
    }
  });

  it('answers business-key searches and ordering queries from indexes', async () => {
    const { url, schema } = await testSchema();
    const store = await openStore({ databaseUrl: url, schema });
    const runner = store.dataSource.createQueryRunner();
    try {
      await runner.query('SET enable_seqscan = off');
      const plan = async (sql: string) =>
        ((await runner.query(`EXPLAIN ${sql}`)) as Array<{ 'QUERY PLAN': string }>)
          .map((r) => r['QUERY PLAN'])
          .join('\n');
      expect(
        await plan(
          "SELECT m.id FROM message_key k JOIN message m ON m.id = k.message_id WHERE k.name = 'mrn' AND k.value = '1'",
        ),
      ).toMatch(/Index (Only )?Scan using message_key_lookup_idx/);
      expect(
        await plan(
          "SELECT id FROM delivery WHERE channel_id = 'c' AND destination = 'd' AND order_key = 'k' AND seq < 5 " +
            "AND status IN ('pending', 'retrying', 'parked') ORDER BY seq DESC LIMIT 1",
        ),
      ).toMatch(/Index Scan Backward using delivery_ordering_idx/);
    } finally {
      await runner.release();
      await store.close();
    }
  });

  it('keeps working when the server drops its connections', async () => {
    const { url, schema } = await testSchema();
    const applicationName = `sinew-test-${randomUUID().slice(0, 8)}`;
    const warnings: object[] = [];
    const store = await openStore({
      databaseUrl: url,
      schema,
      applicationName,
      logger: { warn: (obj) => warnings.push(obj) },
    });
    try {
      await Promise.all([store.ping(), store.ping(), store.ping()]);
      const killed = (await adminQuery(
        url,
        'SELECT pg_terminate_backend(pid) AS killed FROM pg_stat_activity WHERE application_name = $1',
        [applicationName],
      )) as unknown[];
      expect(killed.length).toBeGreaterThan(0);
      const m = message();
      await retrying(() => store.insertMessages([m]));
      expect((await store.getMessage(m.id))?.id).toBe(m.id);
      expect(warnings.length).toBeGreaterThan(0);
      expect(JSON.stringify(warnings)).not.toContain('M1');
    } finally {
      await store.close();
    }
  });

  describe('on a server that restarts', () => {
    let server: ThrowawayPostgres;
    beforeAll(async () => {
      server = await startThrowawayPostgres();
    }, 120_000);
    afterAll(async () => {
      await server?.destroy();
    });

    it('rejects calls while the server is down and recovers when it is back, data intact', async () => {
      const store = await openStore({ databaseUrl: server.url, logger: { warn: () => undefined } });
      try {
        const before = message();
        await store.insertMessages([before]);
        await server.stopServer();
        await expect(store.ping()).rejects.toThrow();
        await expect(store.insertMessages([message()])).rejects.toThrow();
        await expect(store.getMessage(before.id)).rejects.toThrow();
        await server.start();
        await retrying(() => store.ping());
        const after = message();
        await store.insertMessages([after]);
        expect((await store.getMessage(before.id))?.id).toBe(before.id);
        expect((await store.getMessage(after.id))?.id).toBe(after.id);
      } finally {
        await store.close();
      }
    }, 120_000);
  });
});
