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
   * 800…1,000 ms, so that many clients cut off together do not come back together.
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
 * immediate): `initialDelayMs × factor^(attempt − 2)`, at most `maxDelayMs`, less up to
 * `jitter` of it at random.
 */
export function backoffDelay(
  attempt: number,
  options: Required<ReconnectOptions>,
  random: () => number = Math.random,
): number {
  if (attempt <= 1) return 0;
  const base = Math.min(options.maxDelayMs, options.initialDelayMs * options.factor ** (attempt - 2));
  const jitter = Math.min(1, Math.max(0, options.jitter));
  return Math.round(base * (1 - jitter * random()));
}
