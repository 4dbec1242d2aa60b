// Hostile peers: random-byte MLLP frames, idle and slow connection floods, oversized and
// deeply nested HTTP bodies, slowloris requests. Each counts how the engine answered.
import { randomBytes, randomInt } from 'node:crypto';
import { request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { sleep } from './harness';

export interface FrameCounts {
  frames: number;
  /** Answered AA (or CA): garbage taken as a message. */
  aa: number;
  /** Answered AE/AR (or CE/CR). */
  refused: number;
  /** The connection closed without a reply. */
  closed: number;
  /** No reply within the wait. */
  noReply: number;
}

/** One frame's bytes: random, half of them behind a valid-looking `MSH|^~\&|` start. */
function randomFrame(): Buffer {
  const body = randomBytes(randomInt(1, 4096));
  // Keep it one frame: the start and end bytes would open or close another.
  for (let i = 0; i < body.length; i++) if (body[i] === 0x0b || body[i] === 0x1c) body[i] = 0x20;
  const payload = Math.random() < 0.5 ? Buffer.concat([Buffer.from('MSH|^~\\&|'), body]) : body;
  return Buffer.concat([Buffer.from([0x0b]), payload, Buffer.from([0x1c, 0x0d])]);
}

/** Sends one frame on a connection of its own; resolves with how it was answered. */
function sendFrame(port: number, waitMs: number): Promise<keyof Omit<FrameCounts, 'frames'>> {
  return new Promise((done) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(randomFrame()));
    let got = Buffer.alloc(0);
    let settled = false;
    const finish = (how: keyof Omit<FrameCounts, 'frames'>) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      done(how);
    };
    const timer = setTimeout(() => finish('noReply'), waitMs);
    socket.on('data', (d: Buffer) => {
      got = Buffer.concat([got, d]);
      const end = got.indexOf(0x1c);
      if (end < 0) return;
      const reply = got.subarray(0, end).toString('latin1');
      const code = /(?:^|[\r\n])MSA\|([A-Z]{2})/.exec(reply)?.[1] ?? '';
      finish(code === 'AA' || code === 'CA' ? 'aa' : 'refused');
    });
    socket.on('error', () => finish('closed'));
    socket.on('close', () => finish('closed'));
  });
}

/** `count` random frames from `parallel` senders at once, each on a new connection. */
export async function randomFrames(port: number, count: number, parallel: number): Promise<FrameCounts> {
  const counts: FrameCounts = { frames: 0, aa: 0, refused: 0, closed: 0, noReply: 0 };
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < count) {
        next++;
        counts.frames++;
        counts[await sendFrame(port, 3_000)]++;
      }
    }),
  );
  return counts;
}

export interface Flood {
  /** Connections opened in all. */
  opened: number;
  stop(): void;
}

/**
 * `count` connections kept open: idle (nothing sent), or slow (a frame start, then one byte
 * of a message header a second, never ending it), from 40 loopback addresses other than the
 * lab's. Closed ones are reopened until stop().
 */
export function connectionFlood(port: number, count: number, kind: 'idle' | 'slow'): Flood {
  const sockets = new Set<Socket>();
  let stopped = false;
  const flood: Flood = {
    opened: 0,
    stop: () => {
      stopped = true;
      for (const s of sockets) s.destroy();
    },
  };
  const open = () => {
    if (stopped) return;
    flood.opened++;
    // From 40 addresses other than the lab's (127.0.0.1): all of 127/8 reaches loopback on Linux.
    const socket = connect({ port, host: '127.0.0.1', localAddress: `127.0.0.${2 + (flood.opened % 40)}` });
    sockets.add(socket);
    let timer: NodeJS.Timeout | undefined;
    socket.on('connect', () => {
      if (kind !== 'slow') return;
      socket.write(Buffer.from([0x0b]));
      const header = Buffer.from('MSH|^~\\&|SLOW|LORIS|'.repeat(1000));
      let i = 0;
      timer = setInterval(() => socket.write(header.subarray(i, ++i)), 1000);
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearInterval(timer);
      sockets.delete(socket);
      // Reopen after a pause, as a flood does (not in a tight loop).
      if (!stopped) setTimeout(open, 500);
    });
  };
  for (let i = 0; i < count; i++) open();
  return flood;
}

export interface HttpCounts {
  requests: number;
  /** 2xx. */
  accepted: number;
  /** 4xx, or the connection closed by the server before an answer. */
  refused: number;
  /** 5xx. */
  errors: number;
  /** No answer within the wait. */
  noAnswer: number;
  /** Status codes seen, with counts. */
  statuses: Record<string, number>;
}

export const emptyHttpCounts = (): HttpCounts => ({
  requests: 0,
  accepted: 0,
  refused: 0,
  errors: 0,
  noAnswer: 0,
  statuses: {},
});

/**
 * POSTs a body produced by `write` (which may stream a large one) and counts the answer in
 * `counts`.
 */
