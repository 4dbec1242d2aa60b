import { DEFAULT_RECONNECT, backoffDelay } from './backoff';

describe('backoffDelay', () => {
  const noJitter = { ...DEFAULT_RECONNECT, jitter: 0 };

  it('tries the first attempt at once, then doubles the wait up to the maximum', () => {
    const delays = [1, 2, 3, 4, 5, 6, 7, 8].map((n) => backoffDelay(n, noJitter));
    expect(delays).toEqual([0, 200, 400, 800, 1600, 3200, 5000, 5000]);
  });

  it('follows the configured start, factor and maximum', () => {
    const opts = { attempts: 10, initialDelayMs: 10, maxDelayMs: 100, factor: 3, jitter: 0 };
    expect([2, 3, 4, 5].map((n) => backoffDelay(n, opts))).toEqual([10, 30, 90, 100]);
  });

  it('takes off at most the jitter share of the wait', () => {
    const opts = { ...DEFAULT_RECONNECT, jitter: 0.5 };
    expect(backoffDelay(3, opts, () => 0)).toBe(400);
    expect(backoffDelay(3, opts, () => 0.999999)).toBe(200);
    expect(backoffDelay(3, opts, () => 0.5)).toBe(300);
  });
});
