import Redis from 'ioredis';
import { flushPrefix, redisUrl, uniquePrefix } from '@sinew/test-support/redis';
import { sleep, waitFor } from '@sinew/test-support/wait';
import { BullMqQueueDriver, type BullMqQueueDriverOptions } from './bullmq-driver';
import { queueConformanceSuite } from './conformance';
import type { Job } from './driver';

const prefix = uniquePrefix('queue');
let url: string;

beforeAll(async () => {
  url = await redisUrl();
});

afterAll(async () => {
  await flushPrefix(url, prefix);
});

queueConformanceSuite(
  'BullMqQueueDriver',
  async () => new BullMqQueueDriver({ url, prefix, stalledIntervalMs: 300, lockDurationMs: 1000 }),
  { recoveryTimeoutMs: 8000 },
);

/** Keys of the queue's jobs (`<prefix>:<queue>:<job id>…`), without BullMQ's own bookkeeping. */
async function jobKeys(queue: string): Promise<string[]> {
  const client = new Redis(url);
  try {
    const keys = await client.keys(`${prefix}:${queue}:*`);
    const bookkeeping =
      /:(meta|events|id|stalled-check|marker|wait|active|delayed|paused|completed|failed|prioritized|pc|stalled|limiter|waiting-children)$/;
    return keys.filter((k) => !bookkeeping.test(k)).sort();
  } finally {
    client.disconnect();
  }
}

