import Database from 'better-sqlite3';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { builtInRegistries, compileChannelOrThrow } from '@sinew/channels';
import { Hl7Message, readAck } from '@sinew/hl7v2';
import { TransformerLibrary } from '@sinew/mapping';
import { MllpClient } from '@sinew/mllp';
import { MemoryQueueDriver } from '@sinew/queue';
import { openStore, type Store } from '@sinew/store';
import { mllpExchange } from '@sinew/test-support/engine-process';
import { sleep, waitFor } from '@sinew/test-support/wait';
import { Engine } from './engine';
import { createLogger } from './logger';

const ORU = readFileSync(join(__dirname, '../../../channels/samples/oru-r01.hl7'), 'latin1');
const library = TransformerLibrary.load();
const registries = builtInRegistries(library);

/** An HTTP peer whose answers a test scripts: each request takes the next status (default 200). */
class Sink {
  readonly received: Array<{ path: string; body: string }> = [];
  statuses: number[] = [];
  fallback = 200;
  /** Requests whose body contains this text fail with 503 while `failing` > 0 (counting down). */
  failFor?: { text: string; failing: number };
  private server?: Server;
  port = 0;

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        let status = this.statuses.shift() ?? this.fallback;
        if (this.failFor && this.failFor.failing > 0 && body.includes(this.failFor.text)) {
          this.failFor.failing--;
          status = 503;
        }
        if (status < 300)
          this.received.push({ path: req.url ?? '', body: Buffer.concat(chunks).toString('utf8') });
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(status < 300 ? { ok: true } : { error: `status ${status}` }));
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

function oru(controlId: string, mrn = 'MRN-000123'): string {
  return ORU.replace('DEMO-ORU-0001', controlId).replace('MRN-000123', mrn);
}

interface Running {
  engine: Engine;
  store: Store;
  client: MllpClient;
  send(text: string): Promise<Hl7Message>;
}

