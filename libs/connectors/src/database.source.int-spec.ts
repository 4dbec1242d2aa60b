import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { builtInRegistries, compileChannelOrThrow } from '@sinew/channels';
import { Engine, createLogger } from '@sinew/engine';
import { TransformerLibrary } from '@sinew/mapping';
import { MemoryQueueDriver } from '@sinew/queue';
import { openStore, type MessageRecord, type NewMessage, type Store } from '@sinew/store';
import { createTestDatabase, Relay, type Dialect, type TestDatabase } from '@sinew/test-support/databases';
import { sleep, waitFor } from '@sinew/test-support/wait';

jest.setTimeout(60_000);

const library = TransformerLibrary.load();
const registries = builtInRegistries(library);

interface Running {
  engine: Engine;
  store: Store;
}

/** The JSON bodies of the channel's messages, oldest first. */
async function bodies(store: Store): Promise<Array<Record<string, unknown>>> {
  const rows: MessageRecord[] = await store.searchMessages({ channelId: 'orders', limit: 1000 });
  rows.sort((a, b) => a.seq - b.seq);
  const out: Array<Record<string, unknown>> = [];
  for (const r of rows) out.push(JSON.parse(((await store.getContent(r.id, 'raw')) as Buffer).toString()));
  return out;
}

