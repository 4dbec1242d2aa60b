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
import { openStore, type DeliveryRecord, type Store } from '@sinew/store';
import { sleep, waitFor } from '@sinew/test-support/wait';
import { Engine } from './engine';
import { createLogger } from './logger';

const ORU = readFileSync(join(__dirname, '../../../channels/samples/oru-r01.hl7'), 'latin1');
const library = TransformerLibrary.load();
const registries = builtInRegistries(library);

/** Every request the stand-ins took, in the order they took them. */
const wire: Array<{ peer: string; body: string }> = [];

/** An HTTP peer on loopback that answers each request with `status` and `body`; it can go down and come back. */
class StandIn {
  status = 200;
  body = '';
  port = 0;
  private server?: Server;

  constructor(readonly peer: string) {}

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        wire.push({ peer: this.peer, body: Buffer.concat(chunks).toString('utf8') });
        res.writeHead(this.status, { 'content-type': 'application/json' });
        res.end(this.body);
      });
    });
    await new Promise<void>((r) => this.server?.listen(this.port, '127.0.0.1', r));
    this.port = (this.server?.address() as AddressInfo).port;
  }

  /** Closes the socket: connections are refused until `start` again (same port). */
  stop(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    s?.closeAllConnections();
    return new Promise((r) => (s ? s.close(() => r()) : r()));
  }
}

