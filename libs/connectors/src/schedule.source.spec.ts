import { nextRun, previousRun, scheduleSourceConfig } from './schedule.source';

describe('schedule source: next run in a time zone', () => {
  it('follows the zone across the start of daylight saving time (New York, 8 March 2026)', () => {
    // 09:00 is 14:00 UTC in winter (EST) and 13:00 UTC once daylight saving time starts (EDT).
    expect(nextRun('0 9 * * *', 'America/New_York', new Date('2026-03-07T13:00:00Z'))?.toISOString()).toBe(
      '2026-03-07T14:00:00.000Z',
    );
    expect(nextRun('0 9 * * *', 'America/New_York', new Date('2026-03-07T15:00:00Z'))?.toISOString()).toBe(
      '2026-03-08T13:00:00.000Z',
    );
  });

  it('runs a time skipped by the spring-forward gap at the first instant after it (Berlin, 29 March 2026)', () => {
    // 02:30 does not exist that night: clocks go from 02:00 CET to 03:00 CEST (01:00 UTC).
    expect(nextRun('30 2 * * *', 'Europe/Berlin', new Date('2026-03-28T12:00:00Z'))?.toISOString()).toBe(
      '2026-03-29T01:00:00.000Z',
    );
    expect(nextRun('30 2 * * *', 'Europe/Berlin', new Date('2026-03-29T01:00:00Z'))?.toISOString()).toBe(
      '2026-03-30T00:30:00.000Z',
    );
  });

  it('runs a time that occurs twice when clocks go back only once (Berlin, 25 October 2026)', () => {
    // 02:30 happens at 00:30 UTC (CEST) and again at 01:30 UTC (CET): the job runs at the first.
    const first = nextRun('30 2 * * *', 'Europe/Berlin', new Date('2026-10-24T12:00:00Z'));
    expect(first?.toISOString()).toBe('2026-10-25T00:30:00.000Z');
    expect(nextRun('30 2 * * *', 'Europe/Berlin', first as Date)?.toISOString()).toBe(
      '2026-10-26T01:30:00.000Z',
    );
  });

  it('finds the latest run at or before a time (what is overdue after a stop)', () => {
    expect(previousRun('0 * * * *', 'UTC', new Date('2026-05-01T10:59:59Z'))?.toISOString()).toBe(
      '2026-05-01T10:00:00.000Z',
    );
    expect(previousRun('0 * * * *', 'UTC', new Date('2026-05-01T11:00:00Z'))?.toISOString()).toBe(
      '2026-05-01T11:00:00.000Z',
    );
  });

  it('refuses a bad cron expression and an unknown time zone with a clear message', () => {
    const bad = scheduleSourceConfig.safeParse({ cron: 'every day', timezone: 'Mars/Olympus' });
    expect(bad.success).toBe(false);
    const text = JSON.stringify(bad.error?.issues);
    expect(text).toContain('not a cron expression');
    expect(text).toContain('not an IANA time zone');
  });
});
