import fc from 'fast-check';
import { MllpError } from './errors';
import { DEFAULT_MAX_MESSAGE_BYTES, MllpDecoder, encodeFrame, type MllpDecoded } from './framing';

const MSG = 'MSH|^~\\&|LAB|NORTH|EHR|CLINIC|20260101120000||ORU^R01|CTRL0001|P|2.5.1\rPID|1||12345\r';
const VT = 0x0b;
const FS = 0x1c;
const CR = 0x0d;

const bytes = (...parts: Array<number | string>): Buffer =>
  Buffer.concat(parts.map((p) => (typeof p === 'number' ? Buffer.from([p]) : Buffer.from(p, 'latin1'))));

const payloads = (items: MllpDecoded[]): string[] =>
  items.map((d) => (d.type === 'frame' ? d.payload.toString('latin1') : `<oversize ${d.bytes}>`));

function feed(decoder: MllpDecoder, chunks: Buffer[]): MllpDecoded[] {
  return chunks.flatMap((c) => decoder.push(c));
}

describe('encodeFrame', () => {
  it('wraps the payload in 0x0B … 0x1C 0x0D, byte for byte', () => {
    expect(encodeFrame('MSH|^~\\&|A\r')).toEqual(bytes(VT, 'MSH|^~\\&|A\r', FS, CR));
    expect(encodeFrame(Buffer.from([0x41, 0xe9]))).toEqual(Buffer.from([VT, 0x41, 0xe9, FS, CR]));
    expect(encodeFrame('')).toEqual(Buffer.from([VT, FS, CR]));
  });

  it('writes strings as UTF-8', () => {
    expect(encodeFrame('é')).toEqual(Buffer.from([VT, 0xc3, 0xa9, FS, CR]));
  });

  it('refuses a payload holding a block character', () => {
    expect(() => encodeFrame(bytes('MSH', FS, 'x'))).toThrow(MllpError);
    expect(() => encodeFrame(bytes('MSH', VT))).toThrow(
      expect.objectContaining({ code: 'mllp.invalid_message' }),
    );
  });
});

