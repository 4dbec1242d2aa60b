import Redis from 'ioredis';
import { flushPrefix, redisUrl, startRedisServer, uniquePrefix } from '@sinew/test-support/redis';

/** The Redis set-up the queue's integration tests stand on (test/support/redis.ts). */
describe('test Redis support', () => {
  it('uniquePrefix gives each run its own BullMQ-safe prefix', () => {
    const a = uniquePrefix('queue tests:a');
    const b = uniquePrefix('queue tests:a');
    expect(a).toMatch(new RegExp(`^sinew-test-queue-tests-a-${process.pid}-[0-9a-f]{8}$`));
    expect(a).not.toBe(b);
  });

  it('flushPrefix deletes the keys under its prefix and no others', async () => {
    const url = await redisUrl();
    const prefix = uniquePrefix('flush');
    const client = new Redis(url);
    try {
      const mine = Array.from({ length: 2500 }, (_, i) => `${prefix}:q:${i}`);
      await client.mset(Object.fromEntries(mine.map((k) => [k, 'v'])));
      await client.set(`${prefix}x:other`, 'kept');
      await client.set(`${prefix}`, 'kept');
      expect(await flushPrefix(url, prefix)).toBe(2500);
      expect(await client.exists(...mine.slice(0, 10))).toBe(0);
      expect(await client.get(`${prefix}x:other`)).toBe('kept');
      expect(await client.get(prefix)).toBe('kept');
      await expect(flushPrefix(url, '')).rejects.toThrow(/empty prefix/);
    } finally {
      await client.del(`${prefix}x:other`, prefix);
      client.disconnect();
    }
  });

  it('starts a throwaway redis-server on a free port and stops it', async () => {
    const server = await startRedisServer();
    const client = new Redis(server.url, { maxRetriesPerRequest: 0, retryStrategy: () => null });
    client.on('error', () => undefined);
    try {
      expect(server.url).toMatch(/^redis:\/\/127\.0\.0\.1:\d+$/);
      expect(await client.ping()).toBe('PONG');
      expect(await client.config('GET', 'save')).toEqual(['save', '']);
      expect(await client.config('GET', 'appendonly')).toEqual(['appendonly', 'no']);
    } finally {
      server.stop();
    }
    // The server going away ends the client (no reconnection).
    await new Promise<void>((resolve) => client.once('end', () => resolve()));
  });
});