describe('destinations in sequence (after:, response placeholders)', () => {
  let dir: string;
  const ehr = new StandIn('ehr');
  const pms = new StandIn('pms');
  let engine: Engine | undefined;
  let client: MllpClient | undefined;
  let store: Store;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sinew-sequence-'));
    wire.length = 0;
    ehr.status = 201;
    ehr.body = '{"id":"123"}';
    pms.status = 200;
    pms.body = '{"ok":true}';
    await ehr.start();
    await pms.start();
  });
  afterEach(async () => {
    await client?.close();
    await engine?.stop(2_000);
    engine = undefined;
    await ehr.stop();
    await pms.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  async function start(
    pmsPlaceholder = '${response.ehr.json.id}',
    pmsExtra = '',
  ): Promise<(controlId: string) => Promise<string>> {
    const channel = compileChannelOrThrow(
      `
id: seq
source: { type: mllp, listen: 0 }
destinations:
  - name: ehr
    type: http
    url: http://127.0.0.1:${ehr.port}/fhir
    payload: raw
    retry: { attempts: 50, initial_delay_ms: 50, max_delay_ms: 100, jitter: 0 }
  - name: pms
    type: http
    url: http://127.0.0.1:${pms.port}/results
    payload: raw
    after: ehr
    retry: { attempts: 3, initial_delay_ms: 50, max_delay_ms: 100, jitter: 0 }
    ${pmsExtra}
`,
      'seq.yaml',
      registries,
    );
    store = await openStore({ dataDir: dir });
    engine = new Engine({
      channels: [channel],
      store,
      queue: new MemoryQueueDriver(),
      transformers: library,
      logger: createLogger('silent'),
      sweepIntervalMs: 200,
      destinationProbeIntervalMs: 100,
    });
    await engine.start();
    const c = new MllpClient({ host: '127.0.0.1', port: engine.source('seq')?.port?.() as number });
    client = c;
    return async (controlId) => {
      const text = `${ORU.replace('DEMO-ORU-0001', controlId).trimEnd()}\nNTE|9||EHR record ${pmsPlaceholder}\n`;
      const result = await c.send(Hl7Message.parse(text.replace(/\n/g, '\r')));
      expect(result.ack && readAck(result.ack).code).toBe('AA');
      const [m] = await store.searchMessages({ controlId });
      return m?.id as string;
    };
  }

  const deliveries = async (messageId: string): Promise<Record<string, DeliveryRecord>> =>
    Object.fromEntries((await store.getDeliveries(messageId)).map((d) => [d.destination, d]));

  it('sends to the PMS only after the EHR accepted, with the id the EHR assigned in its payload', async () => {
    const send = await start();
    const id = await send('SEQ-1');
    await waitFor('both sent', async () => (await store.getMessage(id))?.status === 'delivered' || undefined);
    expect(wire.map((w) => w.peer)).toEqual(['ehr', 'pms']);
    expect(wire[0]?.body).toContain('NTE|9||EHR record ${response.ehr.json.id}');
    expect(wire[1]?.body).toContain('NTE|9||EHR record 123\r');
    expect(wire[1]?.body).not.toContain('${');
  });

  it('keeps the PMS delivery waiting while the EHR is down, then sends both in order once it is back', async () => {
    await ehr.stop();
    const send = await start();
    const id = await send('SEQ-2');
    const waiting = await waitFor('pms parked', async () => {
      const d = await deliveries(id);
      return d.pms?.status === 'parked' && d.ehr?.status === 'retrying' ? d : undefined;
    });
    expect(waiting.pms).toMatchObject({ status: 'parked', parkedReason: 'after ehr', attempts: 0 });
    await sleep(500);
    expect(wire).toEqual([]);
    expect((await deliveries(id)).pms?.status).toBe('parked');

    await ehr.start();
    await waitFor('both sent', async () => (await store.getMessage(id))?.status === 'delivered' || undefined);
    expect(wire.map((w) => w.peer)).toEqual(['ehr', 'pms']);
    expect(wire[1]?.body).toContain('EHR record 123\r');
    expect((await store.getAttempts(`${id}.pms`)).map((a) => a.outcome)).toEqual(['sent']);
  });

  it('dead-letters the PMS delivery with the reason when the EHR refuses the message, and a replay of the EHR releases it', async () => {
    ehr.status = 422;
    ehr.body = '{"resourceType":"OperationOutcome"}';
    const send = await start();
    const id = await send('SEQ-3');
    const failed = await waitFor('both dead-lettered', async () => {
      const d = await deliveries(id);
      return d.ehr?.status === 'dead_lettered' && d.pms?.status === 'dead_lettered' ? d : undefined;
    });
    expect(failed.pms?.lastError).toBe('dependency ehr failed');
    expect(await store.getAttempts(`${id}.pms`)).toMatchObject([
      { outcome: 'failed', code: 'DEPENDENCY', error: 'dependency ehr failed' },
    ]);
    expect(wire.map((w) => w.peer)).toEqual(['ehr']);
    expect((await store.getMessage(id))?.status).toBe('failed');

    // The EHR takes it now; replaying its dead letter releases the PMS delivery.
    ehr.status = 201;
    ehr.body = '{"id":"456"}';
    await store.requeueDelivery(`${id}.ehr`);
    await engine?.sweep();
    await waitFor('both sent', async () => (await store.getMessage(id))?.status === 'delivered' || undefined);
    expect(wire.map((w) => w.peer)).toEqual(['ehr', 'ehr', 'pms']);
    expect(wire[2]?.body).toContain('EHR record 456\r');
  });

  it('dead-letters the PMS delivery, sending nothing, when a placeholder cannot be resolved', async () => {
    const send = await start('${response.ehr.json.entry.0.response.location}');
    const id = await send('SEQ-4');
    const d = await waitFor('pms dead-lettered', async () => {
      const all = await deliveries(id);
      return all.pms?.status === 'dead_lettered' ? all : undefined;
    });
    expect(d.ehr?.status).toBe('sent');
    expect(d.pms?.lastError).toBe(
      'placeholder ${response.ehr.json.entry.0.response.location}: the response of ehr has no value at entry.0.response.location',
    );
    expect(wire.map((w) => w.peer)).toEqual(['ehr']);
  });

  it('keeps FIFO order of a destination that also waits for another (ordering: channel)', async () => {
    await ehr.stop();
    const send = await start(undefined, 'ordering: channel');
    const first = await send('SEQ-6');
    const second = await send('SEQ-7');
    await waitFor('both pms deliveries parked', async () => {
      const a = await deliveries(first);
      const b = await deliveries(second);
      return (a.pms?.status === 'parked' && b.pms?.status === 'parked') || undefined;
    });
    await sleep(400);
    expect(wire).toEqual([]);
    await ehr.start();
    await waitFor('all sent', async () => {
      const [a, b] = await Promise.all([store.getMessage(first), store.getMessage(second)]);
      return (a?.status === 'delivered' && b?.status === 'delivered') || undefined;
    });
    const toPms = wire.filter((w) => w.peer === 'pms').map((w) => /\|(SEQ-\d)\|/.exec(w.body)?.[1]);
    expect(toPms).toEqual(['SEQ-6', 'SEQ-7']);
    expect(wire.filter((w) => w.peer === 'pms').every((w) => w.body.includes('EHR record 123\r'))).toBe(true);
  });

  it('reads the outcome code of the awaited destination', async () => {
    const send = await start('${response.ehr.code}');
    const id = await send('SEQ-5');
    await waitFor('both sent', async () => (await store.getMessage(id))?.status === 'delivered' || undefined);
    expect(wire[1]?.body).toContain('EHR record HTTP 201\r');
  });
});
