import Database from 'better-sqlite3';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { builtInRegistries, compileChannelOrThrow } from '@sinew/channels';
import { Hl7Message, readAck } from '@sinew/hl7v2';
import { TransformerLibrary } from '@sinew/mapping';
import { MllpClient } from '@sinew/mllp';
import { MemoryQueueDriver } from '@sinew/queue';
import { openStore, SQLITE_FILE_NAME, type MessageRecord, type Store } from '@sinew/store';
import { waitFor } from '@sinew/test-support/wait';
import { Engine } from './engine';
import { createLogger } from './logger';

const ORU = readFileSync(join(__dirname, '../../../channels/samples/oru-r01.hl7'), 'latin1').replace(
  /\n/g,
  '\r',
);
const library = TransformerLibrary.load();
const registries = builtInRegistries(library);

/** The HTTP peer behind channel B: records every body it accepts. */
class Sink {
  readonly bodies: string[] = [];
  private server?: Server;
  port = 0;

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        this.bodies.push(Buffer.concat(chunks).toString('latin1'));
        res.writeHead(200).end('{}');
      });
    });
    await new Promise<void>((r) => this.server?.listen(0, '127.0.0.1', r));
    this.port = (this.server?.address() as AddressInfo).port;
  }

  stop(): Promise<void> {
    this.server?.closeAllConnections();
    return new Promise((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}

const RETRY = 'retry: { attempts: 3, initial_delay_ms: 50, max_delay_ms: 100, jitter: 0 }';

const channelA = (target = 'b') => `
id: a
source: { type: mllp, listen: 0 }
destinations:
  - name: to-b
    type: channel
    channel: ${target}
    payload: raw
    ${RETRY}
`;

const channelB = (sinkPort: number, from = '[a]', kinds = '[hl7v2, fhir, json]') => `
id: b
source: { type: channel, from: ${from}, content_types: ${kinds} }
# The hand-off waits for the commit only, whatever the ACK setting.
ack: { when: processed, timeout_ms: 60000 }
keys: { mrn: PID-3.1 }
destinations:
  - name: ehr
    type: http
    url: http://127.0.0.1:${sinkPort}/in
    ${RETRY}
`;

describe('channel destination → channel source (embedded ledger)', () => {
  const sink = new Sink();
  let dir: string;
  let engine: Engine | undefined;
  let client: MllpClient | undefined;

  beforeAll(() => sink.start());
  afterAll(() => sink.stop());
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'sinew-chain-'));
    sink.bodies.length = 0;
  });
  afterEach(async () => {
    await client?.close();
    await engine?.stop(2_000);
    client = undefined;
    engine = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  async function start(yamls: string[]): Promise<{ store: Store; send: (text: string) => Promise<string> }> {
    const channels = yamls.map((y, i) => compileChannelOrThrow(y, `c${i}.yaml`, registries));
    const store = await openStore({ dataDir: dir });
    engine = new Engine({
      channels,
      store,
      queue: new MemoryQueueDriver(),
      transformers: library,
      logger: createLogger('silent'),
      sweepIntervalMs: 200,
    });
    await engine.start();
    const port = engine.source('a')?.port?.() as number;
    client = new MllpClient({ host: '127.0.0.1', port });
    const mllp = client;
    return {
      store,
      send: async (text) => {
        const result = await mllp.send(Hl7Message.parse(text));
        if (!result.ack) throw new Error(`no ACK: ${result.status}`);
        return readAck(result.ack).code;
      },
    };
  }

  async function messageOf(store: Store, channelId: string): Promise<MessageRecord | undefined> {
    const [m] = await store.searchMessages({ channelId });
    return m;
  }

  it('commits the output of A as a message of B, runs B’s deliveries, and links parent and child both ways', async () => {
    const { store, send } = await start([channelA(), channelB(sink.port)]);
    expect(await send(ORU.replace('DEMO-ORU-0001', 'CH-1'))).toBe('AA');
    const parent = await waitFor('A delivered', async () => {
      const m = await messageOf(store, 'a');
      return m?.status === 'delivered' ? m : undefined;
    });
    const child = await waitFor('B delivered', async () => {
      const m = await messageOf(store, 'b');
      return m?.status === 'delivered' ? m : undefined;
    });
    // B received the bytes A handed on, as a normal received message with B's keys.
    expect(child).toMatchObject({ source: 'channel', controlId: 'CH-1', keys: { mrn: 'MRN-000123' } });
    expect((await store.getContent(child.id, 'raw'))?.toString('latin1')).toBe(
      ORU.replace('DEMO-ORU-0001', 'CH-1'),
    );
    expect(sink.bodies).toEqual([ORU.replace('DEMO-ORU-0001', 'CH-1')]);
    // The hand-off is A's delivery: its attempt names the child.
    const [delivery] = await store.getDeliveries(parent.id);
    const attempts = await store.getAttempts(delivery?.id as string);
    expect(attempts.map((a) => [a.outcome, a.code, a.response?.toString()])).toEqual([
      ['sent', 'COMMITTED', child.id],
    ]);
    expect(await store.links.linksOf(child.id)).toEqual({
      parent: { messageId: parent.id, channelId: 'a', destination: 'to-b' },
      children: [],
    });
    expect(await store.links.linksOf(parent.id)).toEqual({
      children: [{ messageId: child.id, channelId: 'b', destination: 'to-b' }],
    });
  });

  it('a hand-off run again after a crash that lost its outcome finds the child and commits no second one', async () => {
    let { store, send } = await start([channelA(), channelB(sink.port)]);
    expect(await send(ORU.replace('DEMO-ORU-0001', 'CH-2'))).toBe('AA');
    const child = await waitFor('B delivered', async () => {
      const m = await messageOf(store, 'b');
      return m?.status === 'delivered' ? m : undefined;
    });
    const parent = (await messageOf(store, 'a')) as MessageRecord;
    await client?.close();
    await engine?.stop(2_000);
    // The ledger as a process that died between the child's commit and its own outcome leaves it.
    const db = new Database(join(dir, SQLITE_FILE_NAME));
    const deliveryId = `${parent.id}.to-b`;
    db.prepare('DELETE FROM delivery_attempt WHERE delivery_id = ?').run(deliveryId);
    db.prepare("UPDATE delivery SET status = 'pending', attempts = 0 WHERE id = ?").run(deliveryId);
    db.prepare("UPDATE message SET status = 'processed' WHERE id = ?").run(parent.id);
    db.close();

    ({ store, send } = await start([channelA(), channelB(sink.port)]));
    const attempts = await waitFor('the hand-off again', async () => {
      const list = await store.getAttempts(deliveryId);
      return list.length > 0 ? list : undefined;
    });
    expect(attempts.map((a) => [a.outcome, a.code, a.response?.toString()])).toEqual([
      ['sent', 'COMMITTED_BEFORE', child.id],
    ]);
    expect((await store.searchMessages({ channelId: 'b' })).map((m) => m.id)).toEqual([child.id]);
    expect(sink.bodies).toHaveLength(1);
    expect((await store.getMessage(parent.id))?.status).toBe('delivered');
  });

  it('retries while the target channel is missing, then dead-letters the hand-off', async () => {
    const { store, send } = await start([channelA('nowhere')]);
    expect(await send(ORU.replace('DEMO-ORU-0001', 'CH-3'))).toBe('AA');
    const parent = await waitFor('A failed', async () => {
      const m = await messageOf(store, 'a');
      return m?.status === 'failed' ? m : undefined;
    });
    const [delivery] = await store.getDeliveries(parent.id);
    expect(delivery?.status).toBe('dead_lettered');
    const attempts = await store.getAttempts(delivery?.id as string);
    expect(attempts.map((a) => [a.outcome, a.code])).toEqual([
      ['retry', 'CHANNEL_MISSING'],
      ['retry', 'CHANNEL_MISSING'],
      ['failed', 'CHANNEL_MISSING'],
    ]);
    expect(attempts[0]?.error).toBe('channel nowhere is not deployed (missing or disabled)');
  });

  it('holds the hand-off while the target is paused and delivers it once resumed', async () => {
    const { store, send } = await start([
      channelA().replace('attempts: 3', 'attempts: 50'),
      channelB(sink.port),
    ]);
    await engine?.pauseChannel('b', 'test');
    expect(await send(ORU.replace('DEMO-ORU-0001', 'CH-4'))).toBe('AA');
    const parent = await waitFor('A received', () => messageOf(store, 'a'));
    const deliveryId = `${parent.id}.to-b`;
    await waitFor(
      'a paused attempt',
      async () => (await store.getAttempts(deliveryId)).some((a) => a.code === 'CHANNEL_PAUSED') || undefined,
    );
    expect(await store.searchMessages({ channelId: 'b' })).toEqual([]);
    await engine?.resumeChannel('b', 'test');
    await waitFor(
      'B delivered',
      async () => {
        const m = await messageOf(store, 'b');
        return m?.status === 'delivered' ? m : undefined;
      },
      10_000,
    );
    expect(sink.bodies).toHaveLength(1);
  });

  it('dead-letters at once a hand-off to a channel whose source does not name the sender', async () => {
    const { store, send } = await start([channelA(), channelB(sink.port, '[someone-else]')]);
    expect(await send(ORU.replace('DEMO-ORU-0001', 'CH-5'))).toBe('AA');
    const parent = await waitFor('A failed', async () => {
      const m = await messageOf(store, 'a');
      return m?.status === 'failed' ? m : undefined;
    });
    const attempts = await store.getAttempts(`${parent.id}.to-b`);
    expect(attempts.map((a) => [a.outcome, a.code])).toEqual([['failed', 'CHANNEL_NOT_ALLOWED']]);
    expect(await store.searchMessages({ channelId: 'b' })).toEqual([]);
  });

  it('dead-letters at once a hand-off of a kind the target does not take (content_types)', async () => {
    const { store, send } = await start([channelA(), channelB(sink.port, '[a]', '[fhir]')]);
    expect(await send(ORU.replace('DEMO-ORU-0001', 'CH-6'))).toBe('AA');
    const parent = await waitFor('A failed', async () => {
      const m = await messageOf(store, 'a');
      return m?.status === 'failed' ? m : undefined;
    });
    const attempts = await store.getAttempts(`${parent.id}.to-b`);
    expect(attempts.map((a) => [a.outcome, a.code, a.error])).toEqual([
      ['failed', 'channel.content_type', 'channel b refused the message: it takes fhir, not hl7v2'],
    ]);
    expect(await store.searchMessages({ channelId: 'b' })).toEqual([]);
  });
});