describe('BullMqQueueDriver on Redis', () => {
  const drivers: BullMqQueueDriver[] = [];
  let n = 0;
  const queueName = (tag: string) => `bull-${tag}-${++n}`;
  const driver = (options: Partial<BullMqQueueDriverOptions> = {}) => {
    const d = new BullMqQueueDriver({
      url,
      prefix,
      stalledIntervalMs: 300,
      lockDurationMs: 1000,
      ...options,
    });
    drivers.push(d);
    return d;
  };

  afterEach(async () => {
    await Promise.all(drivers.splice(0).map((d) => d.close({ timeoutMs: 1000 })));
  });

  it('FIFO holds across two processes consuming the same queue: one job at a time, in order', async () => {
    const queue = queueName('fifo-2');
    const a = driver();
    const b = driver();
    const order: number[] = [];
    let active = 0;
    let maxActive = 0;
    const handler = (_who: string) => async (job: Job<number>) => {
      active++;
      maxActive = Math.max(maxActive, active);
      await sleep(job.data % 5 === 0 ? 5 : 1);
      order.push(job.data);
      active--;
    };
    for (let i = 0; i < 40; i++) await a.enqueue(queue, `m${i}`, i);
    await a.consume(queue, handler('a'), { fifo: true });
    await b.consume(queue, handler('b'), { fifo: true });
    for (let i = 40; i < 80; i++) await b.enqueue(queue, `m${i}`, i);
    await waitFor('80 jobs', () => order.length === 80, 15_000);
    expect(order).toEqual(Array.from({ length: 80 }, (_, i) => i));
    expect(maxActive).toBe(1);
  });

  it('FIFO: a job backing off when its driver closes goes back to the head, keeping its attempt count', async () => {
    const queue = queueName('fifo-close');
    const first = driver();
    const attemptsSeen: string[] = [];
    await first.consume(
      queue,
      async (job: Job<number>) => {
        attemptsSeen.push(`${job.data}#${job.attempt}`);
        if (job.data === 1) throw new Error('peer down');
      },
      { fifo: true, attempts: 5, backoff: { initialDelayMs: 30_000 } },
    );
    for (let i = 0; i < 4; i++) await first.enqueue(queue, `m${i}`, i);
    await waitFor('the first failure', () => attemptsSeen.includes('1#1'));
    await sleep(50);
    const t0 = Date.now();
    await first.close({ timeoutMs: 5000 });
    expect(Date.now() - t0).toBeLessThan(2000);

    const second = driver();
    const order: string[] = [];
    await second.consume(
      queue,
      async (job: Job<number>) => {
        order.push(`${job.data}#${job.attempt}`);
      },
      { fifo: true, attempts: 5 },
    );
    await waitFor('the rest of the queue', () => order.length === 3);
    expect(attemptsSeen).toEqual(['0#1', '1#1']);
    expect(order).toEqual(['1#2', '2#1', '3#1']);
  });

  it('gives up a job that dying workers abandoned more than maxStalledCount times', async () => {
    const queue = queueName('stalled');
    const opts = { stalledIntervalMs: 200, lockDurationMs: 500, maxStalledCount: 1 };
    let crashes = 0;
    for (let i = 0; i < 2; i++) {
      const doomed = driver(opts);
      let started = false;
      await doomed.consume(queue, async () => {
        started = true;
        crashes++;
        await new Promise(() => undefined);
      });
      if (i === 0) await doomed.enqueue(queue, 'poison', { n: 1 });
      await waitFor('the job to start', () => started, 8000);
      await doomed.close({ timeoutMs: 0 });
    }
    const survivor = driver(opts);
    const exhausted: Array<{ job: Job; error: string }> = [];
    let ran = false;
    await survivor.consume(
      queue,
      async () => {
        ran = true;
      },
      { onExhausted: (job, error) => void exhausted.push({ job, error }) },
    );
    await waitFor('onExhausted', () => exhausted.length === 1, 8000);
    expect(crashes).toBe(2);
    expect(ran).toBe(false);
    expect(exhausted[0]).toMatchObject({ job: { id: 'poison', queue, data: { n: 1 } } });
    expect(exhausted[0]?.error).toMatch(/stalled/);
    expect(await jobKeys(queue)).toEqual([]);
  });

  it('keeps nothing of a job in Redis once it completed or was given up', async () => {
    const queue = queueName('tidy');
    const d = driver();
    const exhausted: string[] = [];
    let done = 0;
    await d.consume(
      queue,
      async (job) => {
        done++;
        if (job.id === '12345') throw new Error('refused');
      },
      { attempts: 2, onExhausted: (job) => void exhausted.push(job.id) },
    );
    await d.enqueue(queue, 'fine', { n: 1 });
    await d.enqueue(queue, '12345', { n: 2 });
    await waitFor('both jobs to end', () => done === 3 && exhausted.length === 1);
    await sleep(200);
    expect(exhausted).toEqual(['12345']);
    expect(await jobKeys(queue)).toEqual([]);

    // BullMQ's event stream, which nothing reads, stays short (about 100 entries).
    for (let i = 0; i < 300; i++) await d.enqueue(queue, `fine-${i}`, null);
    await waitFor('300 more jobs', () => done === 303);
    const client = new Redis(url);
    try {
      expect(await client.xlen(`${prefix}:${queue}:events`)).toBeLessThan(300);
    } finally {
      client.disconnect();
    }
  });

  it('reports an onExhausted that throws and drops the job all the same', async () => {
    const queue = queueName('exhausted-throws');
    const errors: Error[] = [];
    const d = driver({ onError: (err) => errors.push(err) });
    const ran: string[] = [];
    await d.consume(
      queue,
      async (job) => {
        ran.push(job.id);
        if (job.id === 'x') throw new Error('nope');
      },
      {
        fifo: true,
        onExhausted: async () => {
          throw new Error('ledger down');
        },
      },
    );
    await d.enqueue(queue, 'x', null);
    await d.enqueue(queue, 'y', null);
    await waitFor('the next job', () => ran.length === 2);
    expect(ran).toEqual(['x', 'y']);
    expect(errors.map((e) => e.message)).toEqual([`onExhausted of queue ${queue} threw: ledger down`]);
    await sleep(100);
    expect(await jobKeys(queue)).toEqual([]);
  });

  it('isolates deployments by prefix', async () => {
    const queue = queueName('prefix');
    const other = `${prefix}-other`;
    const mine = driver();
    const theirs = driver({ prefix: other });
    const ran: string[] = [];
    await theirs.consume(queue, async (job) => {
      ran.push(`theirs:${job.id}`);
    });
    await mine.enqueue(queue, 'only-mine', null);
    await sleep(300);
    expect(ran).toEqual([]);
    expect((await mine.stats(queue)).waiting).toBe(1);
    expect((await theirs.stats(queue)).waiting).toBe(0);
    await flushPrefix(url, other);
  });

  it('refuses quickly, with a clear error, when Redis is unreachable', async () => {
    const down = driver({ url: 'redis://127.0.0.1:1', commandTimeoutMs: 300, onError: () => undefined });
    const t0 = Date.now();
    await expect(down.ping()).rejects.toThrow();
    await expect(down.enqueue('q', 'a', null)).rejects.toThrow(/Redis did not answer enqueue within 300 ms/);
    // A failed consume can be tried again (it did not take the queue's consumer slot).
    for (let i = 0; i < 2; i++) {
      await expect(down.consume('q', async () => undefined)).rejects.toThrow(/Redis did not answer consume/);
    }
    expect(Date.now() - t0).toBeLessThan(3000);
  });

  it('rejects invalid options with specific errors', () => {
    expect(() => new BullMqQueueDriver({ url: 'http://x' })).toThrow(/redis:\/\/ or rediss:\/\//);
    expect(() => new BullMqQueueDriver({ url, prefix: 'a:b' })).toThrow(/invalid prefix/);
    expect(() => new BullMqQueueDriver({ url, lockDurationMs: 0 })).toThrow(
      /lockDurationMs must be a number > 0/,
    );
  });
});
