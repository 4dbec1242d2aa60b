/**
 * Message search benchmark: `node bench/run.mjs search [--messages 1000000] [--patients 200000]
 * [--queries 500] [--backend sqlite|postgres|both]`.
 *
 * Fills a ledger with `--messages` ORU^R01 messages over `--patients` patients (each with its
 * business key `mrn`, its control id and a short raw body) through the store's own
 * `insertMessages` (1,000 per transaction), then times the searches the admin API runs:
 *   - by MRN (`key=mrn:…`, newest 50), the operator's "find this patient";
 *   - by free text (`q=…`, an MRN given without its key's name: the console's search field);
 *   - by control id (`control_id=…`), "find the lab's message";
 *   - by channel and status (`status=failed`, newest 50), a dead-letter view;
 *   - the second page of an MRN search (keyset cursor).
 * `--queries` random searches of each kind; p50, p95 and p99 in ms, and the query plan of each
 * (EXPLAIN), which must name an index. PostgreSQL: DATABASE_URL, else the local server, in a
 * schema of its own, dropped at the end. Target: p95 under 20 ms on both backends.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore, type MessageSearch, type NewMessage, type Store } from '@sinew/store';
import { withTestSchema } from '../../test/support/postgres';

const TARGET_P95_MS = 20;

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}
const MESSAGES = Number(arg('messages', '1000000'));
const PATIENTS = Number(arg('patients', '200000'));
const QUERIES = Number(arg('queries', '500'));
const BACKEND = arg('backend', 'both');
const BATCH = 1_000;
const START = Date.parse('2026-01-01T00:00:00Z');

/** A deterministic generator (mulberry32), so both backends hold the same data. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const mrn = (p: number) => `MRN${String(p).padStart(7, '0')}`;
const controlId = (i: number) => `LAB${String(i).padStart(9, '0')}`;

function message(i: number, rand: () => number): NewMessage {
  const patient = Math.floor(rand() * PATIENTS);
  const id = controlId(i);
  return {
    id: randomUUID(),
    channelId: i % 10 === 0 ? 'adt' : 'lab-results',
    // About 30 s apart: a million messages cover the best part of a year.
    receivedAt: new Date(START + i * 30_000),
    source: 'mllp',
    sender: 'LAB|NORTH',
    messageType: 'ORU^R01',
    controlId: id,
    contentType: 'hl7v2',
    raw: Buffer.from(
      `MSH|^~\\&|LAB|NORTH|EHR|CLINIC|20260101||ORU^R01|${id}|P|2.5.1\rPID|1||${mrn(patient)}^^^NORTH^MR||DOE^PAT\r`,
    ),
    keys: { mrn: mrn(patient) },
  };
}

async function fill(store: Store): Promise<number> {
  const rand = random(42);
  const started = Date.now();
  for (let i = 0; i < MESSAGES; i += BATCH) {
    const batch: NewMessage[] = [];
    for (let j = i; j < Math.min(MESSAGES, i + BATCH); j++) batch.push(message(j, rand));
    const inserted = await store.insertMessages(batch);
    // Every 50th message of the lab channel failed (a dead-letter view has something to show).
    for (const [k, m] of batch.entries()) {
      if ((i + k) % 50 === 1)
        await store.completePipeline(inserted[k]!.id, { status: 'errored', issues: [], deliveries: [] });
      void m;
    }
    if ((i / BATCH) % 100 === 0 && i > 0)
      process.stderr.write(
        `  ${i.toLocaleString('en')} messages, ${((Date.now() - started) / 1000).toFixed(0)} s\n`,
      );
  }
  return Date.now() - started;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

async function time(store: Store, make: (rand: () => number) => Promise<MessageSearch>): Promise<number[]> {
  const rand = random(7);
  const out: number[] = [];
  for (let q = 0; q < QUERIES; q++) {
    const search = await make(rand);
    const t0 = process.hrtime.bigint();
    await store.searchMessages(search);
    out.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return out.sort((a, b) => a - b);
}

async function plan(store: Store, sql: string): Promise<string> {
  const explain = store.kind === 'sqlite' ? `EXPLAIN QUERY PLAN ${sql}` : `EXPLAIN ${sql}`;
  const rows = (await (
    store as unknown as { dataSource: { query(q: string): Promise<unknown[]> } }
  ).dataSource.query(explain)) as Array<Record<string, unknown>>;
  const lines = rows.map((r) => String(r.detail ?? r['QUERY PLAN'] ?? JSON.stringify(r)));
  if (store.kind === 'sqlite') return lines.join(' / ');
  // PostgreSQL: the index each scan uses (a plan without one is a sequential scan).
  const used = lines.flatMap((l) => [
    ...l.matchAll(/(Index Only Scan|Index Scan|Bitmap Index Scan)(?: Backward)? (?:using|on) (\w+)/g),
  ]);
  const seq = lines.some((l) => /Seq Scan/.test(l));
  return [...used.map((m) => `${m[1]} ${m[2]}`), ...(seq ? ['Seq Scan'] : [])].join(' / ');
}

interface Row {
  backend: string;
  search: string;
  p50: number;
  p95: number;
  p99: number;
  plan: string;
}

async function run(backend: 'sqlite' | 'postgres'): Promise<Row[]> {
  let store: Store;
  let cleanup: () => Promise<void>;
  if (backend === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'sinew-search-'));
    store = await openStore({ dataDir: dir });
    cleanup = async () => {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    };
  } else {
    const schema = await withTestSchema();
    store = await openStore({ databaseUrl: schema.url, schema: schema.schema });
    cleanup = async () => {
      await store.close();
      await schema.drop();
    };
  }
  try {
    process.stderr.write(`${backend}: filling ${MESSAGES.toLocaleString('en')} messages…\n`);
    const fillMs = await fill(store);
    process.stderr.write(`${backend}: filled in ${(fillMs / 1000).toFixed(0)} s\n`);
    if (backend === 'postgres')
      await (store as unknown as { dataSource: { query(q: string): Promise<unknown> } }).dataSource.query(
        'ANALYZE',
      );
    const page1 = await store.searchMessages({ key: { name: 'mrn', value: mrn(1) }, limit: 1 });
    const cursor = page1[0] ? { receivedAt: page1[0].receivedAt, seq: page1[0].seq } : undefined;
    const kinds: Array<[string, (rand: () => number) => Promise<MessageSearch>, string]> = [
      [
        'by MRN (newest 50)',
        async (rand) => ({ key: { name: 'mrn', value: mrn(Math.floor(rand() * PATIENTS)) }, limit: 51 }),
        `SELECT m.id FROM message_key k JOIN message m ON m.id = k.message_id WHERE k.name = 'mrn' AND k.value = '${mrn(1)}' ORDER BY m.received_at DESC, m.seq DESC LIMIT 51`,
      ],
      [
        'free text (q) = an MRN (newest 50)',
        async (rand) => ({ text: mrn(Math.floor(rand() * PATIENTS)), limit: 51 }),
        `SELECT m.id FROM (SELECT id FROM message WHERE id = '${mrn(1)}' UNION SELECT id FROM message WHERE control_id = '${mrn(1)}' UNION SELECT message_id FROM message_key WHERE value = '${mrn(1)}') t CROSS JOIN message m WHERE m.id = t.id ORDER BY m.received_at DESC, m.seq DESC LIMIT 51`,
      ],
      [
        'by control id',
        async (rand) => ({ controlId: controlId(Math.floor(rand() * MESSAGES)), limit: 51 }),
        `SELECT id FROM message m WHERE m.control_id = '${controlId(5)}' ORDER BY m.received_at DESC, m.seq DESC LIMIT 51`,
      ],
      [
        'channel + status=errored (newest 50)',
        async () => ({ channelId: 'lab-results', status: 'errored', limit: 51 }),
        "SELECT id FROM message m WHERE m.channel_id = 'lab-results' AND m.status = 'errored' AND m.status IN ('rejected', 'errored', 'failed') ORDER BY m.received_at DESC, m.seq DESC LIMIT 51",
      ],
      [
        'by MRN, next page (cursor)',
        async (rand) => ({
          key: { name: 'mrn', value: mrn(Math.floor(rand() * PATIENTS)) },
          limit: 51,
          ...(cursor ? { after: cursor } : {}),
        }),
        `SELECT m.id FROM message_key k JOIN message m ON m.id = k.message_id WHERE k.name = 'mrn' AND k.value = '${mrn(1)}' AND (m.received_at < '2026-06-01' OR (m.received_at = '2026-06-01' AND m.seq < 5)) ORDER BY m.received_at DESC, m.seq DESC LIMIT 51`,
      ],
    ];
    const rows: Row[] = [];
    for (const [name, make, sql] of kinds) {
      await time(store, make); // warm-up
      const ms = await time(store, make);
      rows.push({
        backend,
        search: name,
        p50: percentile(ms, 50),
        p95: percentile(ms, 95),
        p99: percentile(ms, 99),
        plan: await plan(store, sql),
      });
    }
    return rows;
  } finally {
    await cleanup();
  }
}

async function main(): Promise<void> {
  const backends: Array<'sqlite' | 'postgres'> =
    BACKEND === 'both' ? ['sqlite', 'postgres'] : [BACKEND as 'sqlite' | 'postgres'];
  console.log(
    `search benchmark: ${MESSAGES.toLocaleString('en')} messages, ${PATIENTS.toLocaleString('en')} patients, ` +
      `${QUERIES} queries per search; ${cpus().length} × ${cpus()[0]?.model ?? 'CPU'}, load ${loadavg()[0]?.toFixed(1)}`,
  );
  const rows: Row[] = [];
  for (const b of backends) rows.push(...(await run(b)));
  console.log(
    '\n| backend | search | p50 ms | p95 ms | p99 ms | plan |\n| --- | --- | ---: | ---: | ---: | --- |',
  );
  for (const r of rows)
    console.log(
      `| ${r.backend} | ${r.search} | ${r.p50.toFixed(2)} | ${r.p95.toFixed(2)} | ${r.p99.toFixed(2)} | ${r.plan.replace(/\|/g, '/').slice(0, 160)} |`,
    );
  const missed = rows.filter((r) => r.p95 >= TARGET_P95_MS);
  if (missed.length > 0) {
    console.log(
      `\ntarget missed (p95 < ${TARGET_P95_MS} ms): ${missed.map((r) => `${r.backend} ${r.search}`).join(', ')}`,
    );
    process.exitCode = 1;
  } else console.log(`\nevery p95 under ${TARGET_P95_MS} ms`);
}

void main();
