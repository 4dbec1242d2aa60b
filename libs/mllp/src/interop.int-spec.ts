import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Hl7Message, readAck } from '@sinew/hl7v2';
import { corpusFiles } from '@sinew/test-support';
import {
  describeWithPeer,
  mllpSendPeer,
  pythonHl7Peer,
  runMllpSend,
  startMedplumListener,
  startPythonHl7Server,
  type Peer,
  type PeerListener,
} from '../../../test/support/peers';
import { adt } from '../test/raw-connection';
import { ackingHandler } from './acks';
import { MllpClient } from './client';
import { MllpDecoder } from './framing';
import { MllpServer } from './server';

jest.setTimeout(20_000);

/** The fhir-converter samples that start with `MSH|^~\&|` (no byte-order mark), as mllp_send needs. */
const samples = corpusFiles('fhir-converter-01/hl7v2-samples', (n) => n.endsWith('.hl7'))
  .map((file) => readFileSync(file, 'latin1'))
  .filter((text) => text.startsWith('MSH|^~\\&|'));

/** MSH-10 read by splitting the first line, independently of Sinew's parser. */
const msh10 = (text: string) => text.split(/[\r\n]/)[0]?.split('|')[9] ?? '';

describeWithPeer(mllpSendPeer, "python-hl7's mllp_send sending to MllpServer", () => {
  let server: MllpServer;
  let dir: string;
  const received: string[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sinew-mllp-send-'));
    server = new MllpServer(
      { port: 0 },
      ackingHandler((m) => void received.push(m.controlId)),
    );
    await server.start();
  });
  afterAll(async () => {
    await server.stop(1_000);
    rmSync(dir, { recursive: true, force: true });
  });

  it('gets AA for every corpus message, with MSA-2 = its MSH-10, and AE for a broken one', async () => {
    const broken = 'MSH|^~\\&|LAB|NORTH|SINEW|CLINIC|20260101||ORU^R01|BROKEN01|P|2.5.1\rp!d|1||42\r';
    const file = join(dir, 'messages.hl7');
    writeFileSync(file, [...samples, broken].join('\n'), 'latin1');

    const run = await runMllpSend(file, server.port);
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);

    const decoder = new MllpDecoder();
    const acks = decoder.push(run.stdout).map((f) => {
      if (f.type !== 'frame') throw new Error('oversize reply');
      return readAck(Hl7Message.parse(f.payload));
    });
    expect(samples.length).toBeGreaterThan(40);
    expect(acks.map((a) => [a.code, a.controlId])).toEqual([
      ...samples.map((s) => ['AA', msh10(s)]),
      ['AE', 'BROKEN01'],
    ]);
    expect(received).toEqual(samples.map(msh10));
  });
});

/** Our client against a listener we did not write, answering AE when MSH-10 ends with E. */
function clientAgainst(peer: Peer, title: string, start: () => Promise<PeerListener>): void {
  describeWithPeer(peer, title, () => {
    let listener: PeerListener;
    let client: MllpClient;

    beforeAll(async () => {
      listener = await start();
      client = new MllpClient({ host: '127.0.0.1', port: listener.port, ackTimeoutMs: 5_000 });
    });
    afterAll(async () => {
      await client?.close();
      await listener?.stop();
    });

    it('reads its AA and AE and matches them by MSA-2', async () => {
      const ok = await client.send(adt('INTEROP1'));
      const bad = await client.send(adt('INTEROPE'));
      expect(ok).toMatchObject({ status: 'accepted', code: 'AA', controlId: 'INTEROP1' });
      expect(ok.ack?.get('MSA-2')).toBe('INTEROP1');
      expect(bad).toMatchObject({ status: 'error', code: 'AE', controlId: 'INTEROPE' });
    });

    it('sends corpus messages and gets each one acknowledged', async () => {
      for (const text of samples.slice(0, 10)) {
        const message = Hl7Message.parse(text.replace(/\r?\n/g, '\r'));
        const result = await client.send(message);
        expect(result).toMatchObject({ status: 'accepted', controlId: msh10(text) });
      }
      expect(client.stats).toMatchObject({ connects: 1, unmatchedAcks: 0, invalidReplies: 0 });
    });
  });
}

clientAgainst(pythonHl7Peer, "MllpClient sending to python-hl7's asyncio MLLP server", startPythonHl7Server);
clientAgainst(
  { name: '@medplum/hl7', available: true, install: 'npm ci (dev dependency)' },
  "MllpClient sending to @medplum/hl7's MLLP connection",
  startMedplumListener,
);
