import { reconnectDelay } from '@sinew/mllp';
import { retryDelay } from './delivery';

describe('one backoff function', () => {
  it('gives a delivery retry and an MLLP reconnect the same wait for the same policy and draw', () => {
    const retry = { attempts: 10, initial_delay_ms: 1_000, multiplier: 2, max_delay_ms: 30_000, jitter: 0.2 };
    const reconnect = { attempts: 10, initialDelayMs: 1_000, factor: 2, maxDelayMs: 30_000, jitter: 0.2 };
    for (const draw of [0, 0.3, 0.5, 0.9, 1]) {
      // Delivery attempt n failed → retry n; reconnect attempt n + 1 follows n failed connections.
      const waits = Array.from({ length: 8 }, (_, i) => retryDelay(retry, i + 1, () => draw));
      const reconnects = Array.from({ length: 8 }, (_, i) => reconnectDelay(i + 2, reconnect, () => draw));
      expect(reconnects).toEqual(waits);
    }
    expect(Array.from({ length: 7 }, (_, i) => retryDelay({ ...retry, jitter: 0 }, i + 1))).toEqual([
      1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000,
    ]);
  });
});
