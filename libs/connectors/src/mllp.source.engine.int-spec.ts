import { mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { builtInRegistries, compileChannelOrThrow } from '@sinew/channels';
import { Engine, createLogger } from '@sinew/engine';
import { Hl7Message, Hl7ParseError, readAck } from '@sinew/hl7v2';
import { TransformerLibrary } from '@sinew/mapping';
import { MllpDecoder, encodeFrame } from '@sinew/mllp';
import { MemoryQueueDriver } from '@sinew/queue';
import { openStore, type Store } from '@sinew/store';
import { waitFor } from '@sinew/test-support/wait';

jest.setTimeout(60_000);

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
/** Random bytes, never a block character (each payload travels as exactly one frame). */
function randomBytes(rand: Rand, n: number): Buffer {
  const out = Buffer.alloc(n);
  for (let i = 0; i < n; i++) {
    let b = int(rand, 256);
    while (b === 0x0b || b === 0x1c) b = int(rand, 256);
    out[i] = b;
  }
  return out;
}

/** `n` distinct random 7-bit bytes that are neither letters, digits, space, CR, LF nor block characters. */
function oddDelimiters(rand: Rand, n: number): number[] {
  const out: number[] = [];
  while (out.length < n) {
    const b = int(rand, 128);
    const usable = !/[A-Za-z0-9 \r\n\x0b\x1c]/.test(String.fromCharCode(b));
    if (usable && !out.includes(b)) out.push(b);
  }
  return out;
}

/** Random 7-bit bytes without CR, LF, block characters or the given delimiters. */
function randomText(rand: Rand, n: number, avoid: number[]): Buffer {
  const out: number[] = [];
  while (out.length < n) {
    const b = int(rand, 128);
    if (b !== 0x0d && b !== 0x0a && b !== 0x0b && b !== 0x1c && !avoid.includes(b)) out.push(b);
  }
  return Buffer.from(out);
}

/**
 * Four kinds of random frame, in turn: bytes alone; `MSH` and bytes; `MSH` with random
 * (distinct) delimiters, control characters included, and random fields, which parses; the
 * same with a few random segments after it.
 */
function randomFrame(rand: Rand, i: number): Buffer {
  switch (i % 4) {
    case 0:
      return randomBytes(rand, 1 + int(rand, 400));
    case 1:
      return Buffer.concat([Buffer.from('MSH'), randomBytes(rand, int(rand, 400))]);
    default: {
      const delimiters = oddDelimiters(rand, 5);
      const fs = Buffer.from([delimiters[0] as number]);
      const parts: Buffer[] = [Buffer.from('MSH'), fs, Buffer.from(delimiters.slice(1))];
      for (let f = 0; f < 8 + int(rand, 12); f++)
        parts.push(fs, randomText(rand, 1 + int(rand, 12), delimiters));
      if (i % 4 === 3) {
        for (let s = 0; s < 1 + int(rand, 3); s++)
          parts.push(Buffer.from('\rPID'), fs, randomText(rand, int(rand, 60), [delimiters[0] as number]));
      }
      return Buffer.concat(parts);
    }
  }
}

/** One connection that sends frames and collects the replies in order. */
class Lane {
  readonly replies: Buffer[] = [];
  closed = false;
  private readonly decoder = new MllpDecoder({ maxMessageBytes: 1 << 20 });

  private constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      for (const item of this.decoder.push(chunk)) if (item.type === 'frame') this.replies.push(item.payload);
    });
    socket.on('close', () => (this.closed = true));
    socket.on('error', () => undefined);
  }

  static open(port: number): Promise<Lane> {
    return new Promise((resolve, reject) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('error', reject);
      socket.once('connect', () => resolve(new Lane(socket)));
    });
  }
}

/** The code of a reply as a peer reads it, or why it cannot be read. */
function ackCode(reply: Buffer): string {
  try {
    return readAck(Hl7Message.parse(reply)).code;
  } catch (err) {
    return `unreadable (${err instanceof Hl7ParseError ? err.code : 'error'})`;
  }
}

