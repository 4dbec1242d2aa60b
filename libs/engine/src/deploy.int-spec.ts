import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { Writable } from 'node:stream';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { builtInRegistries, compileChannelOrThrow, type CompiledChannel } from '@sinew/channels';
import { Hl7Message, readAck } from '@sinew/hl7v2';
import { TransformerLibrary } from '@sinew/mapping';
import { MllpClient } from '@sinew/mllp';
import { createQueueDriver, MemoryQueueDriver, type QueueDriver } from '@sinew/queue';
import { openStore, type MessageRecord, type Store } from '@sinew/store';
import { flushPrefix, redisUrl, uniquePrefix } from '@sinew/test-support/redis';
import { waitFor } from '@sinew/test-support/wait';
import { Engine, type Role } from './engine';
import { createLogger } from './logger';

const library = TransformerLibrary.load();
const registries = builtInRegistries(library);

const ORU = readFileSync(join(__dirname, '../../../channels/samples/oru-r01.hl7'), 'latin1');
const oru = (id: string, mrn = `MRN-${id}`) =>
  ORU.replace('DEMO-ORU-0001', id).replace('MRN-000123', mrn).replace(/\r?\n/g, '\r').trim();

/**
 * The in-process queue, with pipeline jobs held back while `holding`: what a busy pipeline
 * (or workers that have not taken the job yet) looks like. Everything else passes through.
 */
class HeldPipelines implements QueueDriver {
  readonly kind = 'memory' as const;
  holding = true;
  private readonly held: Array<() => Promise<void>> = [];
  /** The queue each pipeline job went to, by job id. */
  readonly queueOf = new Map<string, string>();
  constructor(private readonly inner: QueueDriver = new MemoryQueueDriver()) {}
  enqueue<T>(queue: string, jobId: string, data: T, options?: { delayMs?: number }): Promise<void> {
    if (queue.startsWith('pipeline.')) this.queueOf.set(jobId, queue);
    if (this.holding && queue.startsWith('pipeline.')) {
      this.held.push(() => this.inner.enqueue(queue, jobId, data, options));
      return Promise.resolve();
    }
    return this.inner.enqueue(queue, jobId, data, options);
  }
  async release(): Promise<void> {
    this.holding = false;
    for (const job of this.held.splice(0)) await job();
  }
  consume: QueueDriver['consume'] = (q, h, o) => this.inner.consume(q, h, o);
  stats: QueueDriver['stats'] = (q) => this.inner.stats(q);
  ping: QueueDriver['ping'] = () => this.inner.ping();
  close: QueueDriver['close'] = (o) => this.inner.close(o);
}

jest.setTimeout(20_000);