describe('the engine (embedded ledger, in-process queue, real sockets)', () => {
  let dir: string;
  const sink = new Sink();
  let running: Running | undefined;

  beforeAll(() => sink.start());
  afterAll(() => sink.stop());
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'sinew-engine-'));
    sink.received.length = 0;
    sink.statuses = [];
    sink.fallback = 200;
    delete sink.failFor;
  });
  afterEach(async () => {
    await running?.client.close();
    await running?.engine.stop(2_000);
    running = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  async function start(channelYaml: string, wrap: (store: Store) => Store = (st) => st): Promise<Running> {
    const channel = compileChannelOrThrow(
      channelYaml.replace(/SINK/g, `http://127.0.0.1:${sink.port}`),
      'test.yaml',
      registries,
    );
    const store = await openStore({ dataDir: dir });
    const engine = new Engine({
      channels: [channel],
      store: wrap(store),
      queue: new MemoryQueueDriver(),
      transformers: library,
      logger: createLogger('silent'),
      sweepIntervalMs: 200,
    });
    await engine.start();
    const port = engine.source(channel.spec.id)?.port?.() as number;
    const client = new MllpClient({ host: '127.0.0.1', port });
    const r: Running = {
      engine,
      store,
      client,
      send: async (text) => {
        const result = await client.send(Hl7Message.parse(text.replace(/\n/g, '\r')));
        if (!result.ack) throw new Error(`no ACK: ${result.status}`);
        return result.ack;
      },
    };
    running = r;
    return r;
  }

  const channel = (extra = '', dest = '') => `
id: lab
source: { type: mllp, listen: 0 }
keys: { mrn: PID-3.1 }
${extra}
destinations:
  - name: sink
    type: http
    url: SINK/results
    retry: { attempts: 3, initial_delay_ms: 50, max_delay_ms: 200, jitter: 0 }
${dest}
`;

  it('commits before it acknowledges, then transforms and delivers', async () => {
    const { send, store } = await start(channel('pipeline:\n  - map: { transformer: oru-to-fhir }'));
    const ack = await send(oru('C-1'));
    expect(readAck(ack).code).toBe('AA');
    expect(ack.get('MSA-2')).toBe('C-1');
    const [row] = await store.searchMessages({ key: { name: 'mrn', value: 'MRN-000123' } });
    expect(row).toMatchObject({ channelId: 'lab', controlId: 'C-1', messageType: 'ORU^R01', ackCode: 'AA' });
    const delivered = await waitFor('delivery', async () => {
      const m = await store.getMessage(row?.id as string);
      return m?.status === 'delivered' ? m : undefined;
    });
    expect(delivered.status).toBe('delivered');
    expect(sink.received).toHaveLength(1);
    const bundle = JSON.parse(sink.received[0]?.body as string) as { resourceType: string; type: string };
    expect(bundle).toMatchObject({ resourceType: 'Bundle', type: 'transaction' });
    expect((await store.getContent(row?.id as string, 'raw'))?.toString('latin1')).toBe(
      oru('C-1').replace(/\n/g, '\r'),
    );
  });

  it('answers a duplicate MSH-10 with the original ACK and does not process it twice', async () => {
    const { send, store } = await start(channel());
    const first = await send(oru('DUP-1'));
    const again = await send(oru('DUP-1'));
    expect(again.toString()).toBe(first.toString());
    const rows = await store.searchMessages({ channelId: 'lab' });
    expect(rows).toHaveLength(1);
    expect(rows[0]?.duplicateCount).toBe(1);
    await waitFor('delivery', () => sink.received.length === 1 || undefined);
    await sleep(200);
    expect(sink.received).toHaveLength(1);
  });

  it('records filtered messages and sends them nowhere', async () => {
    const { send, store } = await start(channel('pipeline:\n  - filter: { path: MSH-9.1, equals: ADT }'));
    expect(readAck(await send(oru('F-1'))).code).toBe('AA');
    const m = await waitFor('filtered', async () => {
      const [r] = await store.searchMessages({ channelId: 'lab' });
      return r?.status === 'filtered' ? r : undefined;
    });
    expect(await store.getDeliveries(m.id)).toEqual([]);
    expect(sink.received).toHaveLength(0);
  });

  it('with ack.when processed, a failed rule gets AE with an ERR naming the rule, the location and the check (ERR-3)', async () => {
    const { send, store } = await start(
      channel(`ack: { when: processed }
pipeline:
  - validate:
      policy: reject
      rules:
        - { code: lab.collected, path: OBR-7, required: true, message: OBR-7 collection time is required }`),
    );
    const ack = await send(oru('V-1').replace('|||20260316070000|||', '||||||'));
    // AE: the message itself is at fault (AR would tell the lab to send it again unchanged).
    expect(readAck(ack).code).toBe('AE');
    expect(ack.get('ERR-2')).toContain('OBR');
    // 101 (required field missing) from the rule's `required` check, whatever the rule is named.
    expect(ack.get('ERR-3.1')).toBe('101');
    expect(ack.get('ERR-8')).toContain('lab.collected');
    const [m] = await store.searchMessages({ channelId: 'lab' });
    expect(m?.status).toBe('rejected');
    expect(m?.issues[0]).toMatchObject({ code: 'lab.collected', location: 'OBR-7' });
    expect(readAck(await send(oru('V-2'))).code).toBe('AA');
  });

  it('takes ERR-3 from the check that failed: pattern 102, allowed 103, length 104', async () => {
    const { send } = await start(
      channel(`ack: { when: processed }
pipeline:
  - validate:
      policy: reject
      rules:
        - { code: lab.required_format, path: PID-7, pattern: '^\\d{8}$' }
        - { code: lab.sex, path: PID-8, allowed: [F, M, U] }
        - { code: lab.short, path: PID-3.1, length: { max: 12 } }`),
    );
    const err3 = async (msg: string) => (await send(msg)).get('ERR-3.1');
    expect(await err3(oru('E-1').replace('|19800214|F', '|1980021X|F'))).toBe('102');
    expect(await err3(oru('E-2').replace('|19800214|F', '|19800214|Q'))).toBe('103');
    expect(await err3(oru('E-3', 'MRN-0001234567'))).toBe('104');
  });

  it('refuses a message without MSH-10 or MSH-9 with AE and ERR-3 101, as sinew listen does', async () => {
    const { send, store } = await start(channel());
    const noType = oru('H-1').replace('ORU^R01^ORU_R01', '');
    const ack = await send(noType);
    expect(readAck(ack).code).toBe('AE');
    expect(ack.get('ERR-2')).toBe('MSH^1^9^1^1');
    expect(ack.get('ERR-3.1')).toBe('101');
    expect(await store.searchMessages({ channelId: 'lab' })).toHaveLength(0);
  });

  it('records a message whose pipeline keeps failing as errored, with the reason, instead of retrying it for ever', async () => {
    const { send, store } = await start(channel(), (real) => {
      // A ledger that refuses every pipeline outcome but the errored one.
      const failing = Object.create(real) as Store;
      failing.completePipeline = (id, result) =>
        result.status === 'errored'
          ? real.completePipeline(id, result)
          : Promise.reject(new Error('disk full'));
      return failing;
    });
    expect(readAck(await send(oru('F-1'))).code).toBe('AA');
    const m = await waitFor(
      'errored',
      async () => (await store.searchMessages({ channelId: 'lab', status: 'errored' }))[0],
      20_000,
    );
    expect(m.issues[0]).toMatchObject({ code: 'pipeline.failed', step: 'pipeline' });
    expect(m.issues[0]?.message).toContain('disk full');
    expect(sink.received).toHaveLength(0);
  }, 30_000);

  it('retries a destination answering 503 and keeps every attempt', async () => {
    sink.statuses = [503, 503];
    const { send, store } = await start(channel());
    await send(oru('R-1'));
    const [m] = await store.searchMessages({ channelId: 'lab' });
    const d = await waitFor('sent', async () => {
      const [x] = await store.getDeliveries(m?.id as string);
      return x?.status === 'sent' ? x : undefined;
    });
    expect(d.attempts).toBe(3);
    const attempts = await store.getAttempts(d.id);
    expect(attempts.map((a) => [a.outcome, a.code])).toEqual([
      ['retry', 'HTTP 503'],
      ['retry', 'HTTP 503'],
      ['sent', 'HTTP 200'],
    ]);
  });

  it('dead-letters a permanent error with the response kept, and replays it after the fix', async () => {
    sink.statuses = [400];
    const { send, store, engine } = await start(channel());
    await send(oru('D-1'));
    const [m] = await store.searchMessages({ channelId: 'lab' });
    const dead = await waitFor('dead letter', async () => {
      const [x] = await store.getDeliveries(m?.id as string);
      return x?.status === 'dead_lettered' ? x : undefined;
    });
    const [attempt] = await store.getAttempts(dead.id);
    expect(attempt?.code).toBe('HTTP 400');
    expect(attempt?.response?.toString()).toContain('status 400');
    expect((await store.getMessage(m?.id as string))?.status).toBe('failed');
    expect(await store.listDeadLetters({ channelId: 'lab' })).toHaveLength(1);
    await store.requeueDelivery(dead.id);
    await engine.sweep();
    await waitFor('replayed', async () =>
      (await store.getDelivery(dead.id))?.status === 'sent' ? true : undefined,
    );
    expect(sink.received).toHaveLength(1);
    expect((await store.getMessage(m?.id as string))?.status).toBe('delivered');
  });

  it('keeps order per key: a failing message parks only its own patient', async () => {
    // A's first message fails twice; B's messages flow meanwhile; A's second waits behind it.
    const { send, store } = await start(
      channel('', '    ordering: PID-3.1').replace(
        'attempts: 3, initial_delay_ms: 50',
        'attempts: 5, initial_delay_ms: 300',
      ),
    );
    sink.failFor = { text: 'PAT-A', failing: 2 };
    await send(oru('A-1', 'PAT-A'));
    await send(oru('A-2', 'PAT-A'));
    await send(oru('B-1', 'PAT-B'));
    await send(oru('B-2', 'PAT-B'));
    await waitFor('B delivered', () => (sink.received.length >= 2 ? true : undefined));
    const order = () =>
      sink.received.map((r) => /"value":"(PAT-[AB])"/.exec(r.body)?.[1] ?? r.body.slice(0, 40));
    const [a2] = await store.searchMessages({ key: { name: 'mrn', value: 'PAT-A' }, limit: 1 });
    const parked = await store.getDeliveries(a2?.id as string);
    expect(parked[0]?.status).toBe('parked');
    expect(parked[0]?.parkedReason).toMatch(/waiting behind message/);
    await waitFor('all delivered', () => (sink.received.length === 4 ? true : undefined));
    const controlIds = sink.received.map((r) => /\|(A-\d|B-\d)\|/.exec(r.body)?.[1]);
    expect(controlIds.filter((c) => c?.startsWith('A'))).toEqual(['A-1', 'A-2']);
    expect(controlIds.slice(0, 2)).toEqual(['B-1', 'B-2']);
    expect(order()).toHaveLength(4);
  });

  it('answers AR when the ledger cannot be written, and accepts again once it can', async () => {
    const { send, store } = await start(channel());
    // Another connection holds the database's write lock: the ledger cannot commit.
    const blocker = new Database(join(dir, 'sinew.db'));
    blocker.pragma('busy_timeout = 0');
    blocker.exec('BEGIN EXCLUSIVE');
    try {
      const nack = await send(oru('L-1'));
      expect(readAck(nack).code).toBe('AR');
      expect(nack.get('ERR-3.1')).toBe('207');
    } finally {
      blocker.exec('ROLLBACK');
      blocker.close();
    }
    expect(await store.searchMessages({ channelId: 'lab' })).toHaveLength(0);
    expect(readAck(await send(oru('L-1'))).code).toBe('AA');
  }, 30_000);

  it('refuses malformed input with an AE naming the problem, storing nothing', async () => {
    const { engine, store } = await start(channel());
    const reply = await mllpExchange(
      engine.source('lab')?.port?.() as number,
      Buffer.from('PID|1||no header\r'),
    );
    const ack = Hl7Message.parse(reply);
    expect(ack.get('MSA-1')).toBe('AE');
    expect(ack.get('ERR-8')).toMatch(/MSH/);
    expect(await store.searchMessages({ channelId: 'lab' })).toHaveLength(0);
  });

  it('takes FHIR and HL7 v2 over HTTP: 202/200 once committed, 400 for bad JSON, 503 while the ledger is locked', async () => {
    const { engine, store } = await start(
      channel().replace('source: { type: mllp, listen: 0 }', 'source: { type: http, listen: 0, path: /in }'),
    );
    const url = `http://127.0.0.1:${engine.source('lab')?.port?.() as number}/in`;
    const patient = { resourceType: 'Patient', id: 'p1', identifier: [{ system: 'urn:x', value: 'MRN-9' }] };
    const fhir = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/fhir+json' },
      body: JSON.stringify(patient),
    });
    expect(fhir.status).toBe(202);
    const { id } = (await fhir.json()) as { id: string };
    expect((await store.getMessage(id))?.messageType).toBe('Patient');
    const hl7 = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/hl7-v2' },
      body: oru('H-1'),
    });
    expect(hl7.status).toBe(200);
    expect(Hl7Message.parse(Buffer.from(await hl7.arrayBuffer())).get('MSA-1')).toBe('AA');
    const bad = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/fhir+json' },
      body: '{"resourceType":',
    });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { resourceType: string }).resourceType).toBe('OperationOutcome');
    const lock = new Database(join(dir, 'sinew.db'));
    lock.exec('BEGIN EXCLUSIVE');
    try {
      const down = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/fhir+json' },
        body: JSON.stringify(patient),
      });
      expect(down.status).toBe(503);
    } finally {
      lock.exec('ROLLBACK');
      lock.close();
    }
    await waitFor('both delivered', () => (sink.received.length === 2 ? true : undefined));
    expect(sink.received.map((r) => r.body)).toContain(JSON.stringify(patient));
  }, 30_000);

  it('polls a folder and writes each message to another, moving the input to done/', async () => {
    const inbox = join(dir, 'in');
    const outbox = join(dir, 'out');
    mkdirSync(inbox);
    const { store } = await start(`
id: lab
source: { type: file, directory: ${inbox}, poll_interval_ms: 50, min_age_ms: 0 }
pipeline:
  - map: { transformer: oru-to-pms-results-ready }
destinations:
  - name: archive
    type: file
    directory: ${outbox}
    filename: \${message_id}.json
`);
    writeFileSync(join(inbox, 'result-1.hl7'), oru('F-1'));
    const m = await waitFor('delivered', async () => {
      const [x] = await store.searchMessages({ channelId: 'lab' });
      return x?.status === 'delivered' ? x : undefined;
    });
    expect(readdirSync(outbox)).toEqual([`${m?.id}.json`]);
    expect(JSON.parse(readFileSync(join(outbox, `${m?.id}.json`), 'utf8'))).toMatchObject({
      messageControlId: 'F-1',
    });
    await waitFor('moved', () => (existsSync(join(inbox, 'done', 'result-1.hl7')) ? true : undefined));
  });
});
