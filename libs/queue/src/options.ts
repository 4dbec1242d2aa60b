import { QUEUE_NAME_PATTERN, type BackoffPolicy, type ConsumeOptions, type Job } from './driver';

/** Consume options with defaults applied and values checked. */
export interface ResolvedConsumeOptions {
  concurrency: number;
  fifo: boolean;
  attempts: number;
  backoff: Required<BackoffPolicy> | undefined;
  onExhausted: ((job: Job<unknown>, error: string) => void | Promise<void>) | undefined;
}

/** Throws a specific error when `name` is not a valid queue name. */
export function checkQueueName(name: string): void {
  if (typeof name !== 'string' || !QUEUE_NAME_PATTERN.test(name)) {
    throw new Error(
      `queue: invalid queue name ${JSON.stringify(name)}: use 1 to 200 letters, digits, '.', '_' or '-'`,
    );
  }
}

/** Throws a specific error when `id` is not a valid job id. */
export function checkJobId(id: string): void {
  if (typeof id !== 'string' || !QUEUE_NAME_PATTERN.test(id)) {
    throw new Error(
      `queue: invalid job id ${JSON.stringify(id)}: use 1 to 200 letters, digits, '.', '_' or '-'`,
    );
  }
}

/** Throws when `delayMs` is present and not a finite number ≥ 0. */
export function checkDelay(delayMs: number | undefined): number {
  if (delayMs === undefined) return 0;
  if (typeof delayMs !== 'number' || !Number.isFinite(delayMs) || delayMs < 0) {
    throw new Error(`queue: delayMs must be a finite number ≥ 0, got ${String(delayMs)}`);
  }
  return delayMs;
}

function positiveInteger(value: unknown, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw new Error(`queue: ${name} must be an integer ≥ 1, got ${String(value)}`);
  }
  return value;
}

function nonNegative(value: unknown, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new Error(`queue: ${name} must be a finite number ≥ 0, got ${String(value)}`);
  }
  return value;
}

/** Applies the port's defaults (concurrency 1, attempts 1, multiplier 2, no cap, no jitter). */
export function resolveConsumeOptions<T>(options: ConsumeOptions<T> = {}): ResolvedConsumeOptions {
  const fifo = options.fifo === true;
  const concurrency = fifo ? 1 : positiveInteger(options.concurrency, 'concurrency', 1);
  const attempts = positiveInteger(options.attempts, 'attempts', 1);
  let backoff: Required<BackoffPolicy> | undefined;
  if (options.backoff !== undefined) {
    const b = options.backoff;
    const jitter = nonNegative(b.jitter, 'backoff.jitter', 0);
    if (jitter > 1) throw new Error(`queue: backoff.jitter must be between 0 and 1, got ${jitter}`);
    backoff = {
      initialDelayMs: nonNegative(b.initialDelayMs, 'backoff.initialDelayMs', 0),
      multiplier: nonNegative(b.multiplier, 'backoff.multiplier', 2),
      maxDelayMs: nonNegative(b.maxDelayMs, 'backoff.maxDelayMs', Number.POSITIVE_INFINITY),
      jitter,
    };
  }
  const { onExhausted } = options;
  if (onExhausted !== undefined && typeof onExhausted !== 'function') {
    throw new Error('queue: onExhausted must be a function');
  }
  return {
    concurrency,
    fifo,
    attempts,
    backoff,
    // The driver hands it the jobs of this queue only, whose data is the consumer's T.
    onExhausted: onExhausted && ((job, error) => onExhausted(job as Job<T>, error)),
  };
}

/**
 * Delay before retry number `retry` (1 = the first retry): `initialDelayMs × multiplier^(retry-1)`,
 * capped at `maxDelayMs`, then spread by ±`jitter` (never above the cap).
 */
export function backoffDelay(
  policy: Required<BackoffPolicy> | undefined,
  retry: number,
  random: () => number = Math.random,
): number {
  if (!policy) return 0;
  const base = Math.min(
    policy.initialDelayMs * Math.pow(policy.multiplier, Math.max(0, retry - 1)),
    policy.maxDelayMs,
  );
  const spread = policy.jitter > 0 ? base * policy.jitter * (2 * random() - 1) : 0;
  return Math.max(0, Math.round(Math.min(base + spread, policy.maxDelayMs)));
}

/** True for `DeadLetterError`, also across module copies (matched by name). */
export function isDeadLetterError(err: unknown): boolean {
  return err instanceof Error && err.name === 'DeadLetterError';
}

/** The message of a thrown value, whatever was thrown. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  if (typeof err === 'string') return err;
  return `non-error thrown: ${String(err)}`;
}
