import { readFileSync } from 'node:fs';
import { Hl7ErrorCode, Hl7Message, Hl7ParseError, readAck } from '@sinew/hl7v2';
import { corpusFiles } from '@sinew/test-support';
import { RawConnection, adt } from '../test/raw-connection';
import { ackingHandler } from './acks';
import type { MllpError } from './errors';
import { MLLP_END_BLOCK, MLLP_START_BLOCK, encodeFrame } from './framing';
import { MllpServer } from './server';

jest.setTimeout(20_000);

/** A small seeded generator (mulberry32), so that every run throws the same bytes. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Rand = () => number;
const int = (rand: Rand, n: number) => Math.floor(rand() * n);
const randomBytes = (rand: Rand, n: number) => Buffer.from(Array.from({ length: n }, () => int(rand, 256)));

/** One mutation of a corpus message: flips, cuts, insertions, duplications, line-ending swaps. */
function mutate(seed: Buffer, rand: Rand): Buffer {
  let b = Buffer.from(seed);
  const rounds = 1 + int(rand, 3);
  for (let r = 0; r < rounds; r++) {
    const at = int(rand, b.length + 1);
    switch (int(rand, 6)) {
      case 0:
        for (let k = 0; k < 1 + int(rand, 5) && b.length > 0; k++) b[int(rand, b.length)] = int(rand, 256);
        break;
      case 1:
        b = b.subarray(0, at);
        break;
      case 2:
        b = Buffer.concat([b.subarray(0, at), randomBytes(rand, 1 + int(rand, 40)), b.subarray(at)]);
        break;
      case 3:
        b = Buffer.concat([b.subarray(0, at), b.subarray(at, at + int(rand, 200)), b.subarray(at)]);
        break;
      case 4:
        b = Buffer.from(b.toString('latin1').replace(/\r/g, '\n'), 'latin1');
        break;
      default:
        b = Buffer.concat([b.subarray(0, at), b.subarray(at + 1 + int(rand, 30))]);
    }
  }
  // Block characters would split the frame: each mutant is sent as exactly one frame.
  return Buffer.from(b.filter((x) => x !== MLLP_START_BLOCK && x !== MLLP_END_BLOCK));
}

/** What a correct server may answer: AA only for a message Sinew can parse and route. */
function mayAccept(payload: Buffer): { ok: boolean; controlId: string } {
  try {
    const msg = Hl7Message.parse(payload);
    return { ok: msg.get('MSH-9.1') !== '' && msg.controlId !== '', controlId: msg.controlId };
  } catch {
    return { ok: false, controlId: '' };
  }
}

/**
 * Reads a reply as a peer would. An ACK echoes the MSH-18 of the message it answers, so the
 * answer to a message naming an unknown character set names it too: such a reply is read as
 * text rather than refused.
 */
function parseReply(reply: Buffer): Hl7Message {
  try {
    return Hl7Message.parse(reply);
  } catch (err) {
    if (err instanceof Hl7ParseError && err.code === Hl7ErrorCode.Charset)
      return Hl7Message.parse(reply.toString('latin1'));
    throw err;
  }
}

const seeds = corpusFiles('hl7v2', (name) => /\.(hl7|txt)$/i.test(name))
  .map((file) => readFileSync(file))
  .filter((b) => /^(\xef\xbb\xbf)?[\r\n ]*(MSH|FHS|BHS)/.test(b.toString('latin1', 0, 16)));

describe('fuzzing a live MllpServer', () => {
  let server: MllpServer;
  const problems: MllpError[] = [];

  beforeAll(async () => {
    server = new MllpServer({ port: 0, maxMessageBytes: 16 * 1024, idleTimeoutMs: 5_000 }, ackingHandler());
    server.on('connectionError', (e) => problems.push(e));
    await server.start();
  });
  afterAll(() => server.stop(1_000));

  it('has corpus messages to mutate', () => {
    expect(seeds.length).toBeGreaterThan(50);
  });

  it('answers every mutated corpus message with a well-formed ACK, and never AA for what cannot be parsed', async () => {
    const rand = prng(0x5eed);
    const lanes = await Promise.all([1, 2, 3, 4].map(() => RawConnection.open(server.port)));
    const sent: Buffer[][] = lanes.map(() => []);
    for (let i = 0; i < 400; i++) {
      const lane = i % lanes.length;
      const payload = mutate(seeds[int(rand, seeds.length)] as Buffer, rand);
      sent[lane]?.push(payload);
      // Frames go out cut at random places, several per write.
      const frame = encodeFrame(payload);
      const cut = int(rand, frame.length);
      lanes[lane]?.write(frame.subarray(0, cut));
      lanes[lane]?.write(frame.subarray(cut));
    }
    let garbage = 0;
    for (const [lane, conn] of lanes.entries()) {
      const payloads = sent[lane] as Buffer[];
      // An oversize frame is answered with AR and closes its connection: nothing after it is answered.
      const oversize = payloads.findIndex((p) => p.length > 16 * 1024);
      const expected = oversize >= 0 ? oversize + 1 : payloads.length;
      const replies = await conn.waitForFrames(expected, 15_000);
      expect(replies.length).toBe(expected);
      if (oversize >= 0) expect(readAck(parseReply(replies[oversize] as Buffer)).code).toBe('AR');
      replies.forEach((reply, k) => {
        const ack = readAck(parseReply(reply));
        const oracle = mayAccept(payloads[k] as Buffer);
        expect(['AA', 'AE', 'AR']).toContain(ack.code);
        if (!oracle.ok) {
          garbage++;
          expect(ack.code).not.toBe('AA');
        } else if (ack.code === 'AA') {
          expect(ack.controlId).toBe(oracle.controlId);
        }
      });
      conn.destroy();
    }
    expect(garbage).toBeGreaterThan(50);
  });

  it('answers random bytes, sent on several connections, with nothing but negative ACKs', async () => {
    const rand = prng(0xbadf00d);
    const lanes = await Promise.all([1, 2, 3, 4].map(() => RawConnection.open(server.port)));
    for (const conn of lanes) {
      for (let k = 0; k < 40; k++) {
        // Block characters and carriage returns are made common, so that frames start and end.
        const chunk = Buffer.from(
          Array.from({ length: 1 + int(rand, 2048) }, () => {
            const p = rand();
            if (p < 0.01) return MLLP_START_BLOCK;
            if (p < 0.02) return MLLP_END_BLOCK;
            if (p < 0.04) return 0x0d;
            return int(rand, 256);
          }),
        );
        conn.write(chunk);
      }
      conn.socket.end();
    }
    await Promise.all(lanes.map((c) => c.waitForClose(10_000)));
    const replies = lanes.flatMap((c) => c.frames);
    expect(replies.length).toBeGreaterThan(20);
    for (const reply of replies) {
      const ack = readAck(Hl7Message.parse(reply));
      expect(['AE', 'AR']).toContain(ack.code);
    }
  });

  it('still answers a good message on a fresh connection, having had no internal error', async () => {
    const conn = await RawConnection.open(server.port);
    conn.write(encodeFrame(adt('AFTERFUZZ')));
    const [reply] = await conn.waitForFrames(1);
    expect(readAck(Hl7Message.parse(reply as Buffer))).toMatchObject({ code: 'AA', controlId: 'AFTERFUZZ' });
    conn.destroy();
    expect(
      problems.filter((p) => p.code === 'mllp.internal_error' || p.code === 'mllp.handler_failed'),
    ).toEqual([]);
    expect(server.stats.frames).toBeGreaterThan(400);
  });
});
