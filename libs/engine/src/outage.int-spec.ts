import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { builtInRegistries, compileChannelOrThrow } from '@sinew/channels';
import { Hl7Message, readAck } from '@sinew/hl7v2';
import { TransformerLibrary } from '@sinew/mapping';
import { MllpClient } from '@sinew/mllp';
import { createQueueDriver } from '@sinew/queue';
import { openStore, type Store } from '@sinew/store';
import { withTestSchema, type TestSchema } from '@sinew/test-support/postgres';
import { flushPrefix, redisUrl, uniquePrefix } from '@sinew/test-support/redis';
import { sleep, waitFor } from '@sinew/test-support/wait';
import { Engine } from './engine';
import { createLogger } from './logger';

const ORU = readFileSync(join(__dirname, '../../../channels/samples/oru-r01.hl7'), 'latin1');
const library = TransformerLibrary.load();
const registries = builtInRegistries(library);

/** An HTTP peer that can go away (its port refuses connections) and come back on the same port. */
class Peer {
  readonly received: Array<{ path: string; controlId: string; at: number }> = [];
  /** Control ids answered 500 (and not counted as received). */
  readonly refuse = new Set<string>();
  /** Answers every request with this status while set (a peer up but failing). */
  failing?: number;
  private server?: Server;
  port = 0;

  async start(): Promise<void> {
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('latin1');
        const msh = body.split('\r')[0]?.split('|') ?? [];
        const controlId = msh[9] ?? '';
        if (this.failing !== undefined) {
          res.writeHead(this.failing, { 'content-type': 'application/json' });
          res.end('{"error":"unavailable"}');
          return;
        }
        if (this.refuse.has(controlId)) {
          res.writeHead(500, { 'content-type': 'application/json' });
          res.end('{"error":"cannot take this one"}');
          return;
        }
        this.received.push({ path: req.url ?? '', controlId, at: Date.now() });
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{"ok":true}');
      });
    });
    await new Promise<void>((r) => server.listen(this.port, '127.0.0.1', r));
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    server?.closeAllConnections();
    return new Promise((r) => (server ? server.close(() => r()) : r()));
  }

  ids(path: string): string[] {
    return this.received.filter((r) => r.path === path).map((r) => r.controlId);
  }
}

const CHANNEL = (port: number) => `
id: lab
source: { type: mllp, listen: 0 }
destinations:
  - name: ordered
    type: http
    url: http://127.0.0.1:${port}/ordered
    ordering: channel
    retry: { attempts: 20, initial_delay_ms: 2000, multiplier: 4, max_delay_ms: 300000, jitter: 0 }
  - name: loose
    type: http
    url: http://127.0.0.1:${port}/loose
    retry: { attempts: 20, initial_delay_ms: 2000, multiplier: 4, max_delay_ms: 300000, jitter: 0 }
`;

interface LogLine {
  level: string;
  msg: string;
  [key: string]: unknown;
}