describe.each<Dialect>(['sqlite', 'postgres', 'mysql'])('database source on %s', (dialect) => {
  let db: TestDatabase;
  let dir: string;
  const engines: Engine[] = [];

  beforeEach(async () => {
    db = await createTestDatabase(dialect);
    dir = mkdtempSync(join(tmpdir(), 'sinew-dbsrc-'));
    await db.sql(
      `CREATE TABLE orders (id INTEGER PRIMARY KEY, mrn VARCHAR(20) NOT NULL, status VARCHAR(20), updated_at ${db.timeType})`,
    );
  });
  afterEach(async () => {
    for (const e of engines.splice(0)) await e.stop(2_000);
    await db.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  async function start(
    options: { url?: string; extra?: string; wrap?: (s: Store) => Store } = {},
  ): Promise<Running> {
    const channel = compileChannelOrThrow(
      `
id: orders
source:
  type: database
  url: "${options.url ?? db.url}"
  table: orders
  mark_column: updated_at
  key_column: id
  batch_size: 2
  poll_interval_ms: 50
${options.extra ?? ''}
`,
      'orders.yaml',
      registries,
    );
    const store = await openStore({ dataDir: dir });
    const engine = new Engine({
      channels: [channel],
      store: options.wrap ? options.wrap(store) : store,
      queue: new MemoryQueueDriver(),
      transformers: library,
      logger: createLogger('silent'),
      sweepIntervalMs: 200,
    });
    engines.push(engine);
    await engine.start();
    return { engine, store };
  }

  const T1 = '2026-03-01 10:00:00.123456';
  const T2 = '2026-03-01 10:00:00.123457';
  const T3 = '2026-03-01 11:30:00.000001';

  it('turns rows into JSON messages, rows sharing a time included, then new and changed rows, each change once', async () => {
    // Three rows share one time, and the batch holds two: the tie spans two batches.
    for (const [id, mrn] of [
      [1, 'M1'],
      [2, 'M2'],
      [3, 'M3'],
    ] as const)
      await db.sql('INSERT INTO orders (id, mrn, status, updated_at) VALUES (?, ?, ?, ?)', [
        id,
        mrn,
        'new',
        T1,
      ]);
    const { store } = await start();
    await waitFor('three messages', async () => (await bodies(store)).length === 3 || undefined);
    expect((await bodies(store)).map((b) => [b.id, b.mrn, b.status])).toEqual([
      [1, 'M1', 'new'],
      [2, 'M2', 'new'],
      [3, 'M3', 'new'],
    ]);

    // A row added later, with a time a microsecond past the others.
    await db.sql('INSERT INTO orders (id, mrn, status, updated_at) VALUES (?, ?, ?, ?)', [
      4,
      'M4',
      'new',
      T2,
    ]);
    await waitFor('the new row', async () => (await bodies(store)).length === 4 || undefined);

    // Row 1 changes: its updated_at moves, it is read again, once.
    await db.sql('UPDATE orders SET status = ?, updated_at = ? WHERE id = ?', ['done', T3, 1]);
    await waitFor('the changed row', async () => (await bodies(store)).length === 5 || undefined);
    await sleep(500);
    const all = await bodies(store);
    expect(all.map((b) => [b.id, b.status])).toEqual([
      [1, 'new'],
      [2, 'new'],
      [3, 'new'],
      [4, 'new'],
      [1, 'done'],
    ]);
    const cursor = await store.getSourceCursor('orders', 'database');
    expect(JSON.parse(cursor?.value as string)).toMatchObject({ key: 1 });
  });

  it.each([
    ['before the commit', false],
    ['after the commit, before the source hears of it', true],
  ])('a crash %s neither skips nor repeats a row', async (_when, committed) => {
    for (let id = 1; id <= 5; id++)
      await db.sql('INSERT INTO orders (id, mrn, status, updated_at) VALUES (?, ?, ?, ?)', [
        id,
        `M${id}`,
        'new',
        `2026-03-01 10:00:0${id}.000000`,
      ]);
    // The third insert never answers: the process "dies" there, with or without the commit.
    let inserts = 0;
    const hang = new Promise<never>(() => undefined);
    const first = await start({
      wrap: (store) =>
        new Proxy(store, {
          get(target, prop, receiver) {
            if (prop !== 'insertMessages') return Reflect.get(target, prop, receiver) as unknown;
            return async (messages: NewMessage[]) => {
              inserts += messages.length;
              if (inserts < 3) return target.insertMessages(messages);
              if (committed) await target.insertMessages(messages);
              return hang;
            };
          },
        }),
    });
    await waitFor('the third insert', () => inserts >= 3 || undefined);
    await first.engine.stop(500);
    engines.splice(0);

    const { store } = await start();
    await waitFor('five messages', async () => (await bodies(store)).length >= 5 || undefined);
    await sleep(400);
    expect((await bodies(store)).map((b) => b.id)).toEqual([1, 2, 3, 4, 5]);
  });

  it('groups consecutive rows sharing group_column into one message', async () => {
    const rows: Array<[number, string]> = [
      [1, 'A'],
      [2, 'A'],
      [3, 'A'],
      [4, 'B'],
    ];
    for (const [id, mrn] of rows)
      await db.sql('INSERT INTO orders (id, mrn, status, updated_at) VALUES (?, ?, ?, ?)', [
        id,
        mrn,
        'new',
        T1,
      ]);
    const { store } = await start({ extra: '  group_column: mrn\n' });
    await waitFor('two groups', async () => (await bodies(store)).length >= 2 || undefined);
    await sleep(300);
    const all = await bodies(store);
    expect(all.map((b) => [b.group, (b.rows as Array<{ id: number }>).map((r) => r.id)])).toEqual([
      ['A', [1, 2, 3]],
      ['B', [4]],
    ]);
  });

  it('copies rows into another table through a database destination (the whole path through the engine)', async () => {
    await db.sql(
      'CREATE TABLE orders_copy (id INTEGER PRIMARY KEY, mrn VARCHAR(20) NOT NULL, status VARCHAR(20))',
    );
    for (let id = 1; id <= 3; id++)
      await db.sql('INSERT INTO orders (id, mrn, status, updated_at) VALUES (?, ?, ?, ?)', [
        id,
        `M${id}`,
        'new',
        T1,
      ]);
    const upsert =
      dialect === 'mysql'
        ? 'INSERT INTO orders_copy (id, mrn, status) VALUES (:id, :mrn, :status) ON DUPLICATE KEY UPDATE status = VALUES(status)'
        : 'INSERT INTO orders_copy (id, mrn, status) VALUES (:id, :mrn, :status) ON CONFLICT (id) DO UPDATE SET status = excluded.status';
    await start({
      extra: `destinations:
  - name: copy
    type: database
    url: "${db.url}"
    statements:
      - sql: "${upsert}"
        params: { id: id, mrn: mrn, status: status }
`,
    });
    await waitFor(
      'three copied rows',
      async () => (await db.sql('SELECT id FROM orders_copy')).length === 3 || undefined,
    );
    await db.sql('UPDATE orders SET status = ?, updated_at = ? WHERE id = ?', ['done', T3, 2]);
    await waitFor(
      'the change copied',
      async () =>
        (await db.sql('SELECT status FROM orders_copy WHERE id = 2'))[0]?.status === 'done' || undefined,
    );
    const rows = await db.sql('SELECT id, mrn, status FROM orders_copy ORDER BY id');
    expect(rows.map((r) => [Number(r.id), r.mrn, r.status])).toEqual([
      [1, 'M1', 'new'],
      [2, 'M2', 'done'],
      [3, 'M3', 'new'],
    ]);
  });

  it('takes HL7 v2 messages kept in a column as they are (content_column)', async () => {
    await db.sql(
      `CREATE TABLE outbox (seq INTEGER PRIMARY KEY, message TEXT NOT NULL, created_at ${db.timeType})`,
    );
    const hl7 = (id: string) =>
      `MSH|^~\\&|PMS|CLINIC|EHR|CLINIC|20260301100000||ADT^A08^ADT_A01|${id}|P|2.5.1\rEVN|A08|20260301100000\rPID|1||MRN-1^^^CLINIC^MR||DOE^JANE\r`;
    await db.sql('INSERT INTO outbox (seq, message, created_at) VALUES (?, ?, ?)', [1, hl7('CTRL-1'), T1]);
    await db.sql('INSERT INTO outbox (seq, message, created_at) VALUES (?, ?, ?)', [2, hl7('CTRL-2'), T2]);
    const channel = compileChannelOrThrow(
      `
id: orders
source:
  type: database
  url: "${db.url}"
  table: outbox
  mark_column: created_at
  key_column: seq
  content_column: message
  content_type: hl7v2
  poll_interval_ms: 50
`,
      'orders.yaml',
      registries,
    );
    const store = await openStore({ dataDir: dir });
    const engine = new Engine({
      channels: [channel],
      store,
      queue: new MemoryQueueDriver(),
      transformers: library,
      logger: createLogger('silent'),
    });
    engines.push(engine);
    await engine.start();
    const rows = await waitFor('two HL7 messages', async () => {
      const found = await store.searchMessages({ channelId: 'orders' });
      return found.length === 2 ? found : undefined;
    });
    expect(rows.map((r) => [r.messageType, r.controlId]).sort()).toEqual([
      ['ADT^A08', 'CTRL-1'],
      ['ADT^A08', 'CTRL-2'],
    ]);
  });

  if (dialect !== 'sqlite') {
    it('keeps polling while the server is unreachable, and catches up once it is back', async () => {
      const target = new URL(db.url);
      const relay = new Relay('127.0.0.1', Number(target.port || (dialect === 'postgres' ? 5432 : 3306)));
      await relay.up();
      await db.sql('INSERT INTO orders (id, mrn, status, updated_at) VALUES (?, ?, ?, ?)', [
        1,
        'M1',
        'new',
        T1,
      ]);
      const { store, engine } = await start({ url: relay.via(db.url) });
      await waitFor('the first row', async () => (await bodies(store)).length === 1 || undefined);
      await relay.down();
      await db.sql('INSERT INTO orders (id, mrn, status, updated_at) VALUES (?, ?, ?, ?)', [
        2,
        'M2',
        'new',
        T2,
      ]);
      await sleep(600);
      expect(await bodies(store)).toHaveLength(1);
      expect(engine.source('orders')).toBeDefined();
      await relay.up();
      await waitFor(
        'the row added while down',
        async () => (await bodies(store)).length === 2 || undefined,
        15_000,
      );
      expect((await bodies(store)).map((b) => b.id)).toEqual([1, 2]);
      await relay.down();
    });
  }
});
