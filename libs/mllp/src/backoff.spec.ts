import { backoffDelay } from '@sinew/queue';
import { DEFAULT_RECONNECT, reconnectDelay } from './backoff';

describe('reconnectDelay', () => {
  const noJitter = { ...DEFAULT_RECONNECT, jitter: 0 };

  it('tries the first attempt at once, then doubles the wait up to the maximum', () => {
    const delays = [1, 2, 3, 4, 5, 6, 7, 8].map((n) => reconnectDelay(n, noJitter));
    expect(delays).toEqual([0, 200, 400, 800, 1600, 3200, 5000, 5000]);
  });

  it('follows the configured start, factor and maximum', () => {
    const opts = { attempts: 10, initialDelayMs: 10, maxDelayMs: 100, factor: 3, jitter: 0 };
    expect([2, 3, 4, 5].map((n) => reconnectDelay(n, opts))).toEqual([10, 30, 90, 100]);
  });

  it('spreads each wait by at most the jitter share, never above the maximum', () => {
    const opts = { ...DEFAULT_RECONNECT, jitter: 0.5 };
    expect(reconnectDelay(3, opts, () => 0)).toBe(200);
    expect(reconnectDelay(3, opts, () => 0.5)).toBe(400);
    expect(reconnectDelay(3, opts, () => 1)).toBe(600);
    expect(reconnectDelay(8, opts, () => 1)).toBe(5000);
  });

  it('is the backoff function delivery retries use: the same waits for the same policy and draw', () => {
    const policy = { initialDelayMs: 250, multiplier: 3, maxDelayMs: 20_000, jitter: 0.3 };
    const opts = { attempts: 12, initialDelayMs: 250, factor: 3, maxDelayMs: 20_000, jitter: 0.3 };
    for (const draw of [0, 0.25, 0.5, 0.75, 1]) {
      const random = () => draw;
      for (let attempt = 2; attempt <= 12; attempt++) {
        expect(reconnectDelay(attempt, opts, random)).toBe(backoffDelay(policy, attempt - 1, random));
      }
    }
  });
});