/** Embedded (SQLite, in-process queue) and scaled out (PostgreSQL, BullMQ on Redis). */
describe.each([
  ['sqlite', 'memory'],
  ['postgres', 'bullmq'],
] as const)('a destination outage (real sockets, %s ledger, %s queue)', (kind, queueKind) => {
  let dir: string;
  let pg: TestSchema | undefined;
  let redis: { url: string; prefix: string } | undefined;
  let engine: Engine | undefined;
  let client: MllpClient | undefined;
  const peer = new Peer();
  const lines: LogLine[] = [];

  beforeEach(async () => {
    lines.length = 0;
    peer.received.length = 0;
    peer.refuse.clear();
    delete peer.failing;
    dir = mkdtempSync(join(tmpdir(), 'sinew-outage-'));
    if (kind === 'postgres') pg = await withTestSchema();
    if (queueKind === 'bullmq') redis = { url: await redisUrl(), prefix: uniquePrefix('outage') };
  });
  afterEach(async () => {
    await client?.close();
    await engine?.stop(2_000);
    await peer.stop();
    await pg?.drop();
    if (redis) await flushPrefix(redis.url, redis.prefix);
    rmSync(dir, { recursive: true, force: true });
  });

  const gauge = async (destination: string) => {
    const text = await (engine as Engine).metrics.registry.metrics();
    const m = new RegExp(
      `^sinew_destination_up\\{channel="lab",destination="${destination}"\\} (\\d)$`,
      'm',
    ).exec(text);
    return m?.[1];
  };

  /** Starts the engine on `yaml` with the peer's port; `send` expects AA. */
  async function run(yaml: string): Promise<{ store: Store; send: (controlId: string) => Promise<void> }> {
    const store: Store = await openStore(pg ? { databaseUrl: pg.url, schema: pg.schema } : { dataDir: dir });
    const channel = compileChannelOrThrow(yaml, 'lab.yaml', registries);
    engine = new Engine({
      channels: [channel],
      store,
      queue: createQueueDriver(redis ? { redisUrl: redis.url, prefix: redis.prefix } : {}),
      transformers: library,
      logger: createLogger('info', {
        write: (line: string) => {
          lines.push(JSON.parse(line) as LogLine);
        },
      }),
      sweepIntervalMs: 1_000,
    });
    await engine.start();
    client = new MllpClient({ host: '127.0.0.1', port: engine.source('lab')?.port?.() as number });
    const send = async (controlId: string) => {
      const text = ORU.replace('DEMO-ORU-0001', controlId).replace(/\n/g, '\r');
      const result = await (client as MllpClient).send(Hl7Message.parse(text));
      expect(readAck(result.ack as Hl7Message).code).toBe('AA');
    };
    return { store, send };
  }

  it('logs the outage once each way, shows it in /ready and the gauge, and delivers what waited within seconds of the return, in order', async () => {
    await peer.start();
    const { store, send } = await run(CHANNEL(peer.port));

    await send('UP-1');
    await waitFor('the first message on both paths', () => peer.received.length === 2 || undefined);
    expect(await gauge('ordered')).toBe('1');

    await peer.stop();
    const ids = ['OUT-1', 'OUT-2', 'OUT-3', 'OUT-4', 'OUT-5'];
    for (const id of ids) await send(id);
    // Attempts at 0, 2 and 10 s; the next would be at 42 s (multiplier 4, no jitter).
    await waitFor(
      'both destinations down',
      async () => {
        const { checks } = await (engine as Engine).readiness();
        return (
          checks['destination:lab/ordered']?.startsWith('down since') &&
          checks['destination:lab/loose']?.startsWith('down since')
        );
      },
      5_000,
    );
    const down = await (engine as Engine).readiness();
    expect(down.ready).toBe(true);
    expect(down.checks['destination:lab/ordered']).toMatch(
      /^down since \d{4}-\d\d-\d\dT[\d:.]+Z \(ECONNREFUSED, \d+ failed attempts\)$/,
    );
    expect(await gauge('ordered')).toBe('0');
    expect(await gauge('loose')).toBe('0');
    await sleep(12_000);
    expect(peer.received).toHaveLength(2);

    await peer.start();
    const back = Date.now();
    await waitFor(
      'every held message delivered on both paths',
      () => (peer.ids('/ordered').length === 6 && peer.ids('/loose').length === 6) || undefined,
      15_000,
      20,
    );
    const took = Math.max(...peer.received.map((r) => r.at)) - back;
    expect(took).toBeLessThan(5_000);
    expect(peer.ids('/ordered')).toEqual(['UP-1', ...ids]);
    expect([...peer.ids('/loose')].sort()).toEqual(['UP-1', ...ids].sort());

    // Once each way per destination, with the code and no message content.
    for (const destination of ['ordered', 'loose']) {
      const mine = lines.filter((l) => l.destination === destination);
      const downLines = mine.filter((l) => l.msg.startsWith('destination down'));
      const upLines = mine.filter((l) => l.msg.startsWith('destination recovered'));
      expect(downLines).toHaveLength(1);
      expect(downLines[0]).toMatchObject({ level: 'warn', channel: 'lab', code: 'ECONNREFUSED' });
      expect(upLines).toHaveLength(1);
      expect(upLines[0]).toMatchObject({ level: 'info', channel: 'lab', code: 'ECONNREFUSED' });
      expect(upLines[0]?.downForMs).toBeGreaterThanOrEqual(12_000);
      expect(upLines[0]?.failedAttempts).toBeGreaterThanOrEqual(3);
    }
    const logged = JSON.stringify(lines);
    expect(logged).not.toContain('OUT-1');
    expect(logged).not.toContain('MRN-000123');

    await waitFor('the destinations up', async () => {
      const { checks } = await (engine as Engine).readiness();
      return checks['destination:lab/ordered'] === 'up' && checks['destination:lab/loose'] === 'up';
    });
    expect(await gauge('ordered')).toBe('1');
    expect(await gauge('loose')).toBe('1');
    // Probes that could not connect are no attempts: the ledger holds the scheduled ones and the
    // send; the messages parked behind the first went once, at the first try.
    // The peer has the requests before the engine has recorded their answers: wait for the ledger.
    const messages = await waitFor('every message delivered in the ledger', async () => {
      const found = await store.searchMessages({ channelId: 'lab' });
      return found.every((m) => m.status === 'delivered') ? found : undefined;
    });
    expect(messages.map((m) => m.status)).toEqual(messages.map(() => 'delivered'));
    const outcomes = async (controlId: string, destination: string) => {
      const m = messages.find((x) => x.controlId === controlId);
      const d = (await store.getDeliveries(m?.id as string)).find((x) => x.destination === destination);
      return (await store.getAttempts(d?.id as string)).map((a) => `${a.outcome} ${a.code}`);
    };
    const refused = ['retry ECONNREFUSED', 'retry ECONNREFUSED', 'retry ECONNREFUSED'];
    expect(await outcomes('OUT-1', 'ordered')).toEqual([...refused, 'sent HTTP 200']);
    expect(await outcomes('OUT-2', 'ordered')).toEqual(['sent HTTP 200']);
    expect(await outcomes('OUT-5', 'loose')).toEqual([...refused, 'sent HTTP 200']);
  }, 60_000);
  it('is not down for one message the peer refuses while it takes the others: no line, and that message keeps its backoff', async () => {
    await peer.start();
    peer.refuse.add('BAD-1');
    const { store, send } = await run(`
id: lab
source: { type: mllp, listen: 0 }
destinations:
  - name: loose
    type: http
    url: http://127.0.0.1:${peer.port}/loose
    retry: { attempts: 20, initial_delay_ms: 500, multiplier: 2, max_delay_ms: 300000, jitter: 0 }
`);
    await send('BAD-1');
    // Successes between its failures: attempts at 0, 0.5, 1.5 and 3.5 s, the next at 7.5 s.
    const ok = ['OK-1', 'OK-2', 'OK-3', 'OK-4', 'OK-5', 'OK-6', 'OK-7', 'OK-8'];
    for (const id of ok) {
      await sleep(250);
      await send(id);
      await waitFor(`${id} delivered`, () => peer.ids('/loose').includes(id) || undefined);
    }
    await sleep(4_500 - ok.length * 250);
    expect(peer.ids('/loose')).toEqual(ok);
    const [bad] = (await store.searchMessages({ channelId: 'lab' })).filter((m) => m.controlId === 'BAD-1');
    const [delivery] = await store.getDeliveries(bad?.id as string);
    expect(delivery?.status).toBe('retrying');
    expect(delivery?.attempts).toBe(4);
    expect(lines.filter((l) => l.msg.startsWith('destination'))).toEqual([]);
    expect(await gauge('loose')).toBe('1');
    expect((await (engine as Engine).readiness()).checks['destination:lab/loose']).toBe('up');
  }, 30_000);
  it('probes a peer that answers 503 with recorded attempts, never a delivery’s last one, and wakes the rest when it takes one', async () => {
    await peer.start();
    peer.failing = 503;
    const { store, send } = await run(`
id: lab
source: { type: mllp, listen: 0 }
destinations:
  - name: loose
    type: http
    url: http://127.0.0.1:${peer.port}/loose
    retry: { attempts: 4, initial_delay_ms: 3000, multiplier: 10, max_delay_ms: 300000, jitter: 0 }
`);
    const ids = ['S-1', 'S-2', 'S-3'];
    for (const id of ids) await send(id);
    // Scheduled attempts at 0 and 3 s, the next at 33 s; probes from 2 s on take attempt 3.
    await sleep(10_000);
    const messages = await store.searchMessages({ channelId: 'lab' });
    const attempts = async () =>
      Promise.all(
        messages.map(async (m) => {
          const [d] = await store.getDeliveries(m.id);
          return (await store.getAttempts(d?.id as string)).map((a) => `${a.outcome} ${a.code}`);
        }),
      );
    const before = await attempts();
    // Probes took a third attempt of some; none took the fourth, the last.
    expect(before.some((a) => a.length === 3)).toBe(true);
    expect(before.every((a) => a.length <= 3 && a.every((x) => x === 'retry HTTP 503'))).toBe(true);

    delete peer.failing;
    await waitFor(
      'every message delivered',
      async () => {
        const ms = await store.searchMessages({ channelId: 'lab' });
        return ms.every((m) => m.status === 'delivered') || undefined;
      },
      // Beside the other suites on 2 shared cores (or all of them in one process, as CI runs
      // them) the retries' timers can run late.
      80_000,
    );
    expect([...peer.ids('/loose')].sort()).toEqual(ids);
    const after = await attempts();
    for (const a of after) {
      expect(a[a.length - 1]).toBe('sent HTTP 200');
      expect(a.length).toBeLessThanOrEqual(4);
    }
    expect(await store.listDeadLetters({ channelId: 'lab' })).toEqual([]);
    const down = lines.filter((l) => l.msg.startsWith('destination down'));
    const up = lines.filter((l) => l.msg.startsWith('destination recovered'));
    expect(down).toHaveLength(1);
    expect(down[0]).toMatchObject({ level: 'warn', code: 'HTTP 503' });
    expect(up).toHaveLength(1);
  }, 150_000);
});
