/**
 * The behaviour every `QueueDriver` must show, as jest tests. A driver's test file calls
 * {@link queueConformanceSuite} with a factory; the suite creates drivers as it needs them
 * (two for crash recovery) and closes them after each test. Not exported from the package
 * index: production code never loads jest globals.
 */
import { sleep, waitFor } from '@sinew/test-support/wait';
import { DeadLetterError, type Job, type QueueDriver } from './driver';

/** What `onExhausted` was told: the job and the last error's message. */
interface Exhausted {
  job: Job;
  error: string;
}

export interface QueueConformanceOptions {
  /**
   * How long a job abandoned by a crashed driver may take to run on a new driver (default
   * 10,000 ms). The BullMQ driver needs its lock duration plus a stalled-check interval or two.
   */
  recoveryTimeoutMs?: number;
}

interface Gate {
  promise: Promise<void>;
  open: () => void;
}

function gate(): Gate {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

/** Declares the conformance tests for the driver `makeDriver` creates. */
export function queueConformanceSuite(
  name: string,
  makeDriver: () => Promise<QueueDriver>,
  options: QueueConformanceOptions = {},
): void {
  const recoveryTimeoutMs = options.recoveryTimeoutMs ?? 10_000;

  describe(`${name} — queue driver conformance`, () => {
    const open: QueueDriver[] = [];
    const gates: Gate[] = [];
    let counter = 0;
    /** A queue name no other test uses. */
    const queueName = (tag: string) => `conf-${tag}-${++counter}`;
    const newDriver = async () => {
      const driver = await makeDriver();
      open.push(driver);
      return driver;
    };
    /** A promise a handler can wait on; opened at the latest after the test. */
    const newGate = () => {
      const g = gate();
      gates.push(g);
      return g;
    };

    afterEach(async () => {
      for (const g of gates.splice(0)) g.open();
      await Promise.all(open.splice(0).map((driver) => driver.close({ timeoutMs: 2000 })));
    });

    it('delivers id, queue, data, attempt and enqueue time, before and after consume starts', async () => {
      const driver = await newDriver();
      const queue = queueName('deliver');
      const seen: Job[] = [];
      const before = Date.now();
      await driver.enqueue(queue, 'first', { text: 'é\r|^~\\&', list: [1, 2], nested: { ok: true } });
      await driver.consume(queue, async (job) => {
        seen.push(job);
      });
      await driver.enqueue(queue, 'second', 'plain');
      await waitFor('both jobs', () => seen.length === 2);
      const after = Date.now();
      expect(seen.map((j) => [j.id, j.queue, j.data, j.attempt])).toEqual([
        ['first', queue, { text: 'é\r|^~\\&', list: [1, 2], nested: { ok: true } }, 1],
        ['second', queue, 'plain', 1],
      ]);
      for (const job of seen) {
        expect(job.enqueuedAt).toBeGreaterThanOrEqual(before);
        expect(job.enqueuedAt).toBeLessThanOrEqual(after);
      }
    });

    it('accepts every id the pattern allows (all-digit ids too) and rejects the others', async () => {
      const driver = await newDriver();
      const queue = queueName('ids');
      const ran: string[] = [];
      await driver.consume(queue, async (job) => {
        ran.push(job.id);
      });
      const ids = ['42', '007', '-1', 'a.b_c-D', 'x'.repeat(200)];
      for (const id of ids) await driver.enqueue(queue, id, null);
      await waitFor('every id', () => ran.length === ids.length);
      expect([...ran].sort()).toEqual([...ids].sort());

      await expect(driver.enqueue(queue, 'a:b', null)).rejects.toThrow(/invalid job id "a:b"/);
      await expect(driver.enqueue(queue, '', null)).rejects.toThrow(/invalid job id/);
      await expect(driver.enqueue(queue, 'x'.repeat(201), null)).rejects.toThrow(/invalid job id/);
      await expect(driver.enqueue('bad:queue', 'ok', null)).rejects.toThrow(/invalid queue name "bad:queue"/);
      await expect(driver.enqueue(queue, 'ok', null, { delayMs: -1 })).rejects.toThrow(/delayMs/);
      await expect(driver.consume(queue, async () => undefined)).rejects.toThrow(/already has a consumer/);
      await expect(driver.consume(queueName('opts'), async () => undefined, { attempts: 0 })).rejects.toThrow(
        /attempts must be an integer ≥ 1/,
      );
    });

    it('runs a job once however often its id is enqueued while waiting, delayed or active', async () => {
      const driver = await newDriver();
      const queue = queueName('idem');
      const runs: [string, unknown][] = [];
      const hold = newGate();
      const started = newGate();
      // waiting: three enqueues before anyone consumes
      await driver.enqueue(queue, 'w', 1);
      await driver.enqueue(queue, 'w', 2);
      await driver.enqueue(queue, 'w', 3);
      // delayed: a second enqueue without delay neither runs it early nor twice
      await driver.enqueue(queue, 'd', 1, { delayMs: 300 });
      await driver.enqueue(queue, 'd', 2);
      await driver.consume(
        queue,
        async (job) => {
          runs.push([job.id, job.data]);
          if (job.id === 'a') {
            started.open();
            await hold.promise;
          }
        },
        { concurrency: 2 },
      );
      // active: enqueued again while its handler runs
      await driver.enqueue(queue, 'a', 1);
      await started.promise;
      await driver.enqueue(queue, 'a', 2);
      hold.open();
      await waitFor('the delayed job', () => runs.some(([id]) => id === 'd'));
      await sleep(200);
      expect(runs.filter(([id]) => id === 'w')).toEqual([['w', 1]]);
      expect(runs.filter(([id]) => id === 'd')).toEqual([['d', 1]]);
      expect(runs.filter(([id]) => id === 'a')).toEqual([['a', 1]]);
    });

    it('frees an id once its job has completed: enqueueing it again runs it again', async () => {
      const driver = await newDriver();
      const queue = queueName('free');
      const runs: unknown[] = [];
      await driver.consume(queue, async (job) => {
        runs.push(job.data);
      });
      await driver.enqueue(queue, 'again', 'one');
      await waitFor('the first run', () => runs.length === 1);
      // The id is freed right after the handler resolves; give the driver a moment.
      const deadline = Date.now() + 2000;
      while (runs.length < 2 && Date.now() < deadline) {
        await driver.enqueue(queue, 'again', 'two');
        await sleep(20);
      }
      await sleep(100);
      expect(runs).toEqual(['one', 'two']);
    });

    it('does not run a delayed job before its delay, and runs it after', async () => {
      const driver = await newDriver();
      const queue = queueName('delay');
      const ranAt = new Map<string, number>();
      await driver.consume(
        queue,
        async (job) => {
          ranAt.set(job.id, Date.now());
        },
        { concurrency: 2 },
      );
      const t0 = Date.now();
      await driver.enqueue(queue, 'late', null, { delayMs: 400 });
      await driver.enqueue(queue, 'now', null);
      await waitFor('the immediate job', () => ranAt.has('now'));
      expect(ranAt.has('late')).toBe(false);
      expect(await driver.stats(queue)).toMatchObject({ delayed: 1, waiting: 0 });
      await waitFor('the delayed job', () => ranAt.has('late'));
      expect((ranAt.get('late') as number) - t0).toBeGreaterThanOrEqual(400);
      expect((ranAt.get('late') as number) - t0).toBeLessThan(3000);
    });

    it('runs at most `concurrency` jobs at once, and uses that many', async () => {
      const driver = await newDriver();
      const queue = queueName('conc');
      let active = 0;
      let maxActive = 0;
      let done = 0;
      for (let i = 0; i < 12; i++) await driver.enqueue(queue, `j${i}`, i);
      await driver.consume(
        queue,
        async () => {
          active++;
          maxActive = Math.max(maxActive, active);
          await sleep(60);
          active--;
          done++;
        },
        { concurrency: 3 },
      );
      await waitFor('12 jobs', () => done === 12);
      expect(maxActive).toBe(3);
    });

    it('FIFO: runs 200 jobs one at a time, in enqueue order', async () => {
      const driver = await newDriver();
      const queue = queueName('fifo');
      const order: number[] = [];
      let active = 0;
      let maxActive = 0;
      for (let i = 0; i < 100; i++) await driver.enqueue(queue, `m${i}`, i);
      await driver.consume(
        queue,
        async (job: Job<number>) => {
          active++;
          maxActive = Math.max(maxActive, active);
          if (job.data % 7 === 0) await sleep(2);
          else await new Promise((resolve) => setImmediate(resolve));
          order.push(job.data);
          active--;
        },
        { fifo: true, concurrency: 8 },
      );
      for (let i = 100; i < 200; i++) await driver.enqueue(queue, `m${i}`, i);
      await waitFor('200 jobs', () => order.length === 200, 15_000);
      expect(order).toEqual(Array.from({ length: 200 }, (_, i) => i));
      expect(maxActive).toBe(1);
    });

    it('FIFO: retries a failing job in place; nothing behind it runs until it succeeds', async () => {
      const driver = await newDriver();
      const queue = queueName('fifo-retry');
      const log: string[] = [];
      const failedAt: number[] = [];
      const startedAt: number[] = [];
      for (let i = 0; i < 8; i++) await driver.enqueue(queue, `m${i}`, i);
      await driver.consume(
        queue,
        async (job: Job<number>) => {
          log.push(`${job.data}#${job.attempt}`);
          if (job.data === 3) {
            startedAt.push(Date.now());
            if (job.attempt < 3) {
              failedAt.push(Date.now());
              throw new Error(`peer down (attempt ${job.attempt})`);
            }
          }
        },
        { fifo: true, attempts: 5, backoff: { initialDelayMs: 100, multiplier: 1 } },
      );
      await waitFor('8 jobs', () => log.length === 10);
      expect(log).toEqual(['0#1', '1#1', '2#1', '3#1', '3#2', '3#3', '4#1', '5#1', '6#1', '7#1']);
      expect((startedAt[1] as number) - (failedAt[0] as number)).toBeGreaterThanOrEqual(95);
      expect((startedAt[2] as number) - (failedAt[1] as number)).toBeGreaterThanOrEqual(95);
    });

    it('FIFO: a job that exhausts its attempts is given up once told, then the queue moves on in order', async () => {
      const driver = await newDriver();
      const queue = queueName('fifo-exhausted');
      const log: string[] = [];
      const exhausted: Exhausted[] = [];
      const recorded = newGate();
      for (let i = 0; i < 5; i++) await driver.enqueue(queue, `m${i}`, i);
      await driver.consume(
        queue,
        async (job: Job<number>) => {
          log.push(`${job.data}#${job.attempt}`);
          if (job.data === 1) throw new Error('always failing');
        },
        {
          fifo: true,
          attempts: 3,
          backoff: { initialDelayMs: 20 },
          // Slow to record the failure: nothing behind the job runs meanwhile.
          onExhausted: async (job, error) => {
            exhausted.push({ job, error });
            log.push(`gave up ${job.data}`);
            await recorded.promise;
          },
        },
      );
      await waitFor('the failure to be told', () => exhausted.length === 1);
      await sleep(100);
      expect(log).toEqual(['0#1', '1#1', '1#2', '1#3', 'gave up 1']);
      recorded.open();
      await waitFor('5 jobs', () => log.length === 8);
      expect(log).toEqual(['0#1', '1#1', '1#2', '1#3', 'gave up 1', '2#1', '3#1', '4#1']);
      expect(exhausted[0]).toMatchObject({
        job: { id: 'm1', queue, attempt: 3, data: 1 },
        error: 'always failing',
      });
    });

    it('retries with backoff: attempt numbers 1, 2, 3, each wait at least the backoff, capped', async () => {
      const driver = await newDriver();
      const queue = queueName('backoff');
      const attempts: number[] = [];
      const startedAt: number[] = [];
      const failedAt: number[] = [];
      let succeeded = false;
      await driver.consume(
        queue,
        async (job) => {
          attempts.push(job.attempt);
          startedAt.push(Date.now());
          if (job.attempt < 4) {
            failedAt.push(Date.now());
            throw new Error('try again');
          }
          succeeded = true;
        },
        // uncapped: 100, 1000, 10000 ms; capped: 100, 150, 150 ms
        { attempts: 4, backoff: { initialDelayMs: 100, multiplier: 10, maxDelayMs: 150 } },
      );
      await driver.enqueue(queue, 'flaky', null);
      await waitFor('success on the 4th attempt', () => succeeded, 5000);
      expect(attempts).toEqual([1, 2, 3, 4]);
      const gaps = [1, 2, 3].map((i) => (startedAt[i] as number) - (failedAt[i - 1] as number));
      expect(gaps[0]).toBeGreaterThanOrEqual(95);
      expect(gaps[1]).toBeGreaterThanOrEqual(145);
      expect(gaps[2]).toBeGreaterThanOrEqual(145);
      expect(gaps[1]).toBeLessThan(900);
      expect(gaps[2]).toBeLessThan(900);
    });

    it('gives a job up after its last attempt: tells onExhausted once, drops it, frees its id', async () => {
      const driver = await newDriver();
      const queue = queueName('exhausted');
      const exhausted: Exhausted[] = [];
      let fail = true;
      const runs: number[] = [];
      await driver.consume(
        queue,
        async (job) => {
          runs.push(job.attempt);
          if (fail) throw new Error(`peer refused (attempt ${job.attempt})`);
        },
        { attempts: 2, onExhausted: (job, error) => void exhausted.push({ job, error }) },
      );
      const before = Date.now();
      await driver.enqueue(queue, 'doomed', { n: 1 });
      await waitFor('onExhausted', () => exhausted.length === 1);
      expect(runs).toEqual([1, 2]);
      expect(exhausted[0]).toEqual({
        job: { id: 'doomed', queue, data: { n: 1 }, attempt: 2, enqueuedAt: expect.any(Number) },
        error: 'peer refused (attempt 2)',
      });
      expect(exhausted[0]?.job.enqueuedAt).toBeGreaterThanOrEqual(before - 1000);
      await sleep(100);
      expect(await driver.stats(queue)).toMatchObject({ waiting: 0, delayed: 0, active: 0 });

      // The id is free: enqueued again it runs again, and is given up again.
      await driver.enqueue(queue, 'doomed', { n: 2 });
      await waitFor('the second give-up', () => exhausted.length === 2);
      expect(exhausted[1]?.job.data).toEqual({ n: 2 });

      // A replay once the peer is back: it runs and completes, and nothing is told.
      fail = false;
      await driver.enqueue(queue, 'doomed', { n: 3 });
      await waitFor('the replay', () => runs.length === 5);
      await sleep(100);
      expect(runs).toEqual([1, 2, 1, 2, 1]);
      expect(exhausted).toHaveLength(2);
    });

    it('gives a job up at once, without retry, when the handler throws DeadLetterError', async () => {
      const driver = await newDriver();
      const queue = queueName('dle');
      const exhausted: Exhausted[] = [];
      let runs = 0;
      await driver.consume(
        queue,
        async () => {
          runs++;
          throw new DeadLetterError('unknown message type');
        },
        {
          attempts: 5,
          backoff: { initialDelayMs: 10 },
          onExhausted: (job, error) => void exhausted.push({ job, error }),
        },
      );
      await driver.enqueue(queue, 'bad', 'data');
      await waitFor('onExhausted', () => exhausted.length === 1);
      await sleep(150);
      expect(runs).toBe(1);
      expect(exhausted).toMatchObject([
        { job: { id: 'bad', attempt: 1, data: 'data' }, error: 'unknown message type' },
      ]);
    });

    it('drops an exhausted job when no onExhausted is given', async () => {
      const driver = await newDriver();
      const queue = queueName('exhausted-silent');
      const ran: string[] = [];
      await driver.consume(queue, async (job) => {
        ran.push(job.id);
        if (job.id === 'a') throw new Error('refused');
      });
      await driver.enqueue(queue, 'a', null);
      await driver.enqueue(queue, 'b', null);
      await waitFor('both jobs', () => ran.length === 2);
      await sleep(100);
      expect(await driver.stats(queue)).toMatchObject({ waiting: 0, delayed: 0, active: 0 });
      await driver.enqueue(queue, 'a', null);
      await waitFor('a again', () => ran.length === 3);
      expect(ran).toEqual(['a', 'b', 'a']);
    });

    it('close() waits for onExhausted under way', async () => {
      const driver = await newDriver();
      const queue = queueName('close-exhausted');
      let recorded = false;
      const told = newGate();
      await driver.consume(
        queue,
        async () => {
          throw new Error('refused');
        },
        {
          onExhausted: async () => {
            told.open();
            await sleep(300);
            recorded = true;
          },
        },
      );
      await driver.enqueue(queue, 'x', null);
      await told.promise;
      await driver.close({ timeoutMs: 5000 });
      expect(recorded).toBe(true);
    });

    it('reports waiting, delayed and active counts and the oldest waiting age', async () => {
      const driver = await newDriver();
      const queue = queueName('stats');
      expect(await driver.stats(queue)).toEqual({ waiting: 0, delayed: 0, active: 0 });
      for (let i = 0; i < 3; i++) await driver.enqueue(queue, `now${i}`, i);
      for (let i = 0; i < 2; i++) await driver.enqueue(queue, `later${i}`, i, { delayMs: 60_000 });
      await sleep(60);
      const idle = await driver.stats(queue);
      expect(idle).toMatchObject({ waiting: 3, delayed: 2, active: 0 });
      expect(idle.oldestWaitingAgeMs).toBeGreaterThanOrEqual(50);
      expect(idle.oldestWaitingAgeMs).toBeLessThan(5000);

      const hold = newGate();
      let started = 0;
      await driver.consume(queue, async () => {
        started++;
        await hold.promise;
      });
      await waitFor('the first job to start', () => started === 1);
      expect(await driver.stats(queue)).toMatchObject({ waiting: 2, delayed: 2, active: 1 });
      hold.open();
      await waitFor('the three ready jobs', () => started === 3);
      let stats = await driver.stats(queue);
      for (let i = 0; i < 100 && stats.active > 0; i++) {
        await sleep(10);
        stats = await driver.stats(queue);
      }
      expect(stats).toMatchObject({ waiting: 0, delayed: 2, active: 0 });
      expect(stats.oldestWaitingAgeMs).toBeUndefined();
    });

    it('close() waits for a running job, then refuses new work', async () => {
      const driver = await newDriver();
      const queue = queueName('close');
      let finished = false;
      const started = newGate();
      await driver.consume(queue, async () => {
        started.open();
        await sleep(300);
        finished = true;
      });
      await driver.enqueue(queue, 'slow', null);
      await started.promise;
      await driver.close({ timeoutMs: 5000 });
      expect(finished).toBe(true);
      await expect(driver.enqueue(queue, 'late', null)).rejects.toThrow(/closed/);
    });

    it('close() gives up on a job still running at the deadline', async () => {
      const driver = await newDriver();
      const queue = queueName('close-deadline');
      const started = newGate();
      const never = newGate();
      await driver.consume(queue, async () => {
        started.open();
        await never.promise;
      });
      await driver.enqueue(queue, 'stuck', null);
      await started.promise;
      const t0 = Date.now();
      await driver.close({ timeoutMs: 200 });
      expect(Date.now() - t0).toBeGreaterThanOrEqual(150);
      expect(Date.now() - t0).toBeLessThan(3000);
    });

    it('crash recovery: a job abandoned mid-run by a dead driver runs to completion on a new one', async () => {
      const queue = queueName('crash');
      const first = await newDriver();
      const started = newGate();
      const stuck = newGate();
      await first.consume(queue, async () => {
        started.open();
        await stuck.promise;
      });
      await first.enqueue(queue, 'msg-1', { payload: 'kept' });
      await started.promise;
      // The process dies: nothing waits for the running job.
      await first.close({ timeoutMs: 0 });

      const second = await newDriver();
      const ran: Job[] = [];
      await second.consume(queue, async (job) => {
        ran.push(job);
      });
      // The engine's recovery sweep re-enqueues every non-terminal ledger row by its job id.
      await second.enqueue(queue, 'msg-1', { payload: 'kept' });
      await waitFor('the job on the new driver', () => ran.length >= 1, recoveryTimeoutMs);
      // The abandoned handler finishing late changes nothing.
      stuck.open();
      await sleep(300);
      expect(ran.map((j) => [j.id, j.data])).toEqual([['msg-1', { payload: 'kept' }]]);
      expect(await second.stats(queue)).toMatchObject({ waiting: 0, active: 0, delayed: 0 });
    });

    it('ping() resolves while the driver is open', async () => {
      const driver = await newDriver();
      await expect(driver.ping()).resolves.toBeUndefined();
    });
  });
}
