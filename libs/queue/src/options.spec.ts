import { backoffDelay, errorMessage, resolveConsumeOptions } from './options';

describe('resolveConsumeOptions', () => {
  it('applies the defaults: concurrency 1, attempts 1, no backoff, not FIFO', () => {
    expect(resolveConsumeOptions()).toEqual({ concurrency: 1, fifo: false, attempts: 1, backoff: undefined });
  });

  it('fills a backoff policy: multiplier 2, no cap, no jitter', () => {
    expect(resolveConsumeOptions({ backoff: { initialDelayMs: 50 } }).backoff).toEqual({
      initialDelayMs: 50,
      multiplier: 2,
      maxDelayMs: Number.POSITIVE_INFINITY,
      jitter: 0,
    });
  });

  it('runs FIFO queues one job at a time whatever concurrency says', () => {
    expect(resolveConsumeOptions({ fifo: true, concurrency: 8 }).concurrency).toBe(1);
  });

  it.each([
    [{ concurrency: 0 }, /concurrency must be an integer ≥ 1, got 0/],
    [{ concurrency: 1.5 }, /concurrency must be an integer ≥ 1, got 1.5/],
    [{ attempts: -1 }, /attempts must be an integer ≥ 1, got -1/],
    [{ backoff: { initialDelayMs: -5 } }, /backoff.initialDelayMs must be a finite number ≥ 0, got -5/],
    [{ backoff: { initialDelayMs: 5, jitter: 1.5 } }, /backoff.jitter must be between 0 and 1, got 1.5/],
    [{ backoff: { initialDelayMs: 5, maxDelayMs: Number.NaN } }, /backoff.maxDelayMs/],
  ])('refuses %j', (options, message) => {
    expect(() => resolveConsumeOptions(options)).toThrow(message);
  });
});

describe('backoffDelay', () => {
  const policy = (p: Parameters<typeof resolveConsumeOptions>[0]) => resolveConsumeOptions(p).backoff;

  it('is 0 without a policy (immediate retry)', () => {
    expect(backoffDelay(undefined, 3)).toBe(0);
  });

  it('grows by the multiplier from the initial delay', () => {
    const p = policy({ backoff: { initialDelayMs: 100 } });
    expect([1, 2, 3, 4].map((n) => backoffDelay(p, n))).toEqual([100, 200, 400, 800]);
    const fixed = policy({ backoff: { initialDelayMs: 250, multiplier: 1 } });
    expect([1, 2, 3].map((n) => backoffDelay(fixed, n))).toEqual([250, 250, 250]);
  });

  it('never exceeds maxDelayMs', () => {
    const p = policy({ backoff: { initialDelayMs: 1000, multiplier: 10, maxDelayMs: 60_000 } });
    expect([1, 2, 3, 4, 50].map((n) => backoffDelay(p, n))).toEqual([1000, 10_000, 60_000, 60_000, 60_000]);
  });

  it('spreads by ±jitter, and below the cap only', () => {
    const p = policy({ backoff: { initialDelayMs: 1000, jitter: 0.2, maxDelayMs: 3000 } });
    expect(backoffDelay(p, 1, () => 0)).toBe(800);
    expect(backoffDelay(p, 1, () => 1)).toBe(1200);
    expect(backoffDelay(p, 1, () => 0.5)).toBe(1000);
    // base 4000 capped at 3000: spread 2400..3000
    expect(backoffDelay(p, 3, () => 0)).toBe(2400);
    expect(backoffDelay(p, 3, () => 1)).toBe(3000);
    const seen = Array.from({ length: 200 }, () => backoffDelay(p, 2));
    expect(Math.min(...seen)).toBeGreaterThanOrEqual(1600);
    expect(Math.max(...seen)).toBeLessThanOrEqual(2400);
    expect(new Set(seen).size).toBeGreaterThan(20);
  });
});

describe('errorMessage', () => {
  it('reads errors, strings and anything else thrown', () => {
    expect(errorMessage(new Error('boom'))).toBe('boom');
    expect(errorMessage('plain')).toBe('plain');
    expect(errorMessage(42)).toBe('non-error thrown: 42');
  });
});