describe('an engine MLLP channel', () => {
  let dir: string;
  let store: Store;
  let engine: Engine;
  let port: number;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sinew-mllp-fuzz-'));
    const library = TransformerLibrary.load();
    const registries = builtInRegistries(library);
    const channel = compileChannelOrThrow(
      'id: fuzz\nsource: { type: mllp, listen: 0 }\ndestinations: []\n',
      'fuzz.yaml',
      registries,
    );
    const guarded = compileChannelOrThrow(
      'id: guarded\nsource: { type: mllp, listen: 0, max_connections_per_peer: 1 }\ndestinations: []\n',
      'guarded.yaml',
      registries,
    );
    store = await openStore({ dataDir: dir });
    engine = new Engine({
      channels: [channel, guarded],
      store,
      queue: new MemoryQueueDriver(),
      transformers: library,
      logger: createLogger('silent'),
    });
    await engine.start();
    port = engine.source('fuzz')?.port?.() as number;
  });
  afterAll(async () => {
    await engine.stop(2_000);
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers each of 500 seeded random frames, and never AA (fuzz)', async () => {
    const rand = prng(0x5eed_f00d);
    const lanes = await Promise.all([1, 2, 3, 4].map(() => Lane.open(port)));
    const sent: number[] = [0, 0, 0, 0];
    for (let i = 0; i < 500; i++) {
      const payload = randomFrame(rand, i);
      lanes[i % 4]?.socket.write(encodeFrame(payload));
      sent[i % 4] = (sent[i % 4] as number) + 1;
    }
    // Waits for every reply, or for the connections that will bring no more to close.
    await waitFor(
      'the replies',
      () => lanes.every((l, k) => l.replies.length >= (sent[k] as number) || l.closed),
      30_000,
    ).catch(() => undefined);
    const codes: Record<string, number> = {};
    for (const lane of lanes) {
      for (const reply of lane.replies) {
        const code = ackCode(reply);
        codes[code] = (codes[code] ?? 0) + 1;
      }
      lane.socket.destroy();
    }
    // Every frame answered, on connections that stayed open, with an ACK a peer can read: AE.
    expect(lanes.map((l) => l.replies.length)).toEqual(sent);
    expect(codes).toEqual({ AE: 500 });
  });

  it('still answers AA to a sound message, and AE without echoing a header whose delimiters are control characters', async () => {
    const sound = Buffer.from('MSH|^~\\&|LAB|NORTH|SINEW|CLINIC|20250101120000||ADT^A01|FUZZ-OK|P|2.5.1\r');
    const odd = Buffer.from(
      'MSH\x01\x02\x03\x04\x05\x01LAB\x01\x01\x01\x01\x01\x01ADT\x01ODD-1\x01P\x012.5.1\r',
    );
    const lane = await Lane.open(port);
    lane.socket.write(Buffer.concat([encodeFrame(sound), encodeFrame(odd)]));
    await waitFor('two replies', () => lane.replies.length === 2 || undefined);
    lane.socket.destroy();
    const [accepted, refused] = lane.replies.map((r) => Hl7Message.parse(r));
    expect(readAck(accepted as Hl7Message)).toMatchObject({ code: 'AA', controlId: 'FUZZ-OK' });
    expect(readAck(refused as Hl7Message)).toMatchObject({ code: 'AE', controlId: 'ODD-1' });
    expect(refused?.get('ERR-2')).toContain('MSH');
    expect(refused?.get('ERR-3.1')).toBe('102');
    expect(refused?.toString().startsWith('MSH|^~\\&|')).toBe(true);
    // Nothing refused is stored: the ledger holds the sound message only (the random frames neither).
    expect((await store.searchMessages({ channelId: 'fuzz' })).map((m) => m.controlId)).toEqual(['FUZZ-OK']);
  });

  it('counts the connections its source refuses in sinew_source_connections_closed_total', async () => {
    const guardedPort = engine.source('guarded')?.port?.() as number;
    const first = await Lane.open(guardedPort);
    const second = await Lane.open(guardedPort);
    await waitFor('the second connection closed', () => second.closed || undefined);
    first.socket.destroy();
    const text = await engine.metrics.registry.metrics();
    expect(text).toContain(
      'sinew_source_connections_closed_total{channel="guarded",reason="per_peer_limit"} 1',
    );
  });
});
