import type Database from 'better-sqlite3';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { builtInRegistries, compileChannelOrThrow } from '@sinew/channels';
import { Hl7Message, readAck } from '@sinew/hl7v2';
import { TransformerLibrary } from '@sinew/mapping';
import { MllpClient } from '@sinew/mllp';
import { MemoryQueueDriver } from '@sinew/queue';
import { openStore, type TypeOrmStore } from '@sinew/store';
import { sleep, waitFor } from '@sinew/test-support/wait';
import { Engine } from './engine';
import { createLogger } from './logger';

const ORU = readFileSync(join(__dirname, '../../../channels/samples/oru-r01.hl7'), 'latin1');
const library = TransformerLibrary.load();
const registries = builtInRegistries(library);

/** Its answer: 64 KiB, kept in the attempt's row, so recording it needs new pages of the database. */
const ANSWER = JSON.stringify({ ok: true, note: 'x'.repeat(64 * 1024) });

/** An HTTP peer that holds its answers while `holding`, and counts every request by control id. */
class Sink {
  readonly requests: string[] = [];
  holding = true;
  private readonly waiting: ServerResponse[] = [];
  private server?: Server;
  port = 0;

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const msh = Buffer.concat(chunks).toString('latin1').split('\r')[0]?.split('|') ?? [];
        this.requests.push(msh[9] ?? '');
        if (this.holding) this.waiting.push(res);
        else this.answer(res);
      });
    });
    await new Promise<void>((r) => this.server?.listen(0, '127.0.0.1', r));
    this.port = (this.server?.address() as AddressInfo).port;
  }

  release(): void {
    this.holding = false;
    for (const res of this.waiting.splice(0)) this.answer(res);
  }

  private answer(res: ServerResponse): void {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(ANSWER);
  }

  count(controlId: string): number {
    return this.requests.filter((r) => r === controlId).length;
  }

  stop(): Promise<void> {
    this.server?.closeAllConnections();
    return new Promise((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}

interface LogLine {
  level: string;
  msg: string;
  [key: string]: unknown;
}

/**
 * Fills the ledger's filesystem: SQLite's `max_page_count` stops the database at its size,
 * and filler rows take the free pages left, so a write that needs a new page fails with
 * SQLITE_FULL exactly as on a full disk. Returns what gives the space back.
 */
function fillDisk(db: Database.Database): () => void {
  db.exec('CREATE TABLE IF NOT EXISTS disk_filler (b BLOB)');
  const pages = db.pragma('page_count', { simple: true }) as number;
  const before = db.pragma('max_page_count', { simple: true }) as number;
  db.pragma(`max_page_count = ${pages}`);
  const insert = db.prepare('INSERT INTO disk_filler (b) VALUES (?)');
  for (const size of [4096, 1024, 256, 64, 16, 1]) {
    for (;;) {
      try {
        insert.run(Buffer.alloc(size));
      } catch (err) {
        if ((err as { code?: string }).code !== 'SQLITE_FULL') throw err;
        break;
      }
    }
  }
  return () => {
    db.pragma(`max_page_count = ${before}`);
  };
}

describe('a full disk under the embedded ledger (real SQLite, real sockets)', () => {
  let dir: string;
  let engine: Engine | undefined;
  let client: MllpClient | undefined;
  const sink = new Sink();
  const lines: LogLine[] = [];

  beforeAll(() => sink.start());
  afterAll(() => sink.stop());
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'sinew-full-disk-'));
  });
  afterEach(async () => {
    await client?.close();
    await engine?.stop(2_000);
    rmSync(dir, { recursive: true, force: true });
  });

  const metric = async (name: string) => {
    const text = await (engine as Engine).metrics.registry.metrics();
    const m = new RegExp(`^${name}\\{channel="lab",destination="pms"\\} (\\d+)$`, 'm').exec(text);
    return Number(m?.[1] ?? 0);
  };

  it('sends nothing again while it cannot record what it sent, then records it: the sink, the ledger and the metrics agree', async () => {
    const store = (await openStore({ dataDir: dir })) as TypeOrmStore;
    const db = (store.dataSource.driver as unknown as { databaseConnection: Database.Database })
      .databaseConnection;
    const channel = compileChannelOrThrow(
      `
id: lab
source: { type: mllp, listen: 0 }
destinations:
  - name: pms
    type: http
    url: http://127.0.0.1:${sink.port}/results
    concurrency: 6
    retry: { attempts: 5, initial_delay_ms: 100, max_delay_ms: 1000, jitter: 0 }
`,
      'lab.yaml',
      registries,
    );
    engine = new Engine({
      channels: [channel],
      store,
      queue: new MemoryQueueDriver(),
      transformers: library,
      logger: createLogger('info', {
        write: (line: string) => {
          lines.push(JSON.parse(line) as LogLine);
        },
      }),
      sweepIntervalMs: 200,
    });
    await engine.start();
    client = new MllpClient({ host: '127.0.0.1', port: engine.source('lab')?.port?.() as number });
    const ids = ['FULL-1', 'FULL-2', 'FULL-3', 'FULL-4', 'FULL-5', 'FULL-6', 'FULL-7'];
    for (const id of ids) {
      const text = ORU.replace('DEMO-ORU-0001', id).replace(/\n/g, '\r');
      const result = await client.send(Hl7Message.parse(text));
      expect(readAck(result.ack as Hl7Message).code).toBe('AA');
    }
    // Six messages on the wire, their answers held, the seventh queued behind them (6 at once):
    // the disk fills meanwhile.
    await waitFor('six messages at the sink', () => sink.requests.length === 6 || undefined);
    await waitFor('every delivery created', async () => {
      const ms = await store.searchMessages({ channelId: 'lab' });
      return (ms.length === ids.length && ms.every((m) => m.status === 'processed')) || undefined;
    });
    const giveSpaceBack = fillDisk(db);
    sink.release();

    // Queue retries, recovery sweeps (every 200 ms) and backoffs pass: nothing is sent again.
    await sleep(4_000);
    expect(sink.requests).toHaveLength(6);
    expect(await metric('sinew_delivery_outcomes_unrecorded_total')).toBe(6);
    const messages = await store.searchMessages({ channelId: 'lab' });
    expect(messages.map((m) => m.status)).toEqual(ids.map(() => 'processed'));
    const held = await engine.readiness();
    expect(held.checks.deliveries).toMatch(
      /^outcomes not recorded since .+ \(SQLITE_FULL\); 6 held, sends wait$/,
    );
    expect(await metric('sinew_delivery_sends_total')).toBe(6);
    expect(await metric('sinew_deliveries_sent_total')).toBe(0);

    giveSpaceBack();
    await waitFor(
      'every message delivered',
      async () => {
        const ms = await store.searchMessages({ channelId: 'lab' });
        return ms.length === ids.length && ms.every((m) => m.status === 'delivered');
      },
      10_000,
    );
    for (const id of ids) expect(sink.count(id)).toBe(1);
    for (const m of messages) {
      const [d] = await store.getDeliveries(m.id);
      const attempts = await store.getAttempts(d?.id as string);
      expect(attempts.map((a) => `${a.outcome} ${a.code}`)).toEqual(['sent HTTP 200']);
      expect(attempts[0]?.response?.length).toBe(ANSWER.length);
    }
    expect(await metric('sinew_delivery_sends_total')).toBe(sink.requests.length);
    expect(await metric('sinew_deliveries_sent_total')).toBe(7);
    expect(await metric('sinew_delivery_outcomes_unrecorded_total')).toBe(6);
    expect((await engine.readiness()).checks.deliveries).toBe('ok');

    const failing = lines.filter((l) => l.msg.startsWith('the ledger cannot record delivery outcomes'));
    const again = lines.filter((l) => l.msg.startsWith('the ledger records delivery outcomes again'));
    expect(failing).toHaveLength(1);
    expect(failing[0]).toMatchObject({ level: 'warn', code: 'SQLITE_FULL' });
    expect(again).toHaveLength(1);
    expect(again[0]).toMatchObject({ level: 'warn', unrecorded: 6 });
  }, 30_000);
});
