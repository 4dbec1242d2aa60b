import { backoffDelay } from '@sinew/queue';

/** How a client retries a connection that failed. */
export interface ReconnectOptions {
  /** Connection attempts before giving up, the first included (default 4). `1` never retries. */
  attempts?: number;
  /** Wait before the second attempt, in ms (default 200). */
  initialDelayMs?: number;
  /** Longest wait between two attempts, in ms (default 5,000). */
  maxDelayMs?: number;
  /** Each wait is the previous one times this (default 2). */
  factor?: number;
  /**
   * Share of each wait drawn at random, 0…1 (default 0.2): with 0.2 a 1,000 ms wait becomes
   * 800…1,200 ms (never above `maxDelayMs`), so that many clients cut off together do not come
   * back together.
   */
  jitter?: number;
}

export const DEFAULT_RECONNECT: Required<ReconnectOptions> = {
  attempts: 4,
  initialDelayMs: 200,
  maxDelayMs: 5_000,
  factor: 2,
  jitter: 0.2,
};

/**
 * The wait before connection attempt number `attempt` (1-based; the first attempt is
 * immediate). It is the engine's one backoff function, the one delivery retries and queue
 * retries use (`backoffDelay` of @sinew/queue), with retry number `attempt − 1`:
 * `initialDelayMs × factor^(attempt − 2)`, at most `maxDelayMs`, spread by ±`jitter`.
 */
export function reconnectDelay(
  attempt: number,
  options: Required<ReconnectOptions>,
  random: () => number = Math.random,
): number {
  if (attempt <= 1) return 0;
  return backoffDelay(
    {
      initialDelayMs: Math.max(0, options.initialDelayMs),
      multiplier: Math.max(0, options.factor),
      maxDelayMs: Math.max(0, options.maxDelayMs),
      jitter: Math.min(1, Math.max(0, options.jitter)),
    },
    attempt - 1,
    random,
  );
}
