import { AccessService } from '@sinew/auth';
import { createLogger } from '@sinew/engine';
import { openStore, type Store } from '@sinew/store';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../../test/support/engine-process';
import { loadConfig } from './config';
import { startEngine, type RunningEngine } from './run';

jest.setTimeout(60_000);

const ORU = [
  'MSH|^~\\&|LAB|NORTH|EHR|CLINIC|20261201100000||ORU^R01|KEY-1|P|2.5.1',
  'PID|1||MRN-K1^^^NORTH^MR||DOE^JANE',
  '',
].join('\r');

describe('the HTTP source takes Sinew API keys holding ingest:<channel>', () => {
  let dir: string;
  let running: RunningEngine;
  let store: Store;
  let url: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sinew-ingest-keys-'));
    mkdirSync(join(dir, 'channels'));
    const port = await freePort();
    url = `http://127.0.0.1:${port}/in`;
    writeFileSync(
      join(dir, 'channels', 'lab-http.yaml'),
      `id: lab-http
source: { type: http, listen: ${port}, path: /in, api_keys: true }
destinations:
  - name: archive
    type: file
    directory: ${join(dir, 'out')}
`,
    );
    running = await startEngine(
      loadConfig({
        SINEW_CHANNELS_DIR: join(dir, 'channels'),
        SINEW_DATA_DIR: join(dir, 'data'),
        SINEW_HTTP_PORT: '0',
        SINEW_PIPELINE_THREADS: '0',
      }),
      createLogger('silent'),
    );
    store = await openStore({ dataDir: join(dir, 'data') });
  });
  afterAll(async () => {
    await running?.stop();
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const post = (token: string | undefined, controlId: string) =>
    fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/hl7-v2',
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      },
      body: ORU.replace('KEY-1', controlId),
    });

  it('accepts the channel’s ingest key and admin, refuses others with 401 or 403, and stores nothing refused', async () => {
    const access = new AccessService(store);
    const ingest = (await access.createKey({ name: 'lab-sender', scopes: ['ingest:lab-http'] })).secret;
    const elsewhere = (await access.createKey({ name: 'other-sender', scopes: ['ingest:other'] })).secret;
    const reader = (await access.createKey({ name: 'reader', scopes: ['messages:read'] })).secret;
    const admin = (await access.createKey({ name: 'admin', scopes: ['admin'] })).secret;
    const revoked = await access.createKey({ name: 'old-sender', scopes: ['ingest:lab-http'] });
    await access.revokeKey(revoked.id);

    expect((await post(ingest, 'K-OK')).status).toBe(200);
    expect((await post(admin, 'K-ADMIN')).status).toBe(200);
    const forbidden = await post(elsewhere, 'K-ELSEWHERE');
    expect(forbidden.status).toBe(403);
    expect(JSON.stringify(await forbidden.json())).toContain('ingest:lab-http');
    expect((await post(reader, 'K-READER')).status).toBe(403);
    const none = await post(undefined, 'K-NONE');
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toBe('Bearer realm="sinew"');
    expect((await post(revoked.secret, 'K-REVOKED')).status).toBe(401);
    expect((await post('snw_nothing_here', 'K-BOGUS')).status).toBe(401);

    const stored = (await store.searchMessages({ channelId: 'lab-http' })).map((m) => m.controlId).sort();
    expect(stored).toEqual(['K-ADMIN', 'K-OK']);
  });
});
