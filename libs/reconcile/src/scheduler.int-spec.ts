import { openStore, type TypeOrmStore } from '@sinew/store';
import { withTestSchema, type TestSchema } from '@sinew/test-support/postgres';
import { ReconcileScheduler, type SchedulerClock, type ScheduledReconciliation } from './scheduler';

/** A clock moved by the test; timers fire when it passes their time. */
class TestClock implements SchedulerClock {
  private timers: Array<{ at: number; fn: () => void; cancelled: boolean }> = [];
  constructor(private t: number) {}
  now(): Date {
    return new Date(this.t);
  }
  setTimer(fn: () => void, ms: number): () => void {
    const timer = { at: this.t + ms, fn, cancelled: false };
    this.timers.push(timer);
    return () => {
      timer.cancelled = true;
    };
  }
  /** Moves to `iso`, firing each timer due on the way (and those they arm), letting `settle` run between. */
  async advanceTo(iso: string, settle: () => Promise<void>): Promise<void> {
    const target = Date.parse(iso);
    for (;;) {
      const due = this.timers.filter((x) => !x.cancelled && x.at <= target).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      this.t = Math.max(this.t, due.at);
      due.cancelled = true;
      due.fn();
      await settle();
    }
    this.t = target;
  }
}

type Call = { id: string; trigger: string; dueAt: string; owner: string };

describe('ReconcileScheduler on PostgreSQL', () => {
  let schema: TestSchema;
  let store: TypeOrmStore;
  // 02:30 in New York is 07:30 UTC in December.
  const nightly: ScheduledReconciliation = { id: 'demo', cron: '30 2 * * *', timezone: 'America/New_York' };

  beforeAll(async () => {
    schema = await withTestSchema();
    store = await openStore({ databaseUrl: schema.url, schema: schema.schema });
  });
  afterAll(async () => {
    await store?.close();
    await schema?.drop();
  });

  function scheduler(
    owner: string,
    clock: TestClock,
    calls: Call[],
    reconciliations: ScheduledReconciliation[],
    run?: (id: string) => Promise<void>,
  ): ReconcileScheduler {
    return new ReconcileScheduler({
      reconciliations,
      store: store.reconcile,
      owner,
      clock,
      run: async (id, trigger, dueAt) => {
        calls.push({ id, trigger, dueAt: dueAt.toISOString(), owner });
        await run?.(id);
      },
    });
  }

  it('runs each due time exactly once when two schedulers are up, and a missed one once at start', async () => {
    const rec = { ...nightly, id: 'two-schedulers' };
    // Last run claimed two days ago: yesterday's 02:30 was missed while nothing ran.
    expect(await store.reconcile.claimSchedule(rec.id, new Date('2026-12-05T07:30:00.000Z'), 'old')).toBe(
      true,
    );
    const calls: Call[] = [];
    const clockA = new TestClock(Date.parse('2026-12-07T07:00:00.000Z'));
    const clockB = new TestClock(Date.parse('2026-12-07T07:00:00.000Z'));
    const a = scheduler('a', clockA, calls, [rec]);
    const b = scheduler('b', clockB, calls, [rec]);
    await Promise.all([a.start(), b.start()]);
    await Promise.all([a.idle(), b.idle()]);
    expect(calls.map(({ trigger, dueAt }) => ({ trigger, dueAt }))).toEqual([
      { trigger: 'catch_up', dueAt: '2026-12-06T07:30:00.000Z' },
    ]);
    expect(a.nextRun(rec.id)).toEqual(new Date('2026-12-07T07:30:00.000Z'));

    const settle = async () => {
      await a.idle();
      await b.idle();
    };
    // Both wake at the due time, in either order.
    await Promise.all([
      clockA.advanceTo('2026-12-07T07:30:00.000Z', settle),
      clockB.advanceTo('2026-12-07T07:30:00.000Z', settle),
    ]);
    await settle();
    await clockB.advanceTo('2026-12-08T08:00:00.000Z', settle);
    await clockA.advanceTo('2026-12-08T08:00:00.000Z', settle);
    await settle();
    expect(calls.map(({ trigger, dueAt }) => ({ trigger, dueAt }))).toEqual([
      { trigger: 'catch_up', dueAt: '2026-12-06T07:30:00.000Z' },
      { trigger: 'schedule', dueAt: '2026-12-07T07:30:00.000Z' },
      { trigger: 'schedule', dueAt: '2026-12-08T07:30:00.000Z' },
    ]);
    expect(await store.reconcile.lastClaimed(rec.id)).toEqual(new Date('2026-12-08T07:30:00.000Z'));
    await Promise.all([a.stop(), b.stop()]);

    // Started again the same day: nothing was missed, nothing runs.
    const later: Call[] = [];
    const c = scheduler('c', new TestClock(Date.parse('2026-12-08T12:00:00.000Z')), later, [rec]);
    await c.start();
    await c.idle();
    expect(later).toEqual([]);
    await c.stop();
  });

  it('keeps the schedule after a run that throws, and stop() waits for the run in progress', async () => {
    const rec = { id: 'throws', cron: '0 * * * *', timezone: 'UTC' };
    await store.reconcile.claimSchedule(rec.id, new Date('2026-12-07T09:00:00.000Z'), 'old');
    const calls: Call[] = [];
    let release: () => void = () => undefined;
    let finished = false;
    const clock = new TestClock(Date.parse('2026-12-07T09:30:00.000Z'));
    const s = scheduler('a', clock, calls, [rec], async () => {
      if (calls.length === 1) throw new Error('the source pms did not answer');
      await new Promise<void>((resolve) => (release = resolve));
      finished = true;
    });
    await s.start();
    expect(calls).toEqual([]);
    await clock.advanceTo('2026-12-07T10:00:00.000Z', () => s.idle());
    expect(calls.map((c) => c.dueAt)).toEqual(['2026-12-07T10:00:00.000Z']);
    // The second run hangs until released.
    await clock.advanceTo('2026-12-07T11:00:00.000Z', async () => undefined);
    await new Promise((r) => setTimeout(r, 50));
    expect(calls.map((c) => c.dueAt)).toEqual(['2026-12-07T10:00:00.000Z', '2026-12-07T11:00:00.000Z']);
    let stopped = false;
    const stopping = s.stop().then(() => (stopped = true));
    await new Promise((r) => setTimeout(r, 50));
    expect(stopped).toBe(false);
    release();
    await stopping;
    expect(finished).toBe(true);
    // Stopped: later due times do not run.
    await clock.advanceTo('2026-12-07T13:00:00.000Z', () => s.idle());
    expect(calls).toHaveLength(2);
  });

  it('does not run a reconciliation never scheduled before at start: it waits for its first due time', async () => {
    const rec = { ...nightly, id: 'first-start' };
    const calls: Call[] = [];
    const first = scheduler('a', new TestClock(Date.parse('2026-12-07T12:00:00.000Z')), calls, [rec]);
    await first.start();
    await first.stop();
    const second = scheduler('b', new TestClock(Date.parse('2026-12-07T12:05:00.000Z')), calls, [rec]);
    await second.start();
    await second.stop();
    expect(calls).toEqual([]);
    expect(second.nextRun(rec.id)).toEqual(new Date('2026-12-08T07:30:00.000Z'));
  });

  it('refuses a cron expression that is not one', () => {
    expect(
      () =>
        new ReconcileScheduler({
          reconciliations: [{ id: 'bad', cron: '61 * * * *', timezone: 'UTC' }],
          store: store.reconcile,
          owner: 'a',
          run: async () => undefined,
        }),
    ).toThrow();
  });
});
