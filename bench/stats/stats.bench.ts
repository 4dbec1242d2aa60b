/**
 * Channel statistics benchmark: `node bench/run.mjs stats [--messages 200000] [--runs 10]
 * [--backend sqlite|postgres|both]`.
 *
 * Fills a ledger with `--messages` messages of one channel spread over the last 7 days (each
 * with its ACK latency, a delivery and a sent attempt; every 50th errored instead; a tenth as
 * many again on a second channel), through the store's own methods (bench/support/ledger-fill.ts), then times
 * `channelStats` over the 7 days, as `GET /api/v1/channels/{id}/stats` runs it: hourly counts,
 * the queue, and ACK and end-to-end latency percentiles. Prints the median and the slowest of
 * `--runs`, and the query plan of the hourly count (which must use message_channel_received_idx
 * on SQLite). PostgreSQL: DATABASE_URL, else the local server, in a schema of its own, dropped
 * at the end.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore, type Store } from '@sinew/store';
import { withTestSchema } from '../../test/support/postgres';
import { fillLedger } from '../support/ledger-fill';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}
const MESSAGES = Number(arg('messages', '200000'));
const RUNS = Number(arg('runs', '10'));
const BACKEND = arg('backend', 'both');
const WEEK = 7 * 24 * 3600_000;
const NOW = Date.now();
const START = NOW - WEEK;

/** `--messages` on the measured channel, and a tenth as many on another. */
const TOTAL = Math.round((MESSAGES * 11) / 10);

function fill(store: Store): Promise<number> {
  return fillLedger(store, {
    count: TOTAL,
    patients: 50_000,
    start: START,
    end: NOW,
    channels: ['lab-results', 'adt'],
  });
}

async function plan(store: Store): Promise<string> {
  const ds = (store as unknown as { dataSource: { query(q: string, p?: unknown[]): Promise<unknown[]> } })
    .dataSource;
  const sql =
    store.kind === 'sqlite'
      ? `EXPLAIN QUERY PLAN SELECT (m.received_at / 3600000) * 3600000 AS h, m.status, count(*) FROM message m WHERE m.channel_id = 'lab-results' AND m.received_at >= ${START} AND m.received_at < ${NOW} GROUP BY 1, 2`
      : `EXPLAIN SELECT date_trunc('hour', m.received_at AT TIME ZONE 'UTC') AS h, m.status, count(*) FROM message m WHERE m.channel_id = 'lab-results' AND m.received_at >= to_timestamp(${START / 1000}) AND m.received_at < to_timestamp(${NOW / 1000}) GROUP BY 1, 2`;
  const rows = (await ds.query(sql)) as Array<Record<string, unknown>>;
  const lines = rows.map((r) => String(r.detail ?? r['QUERY PLAN'] ?? JSON.stringify(r)));
  return store.kind === 'sqlite'
    ? lines.join(' / ')
    : lines
        .filter((l) => /Scan/.test(l))
        .map((l) => l.trim().replace(/\s+\(cost.*$/, ''))
        .join(' / ');
}

interface Row {
  backend: string;
  messages: number;
  fill_s: number;
  median_ms: number;
  max_ms: number;
  received: number;
  plan: string;
}

async function run(backend: 'sqlite' | 'postgres'): Promise<Row> {
  let store: Store;
  let cleanup: () => Promise<void>;
  if (backend === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'sinew-stats-'));
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
    if (backend === 'postgres')
      await (store as unknown as { dataSource: { query(q: string): Promise<unknown> } }).dataSource.query(
        'ANALYZE',
      );
    const since = new Date(START);
    const until = new Date(NOW + 1);
    const first = await store.channelStats('lab-results', since, until); // warm-up
    const ms: number[] = [];
    for (let r = 0; r < RUNS; r++) {
      const t0 = process.hrtime.bigint();
      await store.channelStats('lab-results', since, until);
      ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    ms.sort((a, b) => a - b);
    return {
      backend,
      messages: MESSAGES,
      fill_s: Math.round(fillMs / 1000),
      median_ms: Math.round(ms[Math.floor(ms.length / 2)]!),
      max_ms: Math.round(ms[ms.length - 1]!),
      received: first.hours.reduce((a, h) => a + h.received, 0),
      plan: await plan(store),
    };
  } finally {
    await cleanup();
  }
}

async function main(): Promise<void> {
  const rows: Row[] = [];
  if (BACKEND === 'sqlite' || BACKEND === 'both') rows.push(await run('sqlite'));
  if (BACKEND === 'postgres' || BACKEND === 'both') rows.push(await run('postgres'));
  process.stdout.write(
    `channel statistics over 7 days (${cpus().length} CPUs, load ${loadavg()[0]!.toFixed(1)}):\n`,
  );
  for (const r of rows) process.stdout.write(`${JSON.stringify(r)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
