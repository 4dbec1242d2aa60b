import { AccessService } from '@sinew/auth';
import { createLogger } from '@sinew/engine';
import { Hl7Message } from '@sinew/hl7v2';
import { MllpClient } from '@sinew/mllp';
import { openStore, type Store } from '@sinew/store';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../../../test/support/engine-process';
import { waitFor } from '../../../../test/support/wait';
import { loadConfig } from '../config';
import { startEngine, type RunningEngine } from '../run';

jest.setTimeout(60_000);

interface DeliveryView {
  destination: string;
  status: string;
  after?: string;
  waiting?: string;
}

describe('a delivery that waits for another destination in the admin API', () => {
  let dir: string;
  let running: RunningEngine | undefined;
  let store: Store | undefined;

  afterAll(async () => {
    await running?.stop();
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('shows after and the waiting state while the awaited destination cannot be reached', async () => {
    dir = mkdtempSync(join(tmpdir(), 'sinew-sequence-api-'));
    mkdirSync(join(dir, 'channels'));
    const [port, closed] = [await freePort(), await freePort()];
    writeFileSync(
      join(dir, 'channels', 'seq.yaml'),
      `id: seq
source: { type: mllp, listen: ${port} }
destinations:
  - name: ehr
    type: http
    url: http://127.0.0.1:${closed}/fhir
    payload: raw
    retry: { attempts: 100, initial_delay_ms: 1000 }
  - name: pms
    type: file
    directory: ${join(dir, 'out')}
    after: ehr
    retry: { attempts: 3 }
`,
    );
    const config = loadConfig({
      SINEW_CHANNELS_DIR: join(dir, 'channels'),
      SINEW_DATA_DIR: join(dir, 'data'),
      SINEW_HTTP_PORT: '0',
      SINEW_PIPELINE_THREADS: '0',
    });
    running = await startEngine(config, createLogger('silent'));
    store = await openStore({ dataDir: join(dir, 'data') });
    const client = new MllpClient({ host: '127.0.0.1', port });
    const sent = await client.send(
      Hl7Message.parse(
        'MSH|^~\\&|LAB|NORTH|EHR|CLINIC|20261201100000||ORU^R01|SEQ-API-1|P|2.5.1\rPID|1||M-1\r',
      ),
    );
    expect(sent.code).toBe('AA');
    await client.close();
    const s = store;
    const [m] = await waitFor('the message processed', async () => {
      const found = await s.searchMessages({ channelId: 'seq', status: 'processed' });
      return found.length ? found : undefined;
    });
    const { secret } = await new AccessService(s).createKey({ name: 'reader', scopes: ['messages:read'] });
    const res = await fetch(`http://127.0.0.1:${running.httpPort}/api/v1/messages/${m!.id}`, {
      headers: { authorization: `Bearer ${secret}` },
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { deliveries: DeliveryView[] };
    const pms = body.deliveries.find((d) => d.destination === 'pms');
    expect(pms).toMatchObject({ status: 'parked', after: 'ehr', waiting: 'after ehr' });
    expect(body.deliveries.find((d) => d.destination === 'ehr')).not.toHaveProperty('after');
  });
});
