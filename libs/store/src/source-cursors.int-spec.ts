import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { withTestSchema } from '@sinew/test-support/postgres';
import { openStore } from './open-store';
import type { NewMessage, Store } from './store';

function message(cursor?: string, id = randomUUID()): NewMessage {
  return {
    id,
    channelId: 'orders',
    receivedAt: new Date(),
    source: 'database',
    sender: 'db',
    contentType: 'json',
    raw: Buffer.from('{"id":1}'),
    keys: {},
    ...(cursor !== undefined ? { cursor: { source: 'database', value: cursor } } : {}),
  };
}

const backends: Array<[string, () => Promise<{ store: Store; cleanup: () => Promise<void> }>]> = [
  [
    'SQLite',
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'sinew-cursor-'));
      const store = await openStore({ dataDir: dir });
      return { store, cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
    },
  ],
  [
    'PostgreSQL',
    async () => {
      const { url, schema, drop } = await withTestSchema();
      const store = await openStore({ databaseUrl: url, schema });
      return { store, cleanup: drop };
    },
  ],
];

describe.each(backends)('source cursors on %s', (_name, open) => {
  let store: Store;
  let cleanup: () => Promise<void>;
  beforeEach(async () => {
    ({ store, cleanup } = await open());
  });
  afterEach(async () => {
    await store.close();
    await cleanup();
  });

  it('commits the cursor with the messages that carry it; the last of a group wins', async () => {
    expect(await store.getSourceCursor('orders', 'database')).toBeUndefined();
    await store.insertMessages([message('{"mark":1}'), message(), message('{"mark":3}')]);
    expect((await store.getSourceCursor('orders', 'database'))?.value).toBe('{"mark":3}');
    expect(await store.getSourceCursor('orders', 'schedule')).toBeUndefined();
    expect(await store.getSourceCursor('other', 'database')).toBeUndefined();
  });

  it('leaves the cursor where it was when the messages are not committed', async () => {
    const existing = randomUUID();
    await store.insertMessages([message('{"mark":1}', existing)]);
    // The second message reuses an id: the whole group fails, and so does its cursor.
    await expect(
      store.insertMessages([message('{"mark":2}'), message('{"mark":3}', existing)]),
    ).rejects.toThrow();
    expect((await store.getSourceCursor('orders', 'database'))?.value).toBe('{"mark":1}');
    expect(await store.searchMessages({ channelId: 'orders' })).toHaveLength(1);
  });

  it('moves a cursor without a message, and refuses a cursor that is not text', async () => {
    await store.setSourceCursor('orders', 'schedule', '{"done":"2026-01-01T00:00:00.000Z"}');
    await store.setSourceCursor('orders', 'schedule', '{"done":"2026-01-02T00:00:00.000Z"}');
    const got = await store.getSourceCursor('orders', 'schedule');
    expect(got?.value).toBe('{"done":"2026-01-02T00:00:00.000Z"}');
    expect(got?.updatedAt).toBeInstanceOf(Date);
    await expect(store.setSourceCursor('orders', 'schedule', 42 as unknown as string)).rejects.toThrow(
      /must be a string/,
    );
  });
});
