import { cronProblem, nextRun, periodProblem, previousRun, resolvePeriod, startOfDay } from './period';

const iso = (d: Date | undefined) => d?.toISOString();

describe('resolvePeriod', () => {
  const now = new Date('2026-12-07T03:30:00Z'); // 22:30 on Dec 6 in New York

  it('takes yesterday and today as whole days in the clinic’s time zone', () => {
    const y = resolvePeriod('yesterday', 'America/New_York', now);
    expect([iso(y.from), iso(y.to), y.label]).toEqual([
      '2026-12-05T05:00:00.000Z',
      '2026-12-06T05:00:00.000Z',
      'yesterday',
    ]);
    const t = resolvePeriod('today', 'America/New_York', now);
    expect([iso(t.from), iso(t.to)]).toEqual(['2026-12-06T05:00:00.000Z', '2026-12-07T05:00:00.000Z']);
    const u = resolvePeriod('yesterday', 'UTC', now);
    expect([iso(u.from), iso(u.to)]).toEqual(['2026-12-06T00:00:00.000Z', '2026-12-07T00:00:00.000Z']);
  });

  it('gives a 23-hour day when clocks go forward and a 25-hour day when they go back', () => {
    const spring = resolvePeriod('2026-03-08', 'America/New_York', now);
    expect([iso(spring.from), iso(spring.to)]).toEqual([
      '2026-03-08T05:00:00.000Z',
      '2026-03-09T04:00:00.000Z',
    ]);
    const fall = resolvePeriod('yesterday', 'Europe/London', new Date('2026-10-26T12:00:00Z'));
    expect([iso(fall.from), iso(fall.to)]).toEqual(['2026-10-24T23:00:00.000Z', '2026-10-26T00:00:00.000Z']);
  });

  it('starts a day whose midnight does not exist at its first instant (Chile, clocks forward at 24:00)', () => {
    expect(iso(startOfDay(2022, 9, 11, 'America/Santiago'))).toBe('2022-09-11T04:00:00.000Z');
  });

  it('reads date ranges with the last day included', () => {
    const r = resolvePeriod('2026-12-01..2026-12-03', 'Europe/London', now);
    expect([iso(r.from), iso(r.to), r.label]).toEqual([
      '2026-12-01T00:00:00.000Z',
      '2026-12-04T00:00:00.000Z',
      '2026-12-01..2026-12-03',
    ]);
  });

  it('reads all, last_24h, last_7d and last_30d', () => {
    expect(resolvePeriod('all', 'UTC', now)).toEqual({ label: 'all' });
    const h = resolvePeriod('last_24h', 'Europe/London', now);
    expect([iso(h.from), iso(h.to)]).toEqual(['2026-12-06T03:30:00.000Z', '2026-12-07T03:30:00.000Z']);
    const w = resolvePeriod('last_7d', 'UTC', now);
    expect([iso(w.from), iso(w.to)]).toEqual(['2026-11-30T00:00:00.000Z', '2026-12-07T00:00:00.000Z']);
    const m = resolvePeriod('last_30d', 'UTC', now);
    expect(iso(m.from)).toBe('2026-11-07T00:00:00.000Z');
  });

  it('says why a period is not one', () => {
    expect(periodProblem('yesterdy')).toMatch(/^yesterdy is not a period; write yesterday, today/);
    expect(periodProblem('2026-02-30')).toBe('2026-02-30 is not a calendar date');
    expect(periodProblem('2026-12-05..2026-12-01')).toBe(
      '2026-12-05..2026-12-01: the last day is before the first',
    );
    expect(periodProblem('last_7d')).toBeUndefined();
    expect(() => resolvePeriod('today', 'Mars/Olympus', now)).toThrow('unknown time zone Mars/Olympus');
  });
});

describe('schedules', () => {
  it('finds the next and previous run in the schedule’s time zone', () => {
    const after = new Date('2026-12-07T03:30:00Z');
    expect(iso(nextRun('30 2 * * *', 'Europe/London', after))).toBe('2026-12-08T02:30:00.000Z');
    expect(iso(nextRun('0 2 * * *', 'America/New_York', after))).toBe('2026-12-07T07:00:00.000Z');
    expect(iso(previousRun('0 2 * * *', 'America/New_York', after))).toBe('2026-12-06T07:00:00.000Z');
    expect(iso(previousRun('30 3 * * *', 'UTC', after))).toBe('2026-12-06T03:30:00.000Z');
  });

  it('says why a cron expression is not a 5-field one', () => {
    expect(cronProblem('0 2 * * *')).toBeUndefined();
    expect(cronProblem('0 0 2 * * *')).toMatch(/is not a 5-field cron expression/);
    expect(cronProblem('61 2 * * *')).toMatch(/^61 2 \* \* \* is not a cron expression/);
  });
});