describe('live deploy: messages finish on the version that received them', () => {
  let dir: string;
  const engines: Engine[] = [];
  const cleanups: Array<() => Promise<void>> = [];
  /** The engines' log lines (JSON), as operators read them. */
  let logs: Array<{ msg: string; channel?: string; destination?: string }> = [];
  const logger = createLogger(
    'info',
    new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const line of chunk.toString('utf8').split('\n'))
          if (line) logs.push(JSON.parse(line) as (typeof logs)[number]);
        done();
      },
    }),
  );
  const clients: MllpClient[] = [];

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'sinew-deploy-int-'));
    logs = [];
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) await c.close();
    for (const e of engines.splice(0)) await e.stop(2_000);
    for (const c of cleanups.splice(0)) await c();
    rmSync(dir, { recursive: true, force: true });
  });

  const compile = (yaml: string): CompiledChannel =>
    compileChannelOrThrow(yaml.replace(/OUT/g, dir), 'lab.yaml', registries);

  /** v1 maps to FHIR and archives; v2 forwards the HL7 as received and has no archive. */
  const v1 = (extra = '') => `id: lab
source: { type: mllp, listen: 0 }
pipeline:
  - map: { transformer: oru-to-fhir }
destinations:
  - name: out
    type: file
    directory: OUT/out
    retry: { attempts: 3, initial_delay_ms: 50 }
${extra}  - name: archive
    type: file
    directory: OUT/archive
    payload: raw
    retry: { attempts: 3, initial_delay_ms: 50 }
`;
  const v2 = (extra = '') => `id: lab
source: { type: mllp, listen: 0 }
keys: { mrn: PID-3.1 }
pipeline:
  - filter: { path: MSH-9.1, equals: ORU }
destinations:
  - name: out
    type: file
    directory: OUT/out
    retry: { attempts: 3, initial_delay_ms: 50 }
${extra}`;

  async function start(
    channel: CompiledChannel,
    store: Store,
    queue: QueueDriver,
    roles?: Role[],
  ): Promise<{ engine: Engine; send: (text: string) => Promise<string> }> {
    const engine = new Engine({
      channels: [channel],
      store,
      queue,
      transformers: library,
      logger,
      sweepIntervalMs: 200,
      ...(roles ? { roles } : {}),
    });
    engines.push(engine);
    await engine.start();
    const port = engine.source('lab')?.port?.();
    let client: MllpClient | undefined;
    return {
      engine,
      send: async (text) => {
        if (!client) {
          client = new MllpClient({
            host: '127.0.0.1',
            port: engine.source('lab')?.port?.() ?? (port as number),
          });
          clients.push(client);
        }
        const r = await client.send(Hl7Message.parse(text));
        if (!r.ack) throw new Error(`no ACK: ${r.status}`);
        return readAck(r.ack).code;
      },
    };
  }

  async function finished(store: Store, controlId: string): Promise<MessageRecord> {
    let last: MessageRecord | undefined;
    return waitFor(
      `${controlId} delivered`,
      async () => {
        const [m] = await store.searchMessages({ channelId: 'lab', controlId });
        last = m;
        return m?.status === 'delivered' ? m : undefined;
      },
      4_000,
    ).catch((err: Error) => {
      throw new Error(`${err.message}: ${JSON.stringify(last)}`);
    });
  }

  async function payloads(store: Store, m: MessageRecord): Promise<Record<string, string>> {
    const out: Record<string, string> = {};
    for (const d of await store.getDeliveries(m.id)) {
      out[d.destination] = (await store.getDeliveryPayload(d.id))?.body.toString('utf8') ?? '';
    }
    return out;
  }

  it('runs a message held before a redeploy on its own version, and delivers to a destination the new version removed', async () => {
    const store = await openStore({ dataDir: join(dir, 'data') });
    const queue = new HeldPipelines();
    const { engine, send } = await start(compile(v1()), store, queue);
    expect(await send(oru('OLD-1'))).toBe('AA');
    const [held] = await store.searchMessages({ channelId: 'lab', controlId: 'OLD-1' });
    expect(held).toMatchObject({ status: 'received', channelVersion: 1 });

    const report = await engine.deploy([compile(v2())], 'test');
    expect(report.changed).toEqual(['lab']);
    expect(engine.channelVersion('lab')).toBe(2);
    expect(await send(oru('NEW-1'))).toBe('AA');
    await queue.release();

    const old = await finished(store, 'OLD-1');
    const fresh = await finished(store, 'NEW-1');
    expect(old.channelVersion).toBe(1);
    expect(fresh.channelVersion).toBe(2);
    // v1 mapped to a FHIR Bundle and archived the HL7; v2 sends the HL7 on, to `out` only.
    const oldOut = await payloads(store, old);
    expect(Object.keys(oldOut).sort()).toEqual(['archive', 'out']);
    expect(JSON.parse(oldOut.out as string)).toMatchObject({ resourceType: 'Bundle' });
    expect(oldOut.archive).toMatch(/^MSH\|.*\|OLD-1\|/);
    const newOut = await payloads(store, fresh);
    expect(Object.keys(newOut)).toEqual(['out']);
    expect(newOut.out).toMatch(/^MSH\|/);
    // The removed destination wrote the held message's file with v1's settings.
    const archived = readdirSync(join(dir, 'archive'));
    expect(archived).toHaveLength(1);
    expect(readFileSync(join(dir, 'archive', archived[0] as string), 'latin1')).toContain('OLD-1');
    expect(readdirSync(join(dir, 'out'))).toHaveLength(2);
    // The removed destination said what it did, and closed once it had nothing more to send.
    const said = (msg: string) => logs.some((l) => l.msg.startsWith(msg) && l.destination === 'archive');
    expect(said('a destination the deployed version removed delivers')).toBe(true);
    await waitFor('the former destination closed', () => said('a removed destination has nothing more'));
  });

  it('compiles an earlier version from the deployment history when another process received the message', async () => {
    const store = await openStore({ dataDir: join(dir, 'data') });
    // A sources-only process: it commits and acknowledges, no pipeline runs here.
    const sources = await start(compile(v1()), store, new MemoryQueueDriver(), ['sources']);
    expect(await sources.send(oru('OLD-2'))).toBe('AA');
    await sources.engine.deploy([compile(v2())], 'test');
    expect(await sources.send(oru('NEW-2'))).toBe('AA');

    // A workers process started with v2 only finds OLD-2 (received on v1) in the ledger.
    await start(compile(v2()), store, new MemoryQueueDriver(), ['workers', 'scheduler']);
    const old = await finished(store, 'OLD-2');
    const fresh = await finished(store, 'NEW-2');
    expect([old.channelVersion, fresh.channelVersion]).toEqual([1, 2]);
    expect(JSON.parse((await payloads(store, old)).out as string)).toMatchObject({ resourceType: 'Bundle' });
    expect((await payloads(store, fresh)).out).toMatch(/^MSH\|/);
    expect(readdirSync(join(dir, 'archive'))).toHaveLength(1);
  });

  it.each(['memory', 'bullmq'])(
    'switches a channel between unordered and ordered without a restart (%s queue): queued messages keep their mode, new ones follow the new one',
    async (kind) => {
      const store = await openStore({ dataDir: join(dir, 'data') });
      const redis = kind === 'bullmq' ? { url: await redisUrl(), prefix: uniquePrefix('deploy') } : undefined;
      if (redis) cleanups.push(() => flushPrefix(redis.url, redis.prefix).then(() => undefined));
      const queue = new HeldPipelines(
        redis ? createQueueDriver({ redisUrl: redis.url, prefix: redis.prefix }) : new MemoryQueueDriver(),
      );
      queue.holding = false;
      const unordered = compile(v2());
      const ordered = compile(v2().replace('    retry:', '    ordering: PID-3.1\n    retry:'));
      const { engine, send } = await start(unordered, store, queue);
      expect(await send(oru('U-1', 'MRN-1'))).toBe('AA');
      await finished(store, 'U-1');

      // Held in `received` across the switch to ordered.
      queue.holding = true;
      expect(await send(oru('U-2', 'MRN-1'))).toBe('AA');
      await engine.deploy([ordered], 'test');
      const after: string[] = [];
      for (let i = 1; i <= 6; i++) {
        const id = `O-${i}`;
        after.push(id);
        expect(await send(oru(id, `MRN-${i % 2}`))).toBe('AA');
      }
      await queue.release();
      const keyOf = async (controlId: string) => {
        const m = await finished(store, controlId);
        return [m.channelVersion, (await store.getDeliveries(m.id))[0]?.orderKey];
      };
      expect(await keyOf('U-2')).toEqual([1, undefined]);
      for (const [i, id] of after.entries()) expect(await keyOf(id)).toEqual([2, `MRN-${(i + 1) % 2}`]);
      // The new version's pipeline ran on the ordered queue; per patient, sends follow receipt order.
      const rows = (await store.searchMessages({ channelId: 'lab', limit: 100 })).reverse();
      for (const m of rows.filter((r) => r.controlId?.startsWith('O-')))
        expect(queue.queueOf.get(`p.${m.id}`)).toBe('pipeline.lab.ordered');
      for (const key of ['MRN-0', 'MRN-1']) {
        const sentAt: number[] = [];
        for (const m of rows.filter((r) => r.controlId?.startsWith('O-') && r.keys.mrn === key)) {
          const [d] = await store.getDeliveries(m.id);
          const [a] = await store.getAttempts(d?.id as string);
          sentAt.push(a?.finishedAt.getTime() ?? 0);
        }
        expect(sentAt).toEqual([...sentAt].sort((x, y) => x - y));
      }

      // And back to unordered, still without a restart.
      await engine.deploy([compile(v2().replace('OUT/out', 'OUT/out2'))], 'test');
      expect(await send(oru('U-3', 'MRN-1'))).toBe('AA');
      expect(await keyOf('U-3')).toEqual([3, undefined]);
      expect(readdirSync(join(dir, 'out2'))).toHaveLength(1);
    },
  );

  it('reprocesses a message on the version deployed now, not the one that received it', async () => {
    const store = await openStore({ dataDir: join(dir, 'data') });
    const rejecting = compile(v2().replace('equals: ORU', 'equals: ADT'));
    const { engine, send } = await start(rejecting, store, new MemoryQueueDriver());
    expect(await send(oru('R-1'))).toBe('AA');
    const filtered = await waitFor('filtered', async () => {
      const [m] = await store.searchMessages({ channelId: 'lab', controlId: 'R-1' });
      return m?.status === 'filtered' ? m : undefined;
    });
    expect(filtered.channelVersion).toBe(1);
    await engine.deploy([compile(v2())], 'test');
    expect(await store.reprocessMessages([filtered.id])).toEqual([filtered.id]);
    const again = await finished(store, 'R-1');
    expect(again.channelVersion).toBe(2);
  });
});
