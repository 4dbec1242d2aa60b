import type { Redis } from 'ioredis';

/** A token bucket: `limit` requests per `windowMs`, refilled continuously. */
export interface RatePolicy {
  limit: number;
  windowMs: number;
}

export interface RateDecision {
  allowed: boolean;
  /** Whole requests left in the bucket after this one. */
  remaining: number;
  /** Until the bucket is full again. */
  resetMs: number;
  /** When refused: until one request is allowed again. */
  retryAfterMs: number;
}

/** Takes one request from a client's bucket for one route. */
export interface RateLimiter {
  take(key: string, policy: RatePolicy): Promise<RateDecision>;
  close(): Promise<void>;
}

function decide(tokens: number, allowed: boolean, policy: RatePolicy): RateDecision {
  const perMs = policy.limit / policy.windowMs;
  return {
    allowed,
    remaining: Math.max(0, Math.floor(tokens)),
    resetMs: Math.ceil((policy.limit - tokens) / perMs),
    retryAfterMs: allowed ? 0 : Math.ceil((1 - tokens) / perMs),
  };
}

/** Buckets in this process (the embedded engine: one API process). */
export class MemoryRateLimiter implements RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly now: () => number = Date.now,
    private readonly maxBuckets = 50_000,
  ) {}

  take(key: string, policy: RatePolicy): Promise<RateDecision> {
    const now = this.now();
    const perMs = policy.limit / policy.windowMs;
    const b = this.buckets.get(key);
    let tokens = b ? Math.min(policy.limit, b.tokens + (now - b.at) * perMs) : policy.limit;
    const allowed = tokens >= 1;
    if (allowed) tokens -= 1;
    // Re-inserted, so the map's order is least recently used first.
    this.buckets.delete(key);
    this.buckets.set(key, { tokens, at: now });
    if (this.buckets.size > this.maxBuckets) {
      const oldest = this.buckets.keys().next().value;
      if (oldest !== undefined) this.buckets.delete(oldest);
    }
    return Promise.resolve(decide(tokens, allowed, policy));
  }

  close(): Promise<void> {
    this.buckets.clear();
    return Promise.resolve();
  }
}

/** One atomic token-bucket step on Redis's clock (several API processes share one budget). */
const TAKE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local limit = tonumber(ARGV[1])
local perMs = limit / tonumber(ARGV[2])
local b = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(b[1]) or limit
local at = tonumber(b[2]) or now
tokens = math.min(limit, tokens + math.max(0, now - at) * perMs)
local allowed = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]) + 1000)
return { allowed, tostring(tokens) }
`;

/** Buckets in Redis, under `prefix` (scaled out: every API process draws on the same bucket). */
export class RedisRateLimiter implements RateLimiter {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  async take(key: string, policy: RatePolicy): Promise<RateDecision> {
    const [allowed, tokens] = (await this.redis.eval(
      TAKE,
      1,
      `${this.prefix}:ratelimit:${key}`,
      String(policy.limit),
      String(policy.windowMs),
    )) as [number, string];
    return decide(Number(tokens), allowed === 1, policy);
  }

  async close(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}

/** `RateLimit-Policy` and `RateLimit` header values (IETF httpapi rate-limit headers). */
export function rateLimitHeaders(policy: RatePolicy, d: RateDecision): Record<string, string> {
  const headers: Record<string, string> = {
    'RateLimit-Policy': `"client";q=${policy.limit};w=${Math.round(policy.windowMs / 1000)}`,
    RateLimit: `"client";r=${d.remaining};t=${Math.ceil(d.resetMs / 1000)}`,
  };
  if (!d.allowed) headers['Retry-After'] = String(Math.max(1, Math.ceil(d.retryAfterMs / 1000)));
  return headers;
}