describe('MllpDecoder', () => {
  it('decodes one frame given in one chunk', () => {
    const d = new MllpDecoder();
    expect(payloads(d.push(bytes(VT, MSG, FS, CR)))).toEqual([MSG]);
    expect(d.stats).toEqual({ frames: 1, discardedBytes: 0, oversizeFrames: 0, partialFrames: 0 });
    expect(d.inFrame).toBe(false);
  });

  it('decodes a frame fed one byte at a time', () => {
    const d = new MllpDecoder();
    const wire = bytes(VT, MSG, FS, CR);
    const out: MllpDecoded[] = [];
    for (let i = 0; i < wire.length; i++) {
      out.push(...d.push(wire.subarray(i, i + 1)));
      if (i > 0 && i < wire.length - 2) expect(d.inFrame).toBe(true);
    }
    expect(payloads(out)).toEqual([MSG]);
    expect(d.stats.discardedBytes).toBe(0);
  });

  it('decodes several frames in one chunk, in order', () => {
    const d = new MllpDecoder();
    const out = d.push(bytes(VT, 'MSH|1', FS, CR, VT, 'MSH|2', FS, CR, VT, 'MSH|3', FS, CR));
    expect(payloads(out)).toEqual(['MSH|1', 'MSH|2', 'MSH|3']);
    expect(d.stats.frames).toBe(3);
  });

  it('completes a frame whose end block and carriage return arrive in separate chunks', () => {
    const d = new MllpDecoder();
    expect(d.push(bytes(VT, 'MSH|1'))).toEqual([]);
    expect(payloads(d.push(bytes(FS)))).toEqual(['MSH|1']);
    expect(d.push(bytes(CR, VT, 'MSH|2'))).toEqual([]);
    expect(payloads(d.push(bytes(FS, CR)))).toEqual(['MSH|2']);
    expect(d.stats.discardedBytes).toBe(0);
  });

  it('drops and counts bytes before a start block', () => {
    const d = new MllpDecoder();
    const out = feed(d, [bytes('GET / HTTP/1.1\r\n'), bytes('\n\n', VT, 'MSH|1', FS, CR, '\n')]);
    expect(payloads(out)).toEqual(['MSH|1']);
    expect(d.stats.discardedBytes).toBe(16 + 2 + 1);
  });

  it('ends a frame at an end block that lacks its carriage return', () => {
    const d = new MllpDecoder();
    const out = d.push(bytes(VT, 'MSH|1', FS, VT, 'MSH|2', FS, 'x'));
    expect(payloads(out)).toEqual(['MSH|1', 'MSH|2']);
    expect(d.stats.discardedBytes).toBe(1);
  });

  it('drops an unfinished frame when a new start block arrives', () => {
    const d = new MllpDecoder();
    const out = feed(d, [bytes(VT, 'MSH|cut'), bytes(VT, 'MSH|whole', FS, CR)]);
    expect(payloads(out)).toEqual(['MSH|whole']);
    expect(d.stats.partialFrames).toBe(1);
  });

  it('gives an empty payload for an empty frame', () => {
    expect(payloads(new MllpDecoder().push(bytes(VT, FS, CR)))).toEqual(['']);
  });

  it('drops and counts a partial frame when the stream ends', () => {
    const d = new MllpDecoder();
    expect(d.push(bytes(VT, 'MSH|1', FS, CR, VT, 'MSH|par'))).toHaveLength(1);
    expect(d.inFrame).toBe(true);
    expect(d.end()).toBe(7);
    expect(d.stats).toMatchObject({ frames: 1, partialFrames: 1 });
    expect(d.inFrame).toBe(false);
    expect(d.end()).toBe(0);
    expect(d.stats.partialFrames).toBe(1);
  });

  describe('size limit', () => {
    it('defaults to 1 MiB', () => {
      expect(new MllpDecoder().maxMessageBytes).toBe(1_048_576);
      expect(DEFAULT_MAX_MESSAGE_BYTES).toBe(1_048_576);
    });

    it('accepts a payload of exactly the limit and reports one byte more as oversize', () => {
      const d = new MllpDecoder({ maxMessageBytes: 10 });
      expect(payloads(d.push(bytes(VT, 'MSH|567890', FS, CR)))).toEqual(['MSH|567890']);
      const out = d.push(bytes(VT, 'MSH|5678901', FS, CR));
      expect(out).toEqual([{ type: 'oversize', head: Buffer.from('MSH|567890'), bytes: 11 }]);
      expect(d.stats).toMatchObject({ frames: 1, oversizeFrames: 1 });
    });

    it('reports the oversize frame as soon as it passes the limit, keeps its head, and skips the rest', () => {
      const d = new MllpDecoder({ maxMessageBytes: 16 });
      expect(d.push(bytes(VT, 'MSH|^~\\&|'))).toEqual([]);
      const out = d.push(bytes('A|B|C|D|E|F'));
      expect(out).toEqual([{ type: 'oversize', head: Buffer.from('MSH|^~\\&|A|B|C|D'), bytes: 20 }]);
      expect(d.inFrame).toBe(true);
      expect(d.push(Buffer.alloc(1000, 0x41))).toEqual([]);
      expect(payloads(d.push(bytes('tail', FS, CR, VT, 'MSH|next', FS, CR)))).toEqual(['MSH|next']);
      expect(d.stats).toEqual({ frames: 1, discardedBytes: 0, oversizeFrames: 1, partialFrames: 0 });
    });

    it('keeps at most 64 KiB of an oversize frame', () => {
      const d = new MllpDecoder({ maxMessageBytes: 200_000 });
      const [first] = d.push(Buffer.concat([bytes(VT), Buffer.alloc(300_000, 0x41), bytes(FS, CR)]));
      expect(first).toMatchObject({ type: 'oversize', bytes: 300_000 });
      expect(first?.type === 'oversize' && first.head.length).toBe(65_536);
    });

    it('lets a start block end the skipping of an oversize frame', () => {
      const d = new MllpDecoder({ maxMessageBytes: 4 });
      const out = d.push(bytes(VT, 'MSH|toolong', VT, 'MSH|', FS, CR));
      expect(payloads(out)).toEqual(['<oversize 11>', 'MSH|']);
    });

    it('refuses a limit that is not a positive integer', () => {
      expect(() => new MllpDecoder({ maxMessageBytes: 0 })).toThrow(RangeError);
      expect(() => new MllpDecoder({ maxMessageBytes: 1.5 })).toThrow(RangeError);
    });
  });

  describe('properties', () => {
    const payload = fc
      .uint8Array({ maxLength: 300 })
      .map((a) => Buffer.from(a.filter((b) => b !== VT && b !== FS)));
    const noStart = fc.uint8Array({ maxLength: 20 }).map((a) => Buffer.from(a.filter((b) => b !== VT)));

    /** Splits a buffer at the given cut points. */
    const cut = (wire: Buffer, points: number[]): Buffer[] => {
      const at = [...new Set(points.map((p) => p % (wire.length + 1)))].sort((a, b) => a - b);
      const chunks: Buffer[] = [];
      let prev = 0;
      for (const p of [...at, wire.length]) {
        chunks.push(wire.subarray(prev, p));
        prev = p;
      }
      return chunks;
    };

    it('decodes the same payloads however the stream is cut into chunks', () => {
      fc.assert(
        fc.property(
          fc.array(payload, { maxLength: 8 }),
          fc.array(fc.nat(), { maxLength: 30 }),
          (msgs, points) => {
            const wire = Buffer.concat(msgs.map((m) => encodeFrame(m)));
            const d = new MllpDecoder();
            const out = feed(d, cut(wire, points));
            expect(out.map((o) => (o.type === 'frame' ? o.payload : undefined))).toEqual(msgs);
            expect(d.stats).toEqual({
              frames: msgs.length,
              discardedBytes: 0,
              oversizeFrames: 0,
              partialFrames: 0,
            });
          },
        ),
        { numRuns: 300 },
      );
    });

    it('counts every byte sent between frames as discarded, and nothing else', () => {
      fc.assert(
        fc.property(
          fc.array(fc.tuple(noStart, payload), { maxLength: 6 }),
          fc.array(fc.nat(), { maxLength: 20 }),
          (items, points) => {
            const junk = items.map(([j]) => j);
            const wire = Buffer.concat(items.flatMap(([, m], i) => [junk[i] as Buffer, encodeFrame(m)]));
            const d = new MllpDecoder();
            const out = feed(d, cut(wire, points));
            expect(out.map((o) => (o.type === 'frame' ? o.payload : undefined))).toEqual(
              items.map(([, m]) => m),
            );
            expect(d.stats.discardedBytes).toBe(junk.reduce((n, j) => n + j.length, 0));
          },
        ),
        { numRuns: 300 },
      );
    });

    it('reports a frame as oversize exactly when its payload passes the limit', () => {
      fc.assert(
        fc.property(
          fc.array(payload, { minLength: 1, maxLength: 6 }),
          fc.integer({ min: 1, max: 300 }),
          (msgs, max) => {
            const d = new MllpDecoder({ maxMessageBytes: max });
            const out = d.push(Buffer.concat(msgs.map((m) => encodeFrame(m))));
            expect(out.map((o) => o.type)).toEqual(msgs.map((m) => (m.length > max ? 'oversize' : 'frame')));
          },
        ),
        { numRuns: 300 },
      );
    });
  });
});
