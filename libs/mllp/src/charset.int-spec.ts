import * as iconv from 'iconv-lite';
import { Hl7Message, readAck } from '@sinew/hl7v2';
import { RawConnection } from '../test/raw-connection';
import { ackingHandler } from './acks';
import { MllpClient } from './client';
import { encodeFrame } from './framing';
import { MllpServer } from './server';

jest.setTimeout(15_000);

const message = (msh18: string, controlId: string, family: string) =>
  `MSH|^~\\&|LAB|Szpital Łódź|EHR|Klinika Śląska|20260301120000||ADT^A01|${controlId}|P|2.5.1||||||${msh18}\r` +
  `PID|1||MRN1||${family}^Małgorzata||19800101|F\r`;

describe('MLLP in single-byte character sets', () => {
  let server: MllpServer;
  let client: MllpClient;
  const received: Array<{ bytes: Buffer; family: string }> = [];

  beforeAll(async () => {
    server = new MllpServer(
      { port: 0 },
      ackingHandler((msg) => {
        received.push({ bytes: msg.toBuffer(), family: msg.get('PID-5.1') });
      }),
    );
    await server.start();
    client = new MllpClient({ host: '127.0.0.1', port: server.port });
  });

  afterAll(async () => {
    await client.close();
    await server.stop(1_000);
  });

  it.each([
    ['8859/2', 'iso-8859-2', 'Łukaszewicz-Wąsowska'],
    ['8859/7', 'iso-8859-7', 'Παπαδοπούλου'],
    ['CP1252', 'windows-1252', 'O’Brien €'],
  ])('%s: bytes and string go out as %s, the ACK comes back in it', async (msh18, encoding, family) => {
    // Greek and the euro sign are not in 8859/2: the header's names vary with the set.
    const text = message(msh18, `C-${msh18}`, family).replace(/Szpital Łódź|Klinika Śląska/g, (m) =>
      msh18 === '8859/2' ? m : m.replace(/[^\x20-\x7e]/g, 'z'),
    );
    const bytes = iconv.encode(text, encoding);
    for (const input of [bytes, text]) {
      received.length = 0;
      const result = await client.send(input);
      expect(result.code).toBe('AA');
      expect(received).toHaveLength(1);
      // The receiver holds exactly the sender's bytes, and reads the name.
      expect(received[0]?.bytes.equals(bytes)).toBe(true);
      expect(received[0]?.family).toBe(family);
      const ack = result.ack as Hl7Message;
      expect(ack.get('MSH-18')).toBe(msh18);
      expect(ack.encoding).toBe(encoding);
      expect(readAck(ack).controlId).toBe(`C-${msh18}`);
      // The ACK's receiving facility (the sender's MSH-4) came back as the same bytes.
      expect(ack.toBuffer().includes(iconv.encode(`|${ack.get('MSH-6')}|`, encoding))).toBe(true);
      expect(ack.get('MSH-6')).toBe(text.split('|')[3]);
    }
  });

  it('answers AE naming the value for a character set it cannot read', async () => {
    // The client refuses to send what it cannot parse: write the frame on a bare socket.
    const c = await RawConnection.open(server.port);
    try {
      c.write(encodeFrame(Buffer.from(message('KOI8-R', 'C-KOI', 'Ivanov'), 'latin1')));
      await c.waitForFrames(1);
      const ack = readAck(Hl7Message.parse(c.frames[0] as Buffer));
      expect(ack.code).toBe('AE');
      expect(ack.controlId).toBe('C-KOI');
      expect(ack.text).toContain('hl7.charset');
      expect(ack.text).toContain('"KOI8-R"');
    } finally {
      c.destroy();
    }
  });
});
