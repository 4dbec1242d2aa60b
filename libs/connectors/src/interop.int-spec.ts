import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Hl7Message, readAck } from '@sinew/hl7v2';
import { MllpDecoder } from '@sinew/mllp';
import {
  describeWithPeer,
  mllpSendPeer,
  pythonHl7Peer,
  runMllpSend,
  startMedplumListener,
  startPythonHl7Server,
  type Peer,
  type PeerListener,
} from '@sinew/test-support/peers';
import { ackFor, adt, D, recordingIngest, recordingLogger } from '../test/support';
import type { DeliveryRequest, Destination, Source } from './connector';
import { mllpDestination, mllpDestinationConfig } from './mllp.destination';
import { mllpSource, mllpSourceConfig } from './mllp.source';

jest.setTimeout(20_000);

describeWithPeer(mllpSendPeer, "python-hl7's mllp_send sending to the mllp source", () => {
  let source: Source;
  let dir: string;
  const ingest = recordingIngest((req) =>
    Hl7Message.parse(req.body).controlId.endsWith('E')
      ? { disposition: D.rejected, reply: ackFor(req.body, 'AE', 'refused') }
      : { disposition: D.accepted, reply: ackFor(req.body, 'AA') },
  );

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sinew-connectors-mllp-send-'));
    source = mllpSource.create(mllpSourceConfig.parse({ listen: 0 }), {
      channelId: 'c',
      ingest,
      logger: recordingLogger(),
    });
    await source.start();
  });
  afterAll(async () => {
    await source.stop(1_000);
    rmSync(dir, { recursive: true, force: true });
  });

  it('gets the engine ACK for each message, AA and AE', async () => {
    const file = join(dir, 'messages.hl7');
    writeFileSync(file, [adt('IOP1'), adt('IOPE')].map((b) => b.toString('latin1')).join('\n'), 'latin1');
    const run = await runMllpSend(file, source.port?.() as number);
    expect(run.status).toBe(0);
    const acks = new MllpDecoder().push(run.stdout).map((f) => {
      if (f.type !== 'frame') throw new Error('oversize reply');
      return readAck(Hl7Message.parse(f.payload));
    });
    expect(acks.map((a) => [a.code, a.controlId])).toEqual([
      ['AA', 'IOP1'],
      ['AE', 'IOPE'],
    ]);
    expect(ingest.requests).toHaveLength(2);
  });
});

/** The mllp destination against a listener we did not write, answering AE when MSH-10 ends with E. */
function destinationAgainst(peer: Peer, title: string, start: () => Promise<PeerListener>): void {
  describeWithPeer(peer, title, () => {
    let listener: PeerListener;
    let destination: Destination;

    beforeAll(async () => {
      listener = await start();
      destination = mllpDestination.create(
        mllpDestinationConfig.parse({ url: `mllp://127.0.0.1:${listener.port}`, ack_timeout_ms: 5_000 }),
        { channelId: 'c', destination: 'peer', logger: recordingLogger() },
      );
    });
    afterAll(async () => {
      await destination?.close();
      await listener?.stop();
    });

    const delivery = (controlId: string): DeliveryRequest => ({
      messageId: controlId,
      deliveryId: controlId,
      attempt: 1,
      body: adt(controlId),
      contentType: 'hl7v2',
      channelId: 'c',
      destination: 'peer',
    });

    it('AA is sent with the peer ACK kept; AE is retried', async () => {
      const ok = await destination.send(delivery('PEER1'));
      expect(ok).toMatchObject({ status: 'sent', code: 'AA' });
      expect(Hl7Message.parse(ok.response as Buffer).get('MSA-2')).toBe('PEER1');
      expect(await destination.send(delivery('PEERE'))).toMatchObject({ status: 'retry', code: 'AE' });
    });
  });
}

destinationAgainst(
  pythonHl7Peer,
  "mllp destination sending to python-hl7's asyncio MLLP server",
  startPythonHl7Server,
);
destinationAgainst(
  { name: '@medplum/hl7', available: true, install: 'npm ci (dev dependency)' },
  "mllp destination sending to @medplum/hl7's MLLP connection",
  startMedplumListener,
);
