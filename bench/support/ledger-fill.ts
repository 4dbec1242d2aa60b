/**
 * Filling a ledger for benchmarks through the store's own methods: `count` messages spread
 * evenly over [start, end), on the channels given (the first takes ten shares, each other one),
 * each for one of `patients` patients (business key `mrn`), with its ACK latency; every 50th
 * errored, the others processed with one delivery to `ehr` sent 20–420 ms after receipt.
 */
import { randomUUID } from 'node:crypto';
import type { NewMessage, Store } from '@sinew/store';

export interface FillOptions {
  count: number;
  patients: number;
  start: number;
  end: number;
  channels: readonly string[];
  /** Progress lines on stderr every this many messages (default 20,000). */
  progressEvery?: number;
}

/** A deterministic generator (mulberry32), so every run and backend holds the same data. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const benchMrn = (p: number): string => `MRN${String(p).padStart(7, '0')}`;
export const benchControlId = (i: number): string => `LAB${String(i).padStart(9, '0')}`;

const BATCH = 1_000;

/** The channel of message `i`: the first channel ten times as often as each other one. */
function channelOf(channels: readonly string[], i: number): string {
  const shares = 10 + (channels.length - 1);
  const slot = i % shares;
  return slot < 10 ? channels[0]! : channels[slot - 9]!;
}

/** Fills the store; resolves with the milliseconds it took. */
export async function fillLedger(store: Store, o: FillOptions): Promise<number> {
  const started = Date.now();
  const rand = seeded(42);
  const step = (o.end - o.start) / o.count;
  const every = o.progressEvery ?? 20_000;
  for (let i = 0; i < o.count; i += BATCH) {
    const batch: NewMessage[] = [];
    for (let j = i; j < Math.min(o.count, i + BATCH); j++) {
      const id = benchControlId(j);
      const mrn = benchMrn(Math.floor(rand() * o.patients));
      batch.push({
        id: randomUUID(),
        channelId: channelOf(o.channels, j),
        receivedAt: new Date(o.start + Math.floor(j * step)),
        source: 'mllp',
        sender: 'LAB|NORTH',
        messageType: 'ORU^R01',
        controlId: id,
        contentType: 'hl7v2',
        raw: Buffer.from(
          `MSH|^~\\&|LAB|NORTH|EHR|CLINIC|20260101||ORU^R01|${id}|P|2.5.1\rPID|1||${mrn}^^^NORTH^MR||DOE^PAT\r`,
        ),
        keys: { mrn },
        ackLatencyUs: 500 + ((j * 7919) % 20_000),
      });
    }
    const inserted = await store.insertMessages(batch);
    // The pipeline and the delivery of each, many at once (as the engine's workers do).
    await Promise.all(
      inserted.map(async (m, k) => {
        const received = batch[k]!.receivedAt.getTime();
        if ((i + k) % 50 === 1) {
          await store.completePipeline(m.id, { status: 'errored', issues: [], deliveries: [] });
          return;
        }
        await store.completePipeline(m.id, {
          status: 'processed',
          issues: [],
          deliveries: [{ destination: 'ehr', payload: Buffer.from('x'), payloadType: 'hl7v2' }],
        });
        const done = received + 20 + ((i + k) % 400);
        await store.recordAttempt(
          `${m.id}.ehr`,
          { number: 1, startedAt: new Date(done - 10), finishedAt: new Date(done), outcome: 'sent' },
          { status: 'sent' },
        );
      }),
    );
    if (i > 0 && i % every === 0)
      process.stderr.write(
        `  ${i.toLocaleString('en')} messages, ${((Date.now() - started) / 1000).toFixed(0)} s\n`,
      );
  }
  return Date.now() - started;
}