function post(
  port: number,
  path: string,
  contentType: string,
  write: (req: ReturnType<typeof request>) => Promise<void>,
  counts: HttpCounts,
  waitMs: number,
): Promise<void> {
  counts.requests++;
  return new Promise((done) => {
    let settled = false;
    const finish = (how: 'accepted' | 'refused' | 'errors' | 'noAnswer', status?: number) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      counts[how]++;
      const key = status === undefined ? how : String(status);
      counts.statuses[key] = (counts.statuses[key] ?? 0) + 1;
      req.destroy();
      done();
    };
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: 'POST',
        headers: { 'content-type': contentType },
        // The attacker's own address (the control sender is 127.0.0.1).
        localAddress: '127.0.0.99',
        agent: false,
      },
      (res) => {
        res.resume();
        const s = res.statusCode ?? 0;
        finish(s < 300 ? 'accepted' : s < 500 ? 'refused' : 'errors', s);
      },
    );
    const timer = setTimeout(() => finish('noAnswer'), waitMs);
    req.on('error', () => finish('refused'));
    write(req).then(
      () => req.end(),
      () => finish('refused'),
    );
  });
}

/** Bodies of `mb` MiB written in 1 MiB chunks (the server should answer 413 early). */
export async function oversizedBodies(
  port: number,
  path: string,
  count: number,
  mb: number,
  counts: HttpCounts,
) {
  const chunk = Buffer.alloc(1024 * 1024, 0x41);
  for (let i = 0; i < count; i++) {
    await post(
      port,
      path,
      'application/fhir+json',
      async (req) => {
        for (let m = 0; m < mb; m++) {
          if (req.destroyed) return;
          if (!req.write(chunk)) await new Promise<void>((r) => req.once('drain', () => r()));
        }
      },
      counts,
      30_000,
    );
  }
}

/** JSON nested `depth` levels deep (`{"a":{"a":…}}`), a few hundred KB: a parser's stack. */
export async function nestedJsonBodies(
  port: number,
  path: string,
  count: number,
  depth: number,
  counts: HttpCounts,
) {
  const body = `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
  for (let i = 0; i < count; i++) {
    await post(
      port,
      path,
      'application/fhir+json',
      async (req) => {
        req.write(body);
      },
      counts,
      30_000,
    );
  }
}

/** Slowloris: `count` requests whose headers arrive a byte a second, never finished, for `ms`. */
export async function slowloris(
  port: number,
  count: number,
  ms: number,
): Promise<{ closedByServer: number }> {
  const sockets: Socket[] = [];
  let closedByServer = 0;
  const head = Buffer.from(
    `POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n${'X-a: b\r\n'.repeat(500)}`,
  );
  const timers: NodeJS.Timeout[] = [];
  let stopping = false;
  for (let n = 0; n < count; n++) {
    // From 40 addresses other than the control sender's (127.0.0.1).
    const socket = connect({ port, host: '127.0.0.1', localAddress: `127.0.0.${50 + (n % 40)}` });
    sockets.push(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => {
      if (!stopping) closedByServer++;
    });
    let i = 0;
    timers.push(setInterval(() => !socket.destroyed && socket.write(head.subarray(i, ++i)), 1000));
  }
  await sleep(ms);
  stopping = true;
  for (const t of timers) clearInterval(t);
  for (const s of sockets) s.destroy();
  return { closedByServer };
}

export interface HttpControl {
  sent: number;
  /** Answered 2xx within the wait. */
  ok: number;
  failed: number;
  latencies: number[];
}

/**
 * A well-behaved HTTP sender beside the hostile ones: one HL7 v2 message (`body(i)`) every
 * `intervalMs` until `stop` resolves; a request not answered 2xx within 5 s is a failure.
 */
export async function httpControl(
  port: number,
  path: string,
  body: (i: number) => string,
  intervalMs: number,
  stop: Promise<unknown>,
): Promise<HttpControl> {
  const result: HttpControl = { sent: 0, ok: 0, failed: 0, latencies: [] };
  let stopped = false;
  void stop.then(() => (stopped = true));
  while (!stopped) {
    const i = result.sent++;
    const t0 = performance.now();
    const ok = await new Promise<boolean>((done) => {
      const req = request(
        {
          host: '127.0.0.1',
          port,
          path,
          method: 'POST',
          headers: { 'content-type': 'application/hl7-v2' },
          agent: false,
        },
        (res) => {
          res.resume();
          res.on('end', () => done((res.statusCode ?? 0) < 300));
        },
      );
      const timer = setTimeout(() => {
        req.destroy();
        done(false);
      }, 5_000);
      req.on('close', () => clearTimeout(timer));
      req.on('error', () => done(false));
      req.end(body(i));
    });
    if (ok) {
      result.ok++;
      result.latencies.push(performance.now() - t0);
    } else result.failed++;
    await sleep(intervalMs);
  }
  return result;
}
