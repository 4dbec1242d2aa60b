import { waitFor } from '@sinew/test-support/wait';
import { queueConformanceSuite } from './conformance';
import { MemoryQueueDriver } from './memory-driver';

queueConformanceSuite('MemoryQueueDriver', async () => new MemoryQueueDriver(), { recoveryTimeoutMs: 2000 });

describe('MemoryQueueDriver', () => {
  let driver: MemoryQueueDriver;
  const errors: Error[] = [];

  beforeEach(() => {
    errors.length = 0;
    driver = new MemoryQueueDriver({ onError: (err) => errors.push(err) });
  });

  afterEach(async () => {
    jest.restoreAllMocks();
    await driver.close({ timeoutMs: 1000 });
  });

  it('FIFO: delayed jobs join the line in order of their due time', async () => {
    const order: string[] = [];
    await driver.enqueue('q', 'due-200', null, { delayMs: 200 });
    await driver.enqueue('q', 'due-100', null, { delayMs: 100 });
    await driver.enqueue('q', 'now', null);
    await driver.consume(
      'q',
      async (job) => {
        order.push(job.id);
      },
      { fifo: true },
    );
    await waitFor('3 jobs', () => order.length === 3);
    expect(order).toEqual(['now', 'due-100', 'due-200']);
  });

  it('runs immediate jobs without a timer per job, and yields to the event loop while it works', async () => {
    const timeouts = jest.spyOn(global, 'setTimeout');
    const immediates = jest.spyOn(global, 'setImmediate');
    const n = 20_000;
    let done = 0;
    let allDone!: () => void;
    const finished = new Promise<void>((resolve) => (allDone = resolve));
    for (let i = 0; i < n; i++) await driver.enqueue('q', `j${i}`, i);
    await driver.consume('q', async () => {
      if (++done === n) allDone();
    });
    let doneWhenTimerFired = -1;
    await new Promise<void>((resolve) =>
      setImmediate(() => {
        // Queued behind the driver's first turn: it fires while jobs remain.
        setImmediate(() => {
          doneWhenTimerFired = done;
          resolve();
        });
      }),
    );
    await finished;
    expect(doneWhenTimerFired).toBeGreaterThan(0);
    expect(doneWhenTimerFired).toBeLessThan(n);
    expect(timeouts).not.toHaveBeenCalled();
    expect(immediates.mock.calls.length).toBeLessThan(n / 100);
  });

  it('treats a handler that throws synchronously like one that rejects', async () => {
    const exhausted: string[] = [];
    await driver.consume(
      'q',
      ((job: { attempt: number }) => {
        throw new Error(`sync failure ${job.attempt}`);
      }) as unknown as () => Promise<void>,
      {
        attempts: 2,
        onExhausted: (job, error) => void exhausted.push(`${job.id}: ${error} after ${job.attempt}`),
      },
    );
    await driver.enqueue('q', 'sync', null);
    await waitFor('onExhausted', () => exhausted.length === 1);
    expect(exhausted).toEqual(['sync: sync failure 2 after 2']);
  });

  it('reports an onExhausted that throws, drops the job and goes on in order', async () => {
    const ran: string[] = [];
    await driver.consume(
      'q',
      async (job) => {
        ran.push(job.id);
        if (job.id === 'x') throw new Error('nope');
      },
      {
        fifo: true,
        onExhausted: () => {
          throw new Error('ledger down');
        },
      },
    );
    await driver.enqueue('q', 'x', null);
    await driver.enqueue('q', 'y', null);
    await waitFor('the next job', () => ran.length === 2);
    expect(ran).toEqual(['x', 'y']);
    expect(errors.map((e) => e.message)).toEqual(['onExhausted of queue q threw: ledger down']);
    expect(await driver.stats('q')).toMatchObject({ waiting: 0, delayed: 0, active: 0 });
  });

  it('closes at once when the only job is waiting out a FIFO backoff', async () => {
    let runs = 0;
    await driver.consume(
      'q',
      async () => {
        runs++;
        throw new Error('down');
      },
      { fifo: true, attempts: 3, backoff: { initialDelayMs: 60_000 } },
    );
    await driver.enqueue('q', 'x', null);
    await waitFor('the first run', () => runs === 1);
    expect(await driver.stats('q')).toMatchObject({ delayed: 1, active: 0 });
    const t0 = Date.now();
    await driver.close({ timeoutMs: 5000 });
    expect(Date.now() - t0).toBeLessThan(100);
    expect(runs).toBe(1);
  });

  it('ping() rejects once the driver is closed', async () => {
    await driver.close();
    await expect(driver.ping()).rejects.toThrow(/closed/);
    await expect(driver.consume('q', async () => undefined)).rejects.toThrow(/closed/);
  });
});
