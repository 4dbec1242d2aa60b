import { Redis } from 'ioredis';
import { flushPrefix, redisUrl, uniquePrefix } from '../../../../test/support/redis';
import { MemoryRateLimiter, rateLimitHeaders, RedisRateLimiter, type RateLimiter } from './rate-limit';

const policy = { limit: 3, windowMs: 60_000 };

async function drain(limiter: RateLimiter, key: string, n: number): Promise<boolean[]> {
  const out: boolean[] = [];
  for (let i = 0; i < n; i++) out.push((await limiter.take(key, policy)).allowed);
  return out;
}

describe('rate limits (token bucket per client and operation)', () => {
  it('in process: allows the limit, refuses the next with a Retry-After, refills with time', async () => {
    let now = 1_000_000;
    const limiter = new MemoryRateLimiter(() => now);
    expect(await drain(limiter, 'key:a:searchMessages', 4)).toEqual([true, true, true, false]);
    const refused = await limiter.take('key:a:searchMessages', policy);
    expect(refused.allowed).toBe(false);
    expect(rateLimitHeaders(policy, refused)).toEqual({
      'RateLimit-Policy': '"client";q=3;w=60',
      RateLimit: '"client";r=0;t=60',
      'Retry-After': '20',
    });
    // Another client, or another operation, has a bucket of its own.
    expect((await limiter.take('key:b:searchMessages', policy)).allowed).toBe(true);
    expect((await limiter.take('key:a:getMessage', policy)).allowed).toBe(true);
    now += 20_000;
    expect(await drain(limiter, 'key:a:searchMessages', 2)).toEqual([true, false]);
  });

  it('in Redis: two API processes draw on one bucket', async () => {
    const url = await redisUrl();
    const prefix = uniquePrefix('ratelimit');
    const a = new RedisRateLimiter(new Redis(url), prefix);
    const b = new RedisRateLimiter(new Redis(url), prefix);
    try {
      const results = [
        ...(await drain(a, 'key:a:searchMessages', 2)),
        ...(await drain(b, 'key:a:searchMessages', 2)),
      ];
      expect(results).toEqual([true, true, true, false]);
      const refused = await a.take('key:a:searchMessages', policy);
      expect(refused.allowed).toBe(false);
      expect(refused.retryAfterMs).toBeGreaterThan(15_000);
      expect(refused.retryAfterMs).toBeLessThanOrEqual(20_000);
    } finally {
      await a.close();
      await b.close();
      await flushPrefix(url, prefix);
    }
  });
});
