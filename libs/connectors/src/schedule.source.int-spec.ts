import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { builtInRegistries, compileChannelOrThrow } from '@sinew/channels';
import { Engine, createLogger } from '@sinew/engine';
import { TransformerLibrary } from '@sinew/mapping';
import { MemoryQueueDriver } from '@sinew/queue';
import { openStore, type NewMessage, type Store } from '@sinew/store';
import { sleep, waitFor } from '@sinew/test-support/wait';

jest.setTimeout(60_000);

const library = TransformerLibrary.load();
const registries = builtInRegistries(library);

/**
 * A stand-in PMS API: `/changes?since=N` answers the items with an id above N, two per page,
 * with `next_cursor` the last id of the page; `/list?page=N` pages by `links.next`.
 */
class StandIn {
  items: Array<{ id: number; name: string }> = [];
  readonly requests: string[] = [];
  failing = false;
  private server?: Server;
  port = 0;

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      this.requests.push(`${url.pathname}${url.search}`);
      if (this.failing) {
        res.writeHead(503).end();
        return;
      }
      res.setHeader('content-type', 'application/json');
      if (url.pathname === '/changes') {
        const since = Number(url.searchParams.get('since') ?? '0');
        const page = this.items.filter((i) => i.id > since).slice(0, 2);
        const last = page[page.length - 1];
        res.end(JSON.stringify({ data: page, next_cursor: last ? String(last.id) : String(since) }));
        return;
      }
      const n = Number(url.searchParams.get('page') ?? '1');
      const page = this.items.slice((n - 1) * 2, n * 2);
      const more = this.items.length > n * 2;
      res.end(JSON.stringify({ results: page, links: more ? { next: `/list?page=${n + 1}` } : {} }));
    });
    await new Promise<void>((r) => this.server?.listen(0, '127.0.0.1', r));
    this.port = (this.server?.address() as AddressInfo).port;
  }

  stop(): Promise<void> {
    this.server?.closeAllConnections();
    return new Promise((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}

describe('schedule source (engine, embedded ledger, a stand-in HTTP API)', () => {
  let dir: string;
  const api = new StandIn();
  const engines: Engine[] = [];

  beforeAll(() => api.start());
  afterAll(() => api.stop());
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'sinew-sched-'));
    api.items = [];
    api.requests.length = 0;
    api.failing = false;
  });
  afterEach(async () => {
    for (const e of engines.splice(0)) await e.stop(2_000);
    rmSync(dir, { recursive: true, force: true });
  });

  async function start(
    source: string,
    before?: (store: Store) => Promise<void>,
    wrap: (store: Store) => Store = (s) => s,
  ): Promise<Store> {
    const channel = compileChannelOrThrow(`id: sched\nsource:\n${source}`, 'sched.yaml', registries);
    const store = await openStore({ dataDir: dir });
    await before?.(store);
    const engine = new Engine({
      channels: [channel],
      store: wrap(store),
      queue: new MemoryQueueDriver(),
      transformers: library,
      logger: createLogger('silent'),
      sweepIntervalMs: 200,
    });
    engines.push(engine);
    await engine.start();
    return store;
  }

  async function stopAll(): Promise<void> {
    for (const e of engines.splice(0)) await e.stop(2_000);
  }

  async function bodies(store: Store): Promise<Array<Record<string, unknown>>> {
    const rows = await store.searchMessages({ channelId: 'sched', limit: 1000 });
    rows.sort((a, b) => a.seq - b.seq);
    const out: Array<Record<string, unknown>> = [];
    for (const r of rows) out.push(JSON.parse(((await store.getContent(r.id, 'raw')) as Buffer).toString()));
    return out;
  }

  it('fires a trigger message per scheduled time, each time once across a restart', async () => {
    const source = '  type: schedule\n  cron: "* * * * * *"\n  timezone: Europe/Berlin\n';
    let store = await start(source);
    await waitFor('two runs', async () => (await bodies(store)).length >= 2 || undefined, 5_000);
    await stopAll();
    store = await start(source);
    await waitFor(
      'a run after the restart',
      async () => (await bodies(store)).length >= 4 || undefined,
      6_000,
    );
    const times = (await bodies(store)).map((b) => b.scheduled_at as string);
    expect(new Set(times).size).toBe(times.length);
    expect([...times].sort()).toEqual(times);
    for (const t of times) expect(t).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z$/);
    expect((await bodies(store))[0]).toMatchObject({ timezone: 'Europe/Berlin' });
  });

  it('runs a time missed while stopped once at start, not once per missed time', async () => {
    const threeHoursAgo = new Date(Date.now() - 3 * 3600_000).toISOString();
    const store = await start('  type: schedule\n  cron: "0 * * * *"\n', (s) =>
      s.setSourceCursor('sched', 'schedule', JSON.stringify({ done: threeHoursAgo })),
    );
    await waitFor('the overdue run', async () => (await bodies(store)).length >= 1 || undefined);
    await sleep(500);
    const all = await bodies(store);
    expect(all).toHaveLength(1);
    const hour = new Date();
    hour.setUTCMinutes(0, 0, 0);
    expect(all[0]?.scheduled_at).toBe(hour.toISOString());
  });

  it('turns each item of each page into a message, and keeps the cursor across an engine restart', async () => {
    api.items = [1, 2, 3, 4, 5].map((id) => ({ id, name: `item ${id}` }));
    const source = `  type: schedule
  cron: "* * * * * *"
  http:
    url: http://127.0.0.1:${api.port}/changes
    items_path: data
    cursor_path: next_cursor
    cursor_param: since
`;
    let store = await start(source);
    await waitFor('five items', async () => (await bodies(store)).length >= 5 || undefined, 6_000);
    await stopAll();
    api.items.push({ id: 6, name: 'item 6' }, { id: 7, name: 'item 7' });
    api.requests.length = 0;
    store = await start(source);
    await waitFor('the two new items', async () => (await bodies(store)).length >= 7 || undefined, 6_000);
    await sleep(1_500);
    expect((await bodies(store)).map((b) => b.id)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    // The first request after the restart starts from the cursor kept in the ledger.
    expect(api.requests[0]).toBe('/changes?since=5');
  });

  it('resumes a run cut short by a crash at the item where it stopped: none repeated, none skipped', async () => {
    api.items = [1, 2, 3, 4, 5].map((id) => ({ id, name: `item ${id}` }));
    const source = `  type: schedule
  cron: "0 0 1 1 *"
  http:
    url: http://127.0.0.1:${api.port}/changes
    items_path: data
    cursor_path: next_cursor
    cursor_param: since
`;
    // A run is due at start (the last one is long past); the third item's commit never answers.
    const due = (s: Store) =>
      s.setSourceCursor('sched', 'schedule', JSON.stringify({ done: '2000-01-01T00:00:00.000Z' }));
    let inserts = 0;
    await start(
      source,
      due,
      (store) =>
        new Proxy(store, {
          get(target, prop, receiver) {
            if (prop !== 'insertMessages') return Reflect.get(target, prop, receiver) as unknown;
            return async (messages: NewMessage[]) => {
              inserts += messages.length;
              if (inserts < 3) return target.insertMessages(messages);
              return new Promise<never>(() => undefined);
            };
          },
        }),
    );
    await waitFor('the third item', () => inserts >= 3 || undefined);
    await stopAll();
    const store = await start(source);
    await waitFor('five items', async () => (await bodies(store)).length >= 5 || undefined, 6_000);
    await sleep(500);
    expect((await bodies(store)).map((b) => b.id)).toEqual([1, 2, 3, 4, 5]);
    // The resumed run asked again for the page it was in (since=2), not from the start.
    expect(api.requests.filter((r) => r === '/changes')).toHaveLength(1);
  });

  it('follows next links, and retries a run the endpoint refused', async () => {
    api.items = [1, 2, 3].map((id) => ({ id, name: `item ${id}` }));
    api.failing = true;
    const store = await start(`  type: schedule
  cron: "* * * * * *"
  retry_interval_ms: 200
  http:
    url: http://127.0.0.1:${api.port}/list
    items_path: results
    next_link_path: links.next
`);
    await waitFor('a refused request', () => api.requests.length >= 1 || undefined);
    await sleep(300);
    expect(await bodies(store)).toHaveLength(0);
    api.failing = false;
    await waitFor('three items', async () => (await bodies(store)).length >= 3 || undefined, 6_000);
    const ids = (await bodies(store)).map((b) => b.id);
    expect(ids.slice(0, 3)).toEqual([1, 2, 3]);
    expect(api.requests).toContain('/list?page=2');
  });
});
