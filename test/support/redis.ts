import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer, type AddressInfo } from 'node:net';
import Redis from 'ioredis';
import { sleep } from './wait';

/**
 * Redis for tests: `REDIS_URL` when set; otherwise the local server on 127.0.0.1:6379 when it
 * answers; otherwise a throwaway `redis-server` (Debian package `redis-server`) on a free
 * loopback port, without persistence, stopped when the test process exits. Each test run
 * isolates its keys under {@link uniquePrefix} and removes them with {@link flushPrefix}.
 */

const LOCAL_URL = 'redis://127.0.0.1:6379';

let resolved: Promise<string> | undefined;

/** The URL of a Redis server that answers PING (started on first use if need be). */
export function redisUrl(): Promise<string> {
  resolved ??= findRedis();
  return resolved;
}

/** A key prefix of its own for one test run: `sinew-test-<tag>-<pid>-<random>`. */
export function uniquePrefix(tag: string): string {
  const safeTag = tag.replace(/[^A-Za-z0-9_-]/g, '-');
  return `sinew-test-${safeTag}-${process.pid}-${randomBytes(4).toString('hex')}`;
}

/** Deletes every key under `prefix:` (SCAN + UNLINK); returns how many were deleted. */
export async function flushPrefix(url: string, prefix: string): Promise<number> {
  if (!prefix) throw new Error('flushPrefix: an empty prefix would delete every key');
  const client = new Redis(url, { maxRetriesPerRequest: 1, lazyConnect: true });
  client.on('error', () => undefined);
  await client.connect();
  try {
    const pattern = `${prefix.replace(/[*?[\]\\]/g, '\\$&')}:*`;
    let cursor = '0';
    let deleted = 0;
    do {
      const [next, keys] = await client.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) deleted += await client.unlink(...keys);
    } while (cursor !== '0');
    return deleted;
  } finally {
    client.disconnect();
  }
}

/** The URL with any password replaced, for error messages. */
function redacted(url: string): string {
  return url.replace(/\/\/([^@/]*)@/, '//***@');
}

async function answersPing(url: string): Promise<boolean> {
  const client = new Redis(url, {
    lazyConnect: true,
    connectTimeout: 1000,
    // A refused socket never closes cleanly: do not keep the process alive 2 s for it.
    disconnectTimeout: 50,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return (await client.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}

async function findRedis(): Promise<string> {
  const fromEnv = process.env.REDIS_URL;
  if (fromEnv) {
    if (await answersPing(fromEnv)) return fromEnv;
    throw new Error(`REDIS_URL is set (${redacted(fromEnv)}) but that server does not answer PING`);
  }
  if (await answersPing(LOCAL_URL)) return LOCAL_URL;
  return (await startRedisServer()).url;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

export interface RedisServer {
  url: string;
  /** Stops the server (it also stops when this process exits). */
  stop(): void;
}

/**
 * Starts a throwaway `redis-server` on a free loopback port, without persistence. Killed when
 * this process exits; `stop()` kills it sooner.
 */
export async function startRedisServer(): Promise<RedisServer> {
  const port = await freePort();
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  const keep = (chunk: Buffer) => (output = (output + chunk.toString()).slice(-2000));
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const failed = new Promise<never>((_, reject) => {
    child.once('error', (err: NodeJS.ErrnoException) => {
      reject(
        err.code === 'ENOENT'
          ? new Error(
              'redis-server is not installed: install the Debian package redis-server, ' +
                'run Redis on 127.0.0.1:6379, or set REDIS_URL',
            )
          : err,
      );
    });
    child.once('exit', (code) =>
      reject(new Error(`redis-server exited with code ${code} before answering: ${output.trim()}`)),
    );
  });
  failed.catch(() => undefined);
  process.once('exit', () => child.kill('SIGKILL'));
  child.unref();
  for (const stream of [child.stdout, child.stderr]) (stream as { unref?: () => void } | null)?.unref?.();
  const url = `redis://127.0.0.1:${port}`;
  const deadline = Date.now() + 10_000;
  for (;;) {
    const answered = await Promise.race([answersPing(url), failed]);
    if (answered) return { url, stop: () => child.kill('SIGTERM') };
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`redis-server on port ${port} did not answer PING within 10 s: ${output.trim()}`);
    }
    await sleep(50);
  }
}
